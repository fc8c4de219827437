# sipsec: top-level build.
#   make            build everything into build/
#   make test       install what is missing, build, run every test
#   make demo       install what is missing, build, run the two-host demo
#   make bench      benchmarks against plaintext and stunnel, SIPp calls (bench/results)
#   make fuzz       run each fuzz target for FUZZ_SECONDS (default 300)
#   make vmtest     run the kernel suite inside a VM (Debian's 6.1 kernel)
#   make install    install binaries, library, example configuration
#   make SAN=1      build with ASan+UBSan;  V=1 shows full commands
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
ifeq ($(SAN),1)
B := build/san
else
B := build
endif

CC ?= gcc
CLANG ?= clang
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	  -Wformat=2 -Wno-format-nonliteral -fPIC -MMD -MP -Iinclude
LDFLAGS ?=
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

PKGS := libssl libcrypto liburing libbpf inih libmnl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS += $(PKG_CFLAGS) -I$(B)/bpf
BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 \
	      -I/usr/include/x86_64-linux-gnu -Iinclude

BPF_SRC := $(wildcard bpf/*.bpf.c)
COMMON_SRC := $(wildcard common/*.c)
DAEMON_SRC := $(wildcard daemon/*.c)
TOOLS_SRC := $(wildcard tools/*.c)
SHIM_SRC := $(wildcard shim/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
VMTEST_SRC := $(wildcard tests/vm/*.c)
VMBPF_SRC := $(wildcard tests/vm/*.bpf.c)
VMTEST_SRC := $(filter-out $(VMBPF_SRC),$(VMTEST_SRC))
ITEST_SRC := $(wildcard tests/integration/*.c)
BENCH_BPF_SRC := $(wildcard bench/*.bpf.c)
BENCH_SRC := $(filter-out $(BENCH_BPF_SRC),$(wildcard bench/*.c))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/%.o,$(1))
BPF_OBJ := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.skel.h,$(BPF_SRC)) \
	    $(patsubst bench/%.bpf.c,$(B)/bench/%.skel.h,$(BENCH_BPF_SRC))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
DAEMON_LIB_OBJ := $(filter-out $(B)/daemon/main.o,$(DAEMON_OBJ))
TOOLS_OBJ := $(call obj,$(TOOLS_SRC))
SHIM_OBJ := $(call obj,$(SHIM_SRC))

SIPSECD := $(B)/sipsecd
SIPSECCTL := $(B)/sipsecctl
SHIM := $(B)/libsipsec.so
TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
ITESTS := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(ITEST_SRC))
FUZZERS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 300
VMTESTS := $(patsubst tests/vm/%.c,$(B)/tests/vm/%,$(VMTEST_SRC)) \
	   $(patsubst tests/vm/%.bpf.c,$(B)/tests/vm/%.bpf.o,$(VMBPF_SRC))

all: $(BPF_SKEL) $(SIPSECD) $(SIPSECCTL) $(SHIM) $(TESTS) $(ITESTS) $(VMTESTS) $(BENCHES)

# BPF programs (bpf/X.bpf.c) -> object -> libbpf skeleton (X.skel.h), which
# user space includes; the ABI they share is include/sipsec_abi.h. The
# benchmarks' own programs (bench/X.bpf.c) are built the same way.
$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard include/sipsec_abi.h)
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/bench/%.bpf.o: bench/%.bpf.c
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/%.skel.h: $(B)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)bpftool gen skeleton $< name $(subst -,_,$(notdir $*)) > $@

$(B)/%.o: %.c | $(BPF_SKEL)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(if $(filter tests/%,$<),-Idaemon -Ishim -Itools) \
		$(if $(filter bench/%,$<),-I$(B)/bench -Itests) -c -o $@ $<

$(B)/libcommon.a: $(COMMON_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SIPSECD): $(DAEMON_OBJ) $(B)/libcommon.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(SIPSECCTL): $(TOOLS_OBJ) $(DAEMON_LIB_OBJ) $(B)/libcommon.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The shim exports only its hooks (shim/shim.map); everything else is local.
$(SHIM): $(SHIM_OBJ) $(B)/libcommon.a shim/shim.map
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,--version-script=shim/shim.map \
		-Wl,-z,defs -o $@ $(SHIM_OBJ) $(B)/libcommon.a -ldl -lpthread

$(B)/tests/test_%: $(B)/tests/test_%.o $(DAEMON_LIB_OBJ) $(B)/libcommon.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion

# libFuzzer targets: one file each, over all of common/ (a target uses what
# it needs); clang's runtime comes with libclang-rt-dev (scripts/deps.sh).
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC) $(wildcard include/*.h common/*.h)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -std=gnu11 -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude $(PKG_CFLAGS) -o $@ $< $(COMMON_SRC) $(PKG_LIBS)

fuzzers: $(FUZZERS)

fuzz: $(FUZZERS)
	$(Q)B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-tests.sh fuzz

$(B)/bench/%: $(B)/bench/%.o $(B)/libcommon.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(B)/tests/integration/%: $(B)/tests/integration/%.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# xfrm_tool drives daemon/xfrm.c inside the VM, so it links the daemon.
$(B)/tests/vm/xfrm_tool: $(B)/tests/vm/xfrm_tool.o $(DAEMON_LIB_OBJ) $(B)/libcommon.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/vm/%: $(B)/tests/vm/%.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/vm/%.bpf.o: tests/vm/%.bpf.c
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

deps:
	$(Q)scripts/deps.sh test

unit: $(TESTS)
	$(Q)B=$(B) scripts/run-tests.sh unit

# Unit tests run twice: plain, and under ASan+UBSan (build/san).
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory SAN=1 $(patsubst $(B)/%,build/san/%,$(TESTS))
	$(Q)$(MAKE) --no-print-directory fuzzers
	$(Q)scripts/run-tests.sh unit san fuzz integration vm

demo:
	$(Q)scripts/deps.sh demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench:
	$(Q)scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh
	$(Q)bench/vm-pingpong.sh

vmtest: all
	$(Q)scripts/vmtest.sh -- tests/vm/suite.sh

install: $(BPF_SKEL) $(SIPSECD) $(SIPSECCTL) $(SHIM)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(SYSCONFDIR)/sipsec \
		$(DESTDIR)$(PREFIX)/share/doc/sipsec/examples \
		$(DESTDIR)/lib/systemd/system
	install -m 0755 $(SIPSECD) $(DESTDIR)$(PREFIX)/sbin/sipsecd
	install -m 0755 $(SIPSECCTL) $(DESTDIR)$(PREFIX)/bin/sipsecctl
	install -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/lib/libsipsec.so
	test -e $(DESTDIR)$(SYSCONFDIR)/sipsec/sipsec.conf || \
		install -m 0640 examples/sipsec.conf $(DESTDIR)$(SYSCONFDIR)/sipsec/sipsec.conf
	install -m 0644 examples/sipsec.conf examples/legacy-pbx.service.d.conf \
		$(DESTDIR)$(PREFIX)/share/doc/sipsec/examples/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		examples/sipsecd.service.in > $(DESTDIR)/lib/systemd/system/sipsecd.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/sipsecd $(DESTDIR)$(PREFIX)/bin/sipsecctl \
		$(DESTDIR)$(PREFIX)/lib/libsipsec.so \
		$(DESTDIR)/lib/systemd/system/sipsecd.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/sipsec

clean:
	rm -rf $(B)

.PHONY: all deps unit test fuzzers fuzz demo bench vmtest install uninstall clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)
