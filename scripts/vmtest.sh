#!/usr/bin/env bash
# Runs one command as root inside a throwaway VM (qemu TCG, Debian's kernel,
# the host's root shared over 9p) and exits with the command's status.
# Full manual: scripts/vmtest.sh --help.
set -euo pipefail

readonly PROG=${0##*/}
readonly CACHE_DIR=/var/tmp/sipsec-vmtest-cache
readonly RUN_PREFIX=/var/tmp/sipsec-vmtest.
# What the guest must load before it can mount the host root; modprobe
# resolves their dependencies (virtio_ring, netfs, fscache, ...) at build time.
readonly BOOT_MODULES=(virtio_pci 9pnet_virtio 9p)
readonly GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

timeout_s=600
mem_mb=1024
smp=2
kernel=""
verbose=0
quiet=0
keep=0
cmd=()

RUN=""
QEMU_PID=""
SLEEP_PID=""
TAIL_PIDS=()

usage() {
	cat <<EOF
NAME
    $PROG - run a command as root inside a throwaway VM with Debian's kernel

SYNOPSIS
    $PROG [--timeout S] [--mem MB] [--smp N] [--kernel PATH]
               [--verbose] [--quiet] [--keep] -- CMD [ARGS...]

DESCRIPTION
    Boots a Linux kernel from /boot (by default the newest one that has
    modules in /lib/modules, on Debian 12 the 6.1 kernel, which has kernel
    TLS and ESP) under qemu with TCG emulation. KVM is never used: it hangs
    on these machines. The host's whole root file system is shared with the
    guest over 9p and becomes the guest's root, so the guest sees the same
    binaries, libraries, kernel modules and this checkout at the same
    absolute paths.

    In the guest, CMD runs as root, as a child of the guest's init, with:
      - the current directory set to the host's current directory;
      - stdin from /dev/null; stdout and stderr copied to this script's
        stdout and stderr while the command runs (each in order; how the
        two interleave is not preserved);
      - a private tmpfs on /run (so /run/netns and pid files stay in the
        guest) and TMPDIR=/run/tmp on it (fast, and AF_UNIX sockets work
        there, unlike on 9p);
      - bpffs on /sys/fs/bpf, tracefs, cgroup2, devpts, /dev/shm;
      - lo up (a connect to 127.0.0.1 hangs while it is down), no other
        network;
      - SIPSEC_VM=1, SIPSEC_VM_KERNEL=<version>, HOME=/root and
        PATH=$GUEST_PATH.
    Modules are loaded on demand from the shared /lib/modules: the guest's
    init switches its root to the host root, so the kernel's own module
    autoloading works (TCP_ULP "tls", ip xfrm, tc).

    When the command ends the guest powers off and $PROG exits with the
    command's status. A run costs about 6-10 s on top of the command (2
    host CPUs); under TCG the command itself runs several times slower than
    on the host, and each program start costs 0.1-0.2 s. A one-line summary
    with the boot and run times goes to stderr at the end.

    Everything outside /run, /proc, /sys and /dev is the HOST's file
    system: files the command writes there (the build folder, /tmp,
    /var/tmp) are written on the host, as the user running $PROG.

    qemu and the output followers die with $PROG, even when it is killed
    with SIGKILL; on timeout, SIGINT, SIGTERM or SIGHUP the run folder is
    removed as well.

OPTIONS
    --timeout S   Kill the VM and exit 124 when boot plus command take
                  longer than S seconds (default 600).
    --mem MB      Guest memory (default 1024).
    --smp N       Guest CPUs (default 2).
    --kernel PATH Kernel image to boot (default: newest /boot/vmlinuz-*
                  whose /lib/modules/<version> exists). Its version is read
                  from the image; its modules must be in /lib/modules.
    -v, --verbose Copy the guest console (kernel messages, init) to stderr.
    -q, --quiet   No summary line.
    --keep        Keep the run folder (console log, outputs) for debugging;
                  its path is printed.
    -h, --help    This text.
    --            End of options; CMD and its arguments follow.

EXIT STATUS
    The command's exit status (0-255), or
    124  the timeout expired (the VM was killed);
    125  the VM stopped without reporting a status (boot failure, kernel
         panic: the end of the console log is printed), or qemu failed;
    2    usage error or a missing host requirement.

FILES
    ${RUN_PREFIX}XXXXXX
        Per-run folder (guest script, stdout, stderr, status, console
        log), written by the guest through 9p; removed at exit (also on
        timeout and signals; folders left by a run that was killed with
        SIGKILL are removed by the next run).
    $CACHE_DIR/initramfs-<kernel>-<hash>.cpio
        Initramfs (busybox-static, the 9p/virtio modules and the guest's
        init), rebuilt when any of them or the kernel version changes;
        images unused for 7 days are removed.

REQUIREMENTS
    qemu-system-x86, busybox-static, cpio, kmod (scripts/deps.sh vm).
    Run as root for tests that write root-owned host files (the guest's
    root can write only what the user running $PROG can).

EXAMPLES
    $PROG -- tests/vm/suite.sh
    $PROG --timeout 120 -- sh -c 'modprobe tls && lsmod'
    $PROG -- env SIPSEC_TESTS=test_esp tests/vm/suite.sh
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 2
}

log() {
	echo "$PROG: $*" >&2
}

parse_args() {
	while [[ $# -gt 0 ]]; do
		case "$1" in
		--timeout)
			[[ $# -ge 2 ]] || die "--timeout needs a value"
			timeout_s=$2
			shift 2
			;;
		--timeout=*) timeout_s=${1#*=}; shift ;;
		--mem)
			[[ $# -ge 2 ]] || die "--mem needs a value"
			mem_mb=$2
			shift 2
			;;
		--mem=*) mem_mb=${1#*=}; shift ;;
		--smp)
			[[ $# -ge 2 ]] || die "--smp needs a value"
			smp=$2
			shift 2
			;;
		--smp=*) smp=${1#*=}; shift ;;
		--kernel)
			[[ $# -ge 2 ]] || die "--kernel needs a value"
			kernel=$2
			shift 2
			;;
		--kernel=*) kernel=${1#*=}; shift ;;
		-v | --verbose) verbose=1; shift ;;
		-q | --quiet) quiet=1; shift ;;
		--keep) keep=1; shift ;;
		-h | --help)
			usage
			exit 0
			;;
		--)
			shift
			break
			;;
		*) die "unknown option '$1' (the command goes after --; see --help)" ;;
		esac
	done
	[[ $# -gt 0 ]] || die "no command given (usage: $PROG [options] -- CMD [ARGS...])"
	cmd=("$@")
	[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout: '$timeout_s' is not a positive number of seconds"
	[[ $mem_mb =~ ^[1-9][0-9]*$ ]] || die "--mem: '$mem_mb' is not a positive number of MB"
	[[ $mem_mb -ge 256 ]] || die "--mem: $mem_mb MB is too little for the kernel and the shared root (>= 256)"
	[[ $smp =~ ^[1-9][0-9]*$ ]] || die "--smp: '$smp' is not a positive number"
}

# The x86 boot protocol stores a pointer to the version string at offset
# 0x20e of a bzImage; reading it lets --kernel take any file name.
kernel_version() {
	local image=$1 off ver
	off=$(od -An -tu2 -j 526 -N 2 "$image" | tr -d ' ')
	[[ $off =~ ^[0-9]+$ ]] || return 1
	ver=$(dd if="$image" bs=1 skip=$((off + 512)) count=256 status=none |
		tr '\0' '\n' | head -n 1 | cut -d ' ' -f 1)
	[[ -n $ver ]] || return 1
	echo "$ver"
}

pick_default_kernel() {
	local image ver best=""
	while read -r image; do
		ver=${image#/boot/vmlinuz-}
		[[ -f /lib/modules/$ver/modules.dep ]] && best=$image
	done < <(find /boot -maxdepth 1 -name 'vmlinuz-*' | sort -V)
	[[ -n $best ]] || die "no /boot/vmlinuz-* with modules in /lib/modules (install linux-image-amd64: scripts/deps.sh vm)"
	echo "$best"
}

check_host() {
	local tool
	for tool in qemu-system-x86_64 cpio modprobe od dd tail setpriv sha256sum; do
		command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh vm)"
	done
	[[ -x /bin/busybox ]] || die "/bin/busybox is missing (scripts/deps.sh vm)"
	# A dynamic busybox cannot run in the initramfs, which has no libc.
	if ldd /bin/busybox >/dev/null 2>&1; then
		die "/bin/busybox is dynamically linked; install busybox-static"
	fi
	[[ -n $kernel ]] || kernel=$(pick_default_kernel)
	[[ -r $kernel ]] || die "cannot read kernel image '$kernel'"
	KVER=$(kernel_version "$kernel") || die "'$kernel' is not a bzImage (no version string)"
	[[ -f /lib/modules/$KVER/modules.dep ]] ||
		die "no modules for $KVER in /lib/modules/$KVER (the guest loads them from there)"
	CWD=$(pwd -P)
	case "$CWD/" in
	/run/* | /proc/* | /sys/* | /dev/*)
		die "the current directory $CWD is hidden in the guest (it mounts its own /run, /proc, /sys, /dev)"
		;;
	esac
}

# Removes run folders whose owner died without cleaning up (SIGKILL).
sweep_stale_runs() {
	local dir pid
	for dir in "$RUN_PREFIX"*; do
		[[ -f $dir/owner.pid ]] || continue
		pid=$(<"$dir/owner.pid")
		[[ $pid =~ ^[0-9]+$ ]] || continue
		kill -0 "$pid" 2>/dev/null && continue
		rm -rf -- "$dir"
	done
}

stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local status=$? pid
	trap - EXIT INT TERM HUP
	stop_pid "$QEMU_PID"
	stop_pid "$SLEEP_PID"
	for pid in "${TAIL_PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [[ -n $RUN && -d $RUN ]]; then
		if [[ $keep -eq 1 ]]; then
			log "run folder kept: $RUN"
			rm -f "$RUN/owner.pid"
		else
			rm -rf -- "$RUN"
		fi
	fi
	exit "$status"
}

# Stage 1 of the guest, PID 1 in the initramfs: load the 9p chain, mount the
# host root and everything the command needs on top of it, then hand over to
# the per-run script on it. All set-up happens here because busybox applets
# start fast, while each dynamically linked program run from 9p under TCG
# costs 0.1-0.2 s.
write_init() {
	local init=$1
	cat >"$init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys

halt_guest() {
	echo "vmtest-init: $*"
	poweroff -f
	# Reached only if poweroff failed: PID 1 exiting panics the kernel,
	# and panic=-1 with qemu's -no-reboot ends the VM as well.
	exit 1
}

# optional_mount TYPE DIR [OPTIONS]
optional_mount() {
	mkdir -p "$2" 2>/dev/null
	mount -t "$1" -o "${3:-defaults}" "$1" "$2" 2>/dev/null ||
		echo "vmtest-init: no $1 on $2"
}

run=""
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	sipsec_vmtest_run=*) run=${arg#*=} ;;
	esac
done
[ -n "$run" ] || halt_guest "no sipsec_vmtest_run= on the kernel command line"

while read -r mod; do
	insmod "/modules/$mod" || halt_guest "insmod $mod failed"
done </modules/order

mount -t 9p -o trans=virtio,version=9p2000.L,access=any,msize=262144 \
	hostroot /newroot || halt_guest "cannot mount the host root over 9p"
[ -f "/newroot$run/guest.sh" ] || halt_guest "$run/guest.sh is not visible through 9p"
for fs in proc sys dev; do
	mount --move "/$fs" "/newroot/$fs" || halt_guest "cannot move /$fs"
done

# Not /tmp or /var/tmp: the checkout under test may live there.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || halt_guest "cannot mount /run"
mkdir -p -m 1777 /newroot/run/tmp
mount -t bpf bpf /newroot/sys/fs/bpf || halt_guest "cannot mount bpffs"
optional_mount tracefs /newroot/sys/kernel/tracing
optional_mount cgroup2 /newroot/sys/fs/cgroup
optional_mount devpts /newroot/dev/pts gid=5,mode=0620,ptmxmode=0666
optional_mount tmpfs /newroot/dev/shm mode=1777
# lo starts down: a connect to 127.0.0.1 would hang instead of failing.
ip link set lo up || halt_guest "cannot bring lo up"

# switch_root makes the host root the root of PID 1 and of the kernel's
# helper threads, so request_module() finds /sbin/modprobe there.
exec switch_root /newroot /bin/bash "$run/guest.sh"
EOF
	chmod 0755 "$init"
}

# Copies the modules in load order, uncompressed (busybox insmod reads only
# plain .ko files; newer Debian kernels ship .ko.xz).
add_boot_modules() {
	local dest=$1 mod line path name
	local -A seen=()
	: >"$dest/order"
	for mod in "${BOOT_MODULES[@]}"; do
		while read -r line; do
			[[ $line == insmod\ * ]] || continue
			path=$(awk '{print $2}' <<<"$line")
			name=${path##*/}
			name=${name%%.ko*}.ko
			[[ -z ${seen[$name]:-} ]] || continue
			seen[$name]=1
			case "$path" in
			*.ko) cp "$path" "$dest/$name" ;;
			*.ko.xz) xz -dc "$path" >"$dest/$name" ;;
			*.ko.zst) zstd -qdc "$path" >"$dest/$name" ;;
			*.ko.gz) gzip -dc "$path" >"$dest/$name" ;;
			*) die "unexpected module file $path" ;;
			esac
			echo "$name" >>"$dest/order"
		done < <(modprobe -S "$KVER" --show-depends "$mod")
	done
	[[ -s $dest/order ]] || die "modprobe found none of ${BOOT_MODULES[*]} for $KVER"
}

build_initramfs() {
	local out=$1 stage
	stage="$RUN/initramfs"
	mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
	cp /bin/busybox "$stage/bin/busybox"
	cp "$RUN/init" "$stage/init"
	add_boot_modules "$stage/modules"
	# Uncompressed: TCG spends longer inflating a gzip image than reading
	# the few extra MB.
	(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) >"$out.tmp.$$"
	mv -f "$out.tmp.$$" "$out"
	rm -rf -- "$stage"
}

# Keyed by what goes into the image: the init script, the module list, the
# kernel version, busybox.
ensure_initramfs() {
	local key dir=$CACHE_DIR file
	write_init "$RUN/init"
	key=$({
		cat "$RUN/init"
		echo "${BOOT_MODULES[*]} $KVER"
		stat -c '%s %Y' /bin/busybox "/lib/modules/$KVER/modules.dep"
	} | sha256sum | cut -c 1-16)
	if ! mkdir -p "$dir" 2>/dev/null || [[ ! -w $dir ]]; then
		dir=$RUN
	fi
	file="$dir/initramfs-$KVER-$key.cpio"
	if [[ ! -s $file ]]; then
		build_initramfs "$file"
		find "$dir" -maxdepth 1 -name 'initramfs-*.cpio' -mtime +7 -delete 2>/dev/null || true
	fi
	touch "$file"
	INITRD=$file
}

# Stage 2, PID 1 after switch_root, on the host root. Generated per run so
# that the command's arguments survive any quoting (printf %q).
write_guest_script() {
	local script="$RUN/guest.sh" q_cmd
	q_cmd=$(printf ' %q' "${cmd[@]}")
	{
		cat <<EOF
#!/bin/bash
# Generated by $PROG: the guest's PID 1 once the host root is mounted.
run=$(printf %q "$RUN")
cwd=$(printf %q "$CWD")
kver=$(printf %q "$KVER")
guest_path=$(printf %q "$GUEST_PATH")
cmd=($q_cmd)
EOF
		cat <<'EOF'

# busybox poweroff syncs first; 9p without a cache has nothing to flush.
halt_guest() {
	/bin/busybox poweroff -f
	echo o >/proc/sysrq-trigger
	exit 1
}

# A builtin: every exec costs 0.1-0.2 s under TCG.
uptime_s() {
	local up _
	read -r up _ </proc/uptime
	echo "$up"
}

uptime_s >"$run/booted"
export PATH="$guest_path"
export HOME=/root USER=root LOGNAME=root TERM=dumb TMPDIR=/run/tmp
export SIPSEC_VM=1 SIPSEC_VM_KERNEL="$kver"

status=126
if cd "$cwd"; then
	uptime_s >"$run/started"
	# A subshell, so that a builtin such as "exit" cannot end PID 1.
	("${cmd[@]}") </dev/null >"$run/stdout" 2>"$run/stderr"
	status=$?
else
	echo "vmtest-guest: cannot cd to $cwd" >>"$run/stderr"
fi
uptime_s >"$run/finished"
# Read by the host only after qemu has exited, so no need for a rename.
echo "$status" >"$run/status"
halt_guest
EOF
	} >"$script"
	chmod 0755 "$script"
}

start_qemu() {
	local append="console=ttyS0 panic=-1 sipsec_vmtest_run=$RUN"
	if [[ $verbose -eq 1 ]]; then
		append+=" loglevel=6"
	else
		append+=" loglevel=1"
	fi
	: >"$RUN/console.log"
	# setpriv --pdeathsig: qemu dies with this script even on SIGKILL.
	setpriv --pdeathsig KILL -- \
		qemu-system-x86_64 -accel tcg -cpu max -m "$mem_mb" -smp "$smp" \
		-nodefaults -no-user-config -display none -monitor none \
		-no-reboot -serial "file:$RUN/console.log" \
		-kernel "$kernel" -initrd "$INITRD" -append "$append" \
		-fsdev local,id=root,path=/,security_model=none,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
		</dev/null >"$RUN/qemu.log" 2>&1 &
	QEMU_PID=$!
}

follow() {
	local file=$1
	setpriv --pdeathsig KILL -- \
		tail -n +1 -s 0.2 --pid="$QEMU_PID" -f "$file" 2>/dev/null &
	TAIL_PIDS+=($!)
}

start_output() {
	: >"$RUN/stdout"
	: >"$RUN/stderr"
	follow "$RUN/stdout"
	follow "$RUN/stderr" >&2
	if [[ $verbose -eq 1 ]]; then
		follow "$RUN/console.log" >&2
	fi
}

# Lets the followers print the last bytes, bounded in time.
drain_output() {
	local pid deadline=$((SECONDS + 5))
	for pid in "${TAIL_PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && [[ $SECONDS -lt $deadline ]]; do
			sleep 0.1
		done
		stop_pid "$pid"
	done
	TAIL_PIDS=()
}

# The first sign of trouble on the console and what follows, else its end.
show_console_failure() {
	local first
	first=$(grep -n -m 1 -E 'Kernel panic|BUG:|Oops|vmtest-init:' "$RUN/console.log" |
		cut -d : -f 1) || true
	if [[ -n $first ]]; then
		tail -n "+$first" "$RUN/console.log" | head -n 30 >&2
	else
		tail -n 30 "$RUN/console.log" >&2
	fi
}

# Prints "X.Y" seconds between two guest uptime files, or "?".
elapsed() {
	local from=$1 to=$2
	if [[ -s $from && -s $to ]]; then
		awk -v a="$(<"$from")" -v b="$(<"$to")" 'BEGIN { printf "%.1f", b - a }'
	else
		echo "?"
	fi
}

main() {
	local t0 finished status rc=0 total booted
	parse_args "$@"
	check_host
	t0=$(date +%s.%N)

	RUN=$(mktemp -d "${RUN_PREFIX}XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	echo $$ >"$RUN/owner.pid"
	sweep_stale_runs
	chmod 0755 "$RUN"

	ensure_initramfs
	write_guest_script
	start_qemu
	start_output

	sleep "$timeout_s" &
	SLEEP_PID=$!
	wait -n -p finished "$QEMU_PID" "$SLEEP_PID" || rc=$?
	total=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	booted="?"
	[[ -s $RUN/booted ]] && booted=$(<"$RUN/booted")

	if [[ ${finished:-} == "$SLEEP_PID" ]]; then
		SLEEP_PID=""
		stop_pid "$QEMU_PID"
		QEMU_PID=""
		drain_output
		if [[ -s $RUN/started ]]; then
			log "TIMEOUT: '${cmd[*]}' still running after ${timeout_s} s (boot ${booted} s); VM killed"
		else
			log "TIMEOUT: the VM did not start the command within ${timeout_s} s; VM killed; console:"
			show_console_failure
		fi
		exit 124
	fi
	QEMU_PID=""
	drain_output
	if [[ ! -s $RUN/status ]]; then
		log "the VM stopped (qemu status $rc) without reporting the command's status; console:"
		show_console_failure
		tail -n 10 "$RUN/qemu.log" >&2 || true
		exit 125
	fi
	status=$(<"$RUN/status")
	if [[ $quiet -eq 0 ]]; then
		log "kernel $KVER: boot ${booted} s, command $(elapsed "$RUN/started" "$RUN/finished") s, total ${total} s, exit status ${status}"
	fi
	exit "$status"
}

main "$@"
