#!/usr/bin/env bash
# The enforcement program (build/bpf/egress.bpf.o) on the running kernel:
# every entry point passes the verifier (bpftool prog loadall), and, when
# built, its unit tests run on this kernel too (test_bpf: verdicts and
# counters with BPF_PROG_TEST_RUN). Meant for the VM (Debian's 6.1), where
# it proves the program loads and decides alike on the oldest kernel we
# support; test_bpf_loader.sh does the same for the loader. Pins live on a
# private bpffs mount.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
obj=$repo/build/bpf/egress.bpf.o
progs=(sipsec_tc_egress sipsec_tc_egress_l3 sipsec_tc_ingress
	sipsec_tc_ingress_l3)
pin_dir=""

cleanup() {
	local status=$?
	trap - EXIT
	if [[ -n $pin_dir ]]; then
		umount "$pin_dir" 2>/dev/null || true
		rmdir "$pin_dir" 2>/dev/null || true
	fi
	exit "$status"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (bpf())"
	exit 77
fi
command -v bpftool >/dev/null || fail "bpftool is missing (scripts/deps.sh)"
[[ -f $obj ]] || fail "$obj is not built (make)"
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

echo "kernel $(uname -r)"
# No dot in the path: bpffs refuses dots in the names libbpf pins.
pin_dir=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-verifier-XXXXXX")
mount -t bpf bpf "$pin_dir" || fail "cannot mount bpffs on $pin_dir"
start=$(date +%s.%N)
timeout 120 bpftool prog loadall "$obj" "$pin_dir/p" type classifier \
	pinmaps "$pin_dir/m" >"$pin_dir.log" 2>&1 ||
	{ tail -40 "$pin_dir.log"; rm -f "$pin_dir.log"; fail "the verifier refused $obj"; }
rm -f "$pin_dir.log"
echo "loaded in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s:"
for p in "${progs[@]}"; do
	[[ -e $pin_dir/p/$p ]] || fail "$p was not loaded"
	bpftool prog show pinned "$pin_dir/p/$p" | sed -n '1s/^/  /p;3s/^/  /p'
done
bpftool map dump pinned "$pin_dir/m/sipsec_policy" | grep -q '"abi_version"' ||
	fail "no BTF-formatted policy map"

rc=0
for t in test_bpf; do
	bin=$repo/build/tests/$t
	if [[ ! -x $bin ]]; then
		echo "$t: not built, not run"
		continue
	fi
	# One job: the emulated CPUs are slow and each test loads the object.
	# Criterion's runner talks to its workers over a Unix socket in
	# /tmp, which in the VM is the host's, over 9p, where Unix sockets do
	# not work: give the run a private tmpfs /tmp (the checkout is
	# elsewhere, so it stays visible).
	# The cost test is left out: emulated timings mean nothing.
	if timeout 150 unshare --mount sh -c 'mount -t tmpfs tmpfs /tmp &&
	    exec "$0" --jobs 1 --filter "!(*/cost_per_packet)"' "$bin" \
	    >"$pin_dir.$t" 2>&1; then
		echo "$t: $(grep -o 'Tested: .*' "$pin_dir.$t" | tr -d '\033')"
	else
		echo "$t FAILED on $(uname -r):"
		tail -30 "$pin_dir.$t"
		rc=1
	fi
	rm -f "$pin_dir.$t"
done
exit "$rc"
