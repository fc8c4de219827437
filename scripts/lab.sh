#!/usr/bin/env bash
# A lab of N hosts, each a network namespace, on one software switch; the
# hosts run sipsecd, legacy SIP programs and captures.  `lab.sh --help` is
# the manual.  Everything the lab creates is named after the lab, so that
# `down` can find it again after a crash: namespaces LAB-h1..LAB-hN and
# LAB-sw, state under /run/sipsec-lab/LAB, pins under
# /sys/fs/bpf/sipsec-lab-LAB-hI.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG=lab.sh
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
readonly RUN_ROOT=/run/sipsec-lab
readonly NETNS_DIR=/run/netns
readonly BPF_ROOT=/sys/fs/bpf
readonly PIN_PREFIX=sipsec-lab-
readonly NET4=198.18.0 NET6=2001:db8:5153:
readonly DOMAIN=sipsec.test
readonly BRIDGE=br0 HOST_IF=eth0
readonly MAX_HOSTS=254

SIPSECD=${SIPSECD:-$REPO/build/sipsecd}
SIPSECCTL=${SIPSECCTL:-$REPO/build/sipsecctl}
READY_TIMEOUT=${SIPSEC_LAB_READY_TIMEOUT:-5}
LAB=${SIPSEC_LAB:-sipsec}

usage() {
	cat <<EOF
NAME
    lab.sh - a lab of SIP hosts as network namespaces on one bridge

SYNOPSIS
    lab.sh [--lab NAME] up [--hosts N]
    lab.sh [--lab NAME] down
    lab.sh down --all
    lab.sh [--lab NAME] exec HOST -- COMMAND [ARG]...
    lab.sh [--lab NAME] daemon HOST [--conf-append FILE] [-- SIPSECD-ARG...]
    lab.sh [--lab NAME] stop HOST [--signal SIG]
    lab.sh [--lab NAME] capture start [--file FILE] [--filter EXPR]
    lab.sh [--lab NAME] capture stop
    lab.sh [--lab NAME] addr HOST [4|6]
    lab.sh [--lab NAME] dir
    lab.sh [--lab NAME] status
    lab.sh --help

DESCRIPTION
    Builds a small network on this machine for sipsec's demos and
    integration tests, and tears it down again without leftovers.  All
    traffic stays inside the lab's namespaces; the machine's own interfaces
    are never touched.  Must run as root.

    --lab NAME may be given before or after the command (before any --);
    it defaults to \$SIPSEC_LAB, else "sipsec".  NAME is 1 to 32 of
    [A-Za-z0-9_-], starting with a letter or digit.  Several labs can
    exist at once.

TOPOLOGY
    Namespace NAME-sw holds the bridge $BRIDGE (no STP, no multicast
    snooping, no addresses, IPv6 off) with one port per host, named hI.
    Namespace NAME-hI holds the other end of that veth pair, named
    $HOST_IF, plus lo; both are up.

        NAME-h1 ($HOST_IF) ----- h1 +
        NAME-h2 ($HOST_IF) ----- h2 +-- $BRIDGE   (NAME-sw)
        ...                         |
        NAME-hN ($HOST_IF) ----- hN +

    Host I has $NET4.I/24 and ${NET6}:I/64 (the I written in decimal
    digits, so host 12 is ${NET6}:12), MAC 02:53:00:00:00:II (I in hex),
    IPv6 duplicate address detection and router solicitations off, so
    every address works as soon as \`up\` returns.  Hosts are named
    hI.$DOMAIN in certificates.

    A capture on $BRIDGE sees every frame between hosts exactly once: the
    capture puts the bridge in promiscuous mode, and the bridge then hands
    each frame it forwards to its own device once (frames flooded to
    several ports included).  Capturing on "any" in NAME-sw would see each
    frame once per port and once on the bridge.

COMMANDS
    up [--hosts N]
        Create the lab with N hosts (default 2, at most $MAX_HOSTS) and
        check that h1 reaches every other host over IPv4 and IPv6.
        Refuses a lab whose state folder or namespaces already exist.  A
        failure half-way tears down what was created.

    down
        Stop the lab's capture (cleanly, so the file is complete), stop
        its daemons, kill every other process in its namespaces (found
        with \`ip netns pids\`: TERM, then KILL after 3 s), delete the
        namespaces, the bpffs pin folders and the state folder.
        Idempotent: works on a lab that is half created, half destroyed
        or does not exist.  Tests call it from an EXIT trap.

    down --all
        The same for every lab found: state folders, pin folders, and
        switch namespaces whose bridge is tagged as belonging to a lab.

    exec HOST -- COMMAND [ARG]...
        Run COMMAND in HOST's network namespace and return its exit
        status.  HOST is hI, I, NAME-hI, or sw for the switch.  Uses
        \`nsenter --net\`, which keeps the machine's mounts (unlike
        \`ip netns exec\`, which remounts /sys and hides the machine's
        bpffs), so pins made inside the lab are visible outside it.  The
        command inherits the working directory and environment.  Note
        that /sys/class/net still shows the machine's interfaces: list
        interfaces over netlink (ip link, if_nameindex), not sysfs.

    daemon HOST [--conf-append FILE] [-- SIPSECD-ARG...]
        Start sipsecd in HOST, in the foreground mode, detached from the
        caller, with the configuration $RUN_ROOT/NAME/hI.conf (rewritten
        every time) followed by the contents of FILE if given, and any
        extra arguments after --.  The configuration names the pin folder
        $BPF_ROOT/${PIN_PREFIX}NAME-hI (created; bpffs is mounted on
        $BPF_ROOT first if it is not) and the host's certificate.  The
        first daemon of a lab makes the certificates of all its hosts
        with \`sipsecctl certs\`.  Then waits up to
        \$SIPSEC_LAB_READY_TIMEOUT seconds (default 5) for
        \`sipsecctl status\`, run in HOST, to succeed; on failure prints
        the tail of the daemon's log, stops it and exits 1.  Refuses if
        the host's daemon is already running.

    stop HOST [--signal SIG]
        Stop HOST's daemon with SIG (default TERM), wait up to 5 s, then
        KILL.  Succeeds if it was not running.

    capture start [--file FILE] [--filter EXPR]
        Start tcpdump on $BRIDGE in NAME-sw (whole frames, written packet
        by packet, immediate mode, as root) into FILE (default
        $RUN_ROOT/NAME/capture.pcap), with the optional pcap filter EXPR.
        Returns once tcpdump is listening, and prints FILE.  One capture
        per lab at a time.

    capture stop
        Wait until the capture file has stopped growing (at most 2 s),
        stop tcpdump with SIGINT, wait for it to exit so that the file is
        complete, print tcpdump's counters to stderr (warning if the
        kernel dropped packets) and FILE to stdout.  Exits 1 if no
        capture was running.

    addr HOST [4|6]
        Print HOST's IPv4 (default) or IPv6 address.

    dir
        Print the lab's state folder (tests may keep files there; \`down\`
        removes it).

    status
        List the labs, or with --lab the one lab: hosts, addresses,
        daemons and capture.

ENVIRONMENT
    SIPSEC_LAB                 default lab name (sipsec)
    SIPSECD                    daemon binary (default <repo>/build/sipsecd)
    SIPSECCTL                  control tool (default <repo>/build/sipsecctl)
    SIPSEC_LAB_READY_TIMEOUT   seconds \`daemon\` waits for readiness (5)

FILES
    $NETNS_DIR/NAME-hI, $NETNS_DIR/NAME-sw
        the namespaces
    $RUN_ROOT/NAME/lab.conf
        lab settings (hosts=N)
    $RUN_ROOT/NAME/hI.conf, hI.log, hI.pid
        daemon configuration, log (kept across restarts), pid and start
        time
    $RUN_ROOT/NAME/certs/
        CA and host certificates (ca.pem, hI.$DOMAIN.pem, .key)
    $RUN_ROOT/NAME/capture.pid, capture.log, capture.pcap
        the running capture, its tcpdump messages, the default file
    $BPF_ROOT/${PIN_PREFIX}NAME-hI
        per-host pin folder

EXIT STATUS
    0 on success, 1 on failure, 2 on a usage error; exec returns the
    command's status.

EXAMPLES
    lab=t\$\$; trap 'scripts/lab.sh down --lab \$lab' EXIT
    scripts/lab.sh up --lab \$lab --hosts 3
    scripts/lab.sh capture start --lab \$lab --file /tmp/run.pcap
    scripts/lab.sh exec h2 --lab \$lab -- sipp -sn uas -i \\
        "\$(scripts/lab.sh addr h2 --lab \$lab)" -m 1 -bg
    scripts/lab.sh daemon h1 --lab \$lab -- --debug
    scripts/lab.sh capture stop --lab \$lab
    scripts/capcount.py /tmp/run.pcap
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

warn() {
	echo "$PROG: $*" >&2
}

usage_error() {
	echo "$PROG: $*" >&2
	echo "Try '$PROG --help'." >&2
	exit 2
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, bpffs)"
}

need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 ||
			die "'$t' not found (scripts/deps.sh demo installs it)"
	done
}

check_lab_name() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]] ||
		usage_error "bad lab name '$1' (1-32 of [A-Za-z0-9_-], starting with a letter or digit)"
}

# ip and nsenter talk to the kernel only, but nothing here may hang a test.
ipc() { timeout 10 ip "$@"; }
in_ns() {
	local ns=$1
	shift
	nsenter --net="$NETNS_DIR/$ns" -- "$@"
}

state_dir() { echo "$RUN_ROOT/$1"; }
sw_ns() { echo "$1-sw"; }
host_ns() { echo "$1-h$2"; }
pin_dir() { echo "$BPF_ROOT/$PIN_PREFIX$1-h$2"; }
addr4() { echo "$NET4.$1"; }
addr6() { echo "$NET6:$1"; }
host_name() { echo "h$1.$DOMAIN"; }

# Namespaces that belong to lab $1, whatever state it is in.
lab_namespaces() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		if [[ $ns =~ ^$1-(h[0-9]+|sw)$ ]]; then echo "$ns"; fi
	done
}

lab_hosts() {
	local conf
	conf="$(state_dir "$1")/lab.conf"
	[[ -r $conf ]] || die "no lab '$1' (run '$PROG up --lab $1')"
	sed -n 's/^hosts=\([0-9][0-9]*\)$/\1/p' "$conf"
}

# "h3", "3" or "LAB-h3" -> 3, checked against the lab's size.
host_index() {
	local lab=$1 spec=$2 n i
	n=$(lab_hosts "$lab")
	case "$spec" in
	"$lab"-h*) i=${spec#"$lab"-h} ;;
	h*) i=${spec#h} ;;
	*) i=$spec ;;
	esac
	if ! [[ $i =~ ^[1-9][0-9]*$ ]] || ((i > n)); then
		die "no host '$spec' in lab '$lab' (h1..h$n)"
	fi
	echo "$i"
}

# pid liveness that survives pid reuse and a pid 1 that does not reap:
# a zombie counts as gone, and a recorded start time must match.
proc_field() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	# shellcheck disable=SC2086 # split the fields on purpose
	set -- $rest
	case "$2" in
	state) echo "$1" ;;
	start) echo "${20}" ;;
	esac
}

pid_alive() {
	local pid=$1 start=${2:-} st
	[[ -n $pid ]] || return 1
	st=$(proc_field "$pid" state) || return 1
	[[ $st != Z && $st != X ]] || return 1
	[[ -z $start || $(proc_field "$pid" start) == "$start" ]]
}

write_pidfile() {
	echo "$2 $(proc_field "$2" start || echo 0)" >"$1"
}

# Reads "pid start" from a pid file into PF_PID / PF_START.
read_pidfile() {
	PF_PID="" PF_START=""
	[[ -r $1 ]] || return 1
	read -r PF_PID PF_START <"$1" || true
	[[ -n $PF_PID ]]
}

# Waits up to $3 tenths of a second for pid $1 (start $2) to go.
wait_gone() {
	local pid=$1 start=$2 tenths=$3
	while pid_alive "$pid" "$start"; do
		((tenths-- > 0)) || return 1
		sleep 0.1
	done
	return 0
}

# Signals a recorded process, waits up to $3 tenths, then KILLs it.
stop_pid() {
	local pidfile=$1 sig=$2 tenths=$3
	read_pidfile "$pidfile" || return 0
	if pid_alive "$PF_PID" "$PF_START"; then
		kill -s "$sig" "$PF_PID" 2>/dev/null || true
		if ! wait_gone "$PF_PID" "$PF_START" "$tenths"; then
			warn "pid $PF_PID did not exit on SIG$sig; killing it"
			kill -s KILL "$PF_PID" 2>/dev/null || true
			wait_gone "$PF_PID" "$PF_START" 20 || true
		fi
	fi
	rm -f "$pidfile"
}

ensure_bpffs() {
	[[ $(stat -f -c %T "$BPF_ROOT" 2>/dev/null) == bpf_fs ]] && return 0
	mount -t bpf bpf "$BPF_ROOT" || die "cannot mount bpffs on $BPF_ROOT"
}

# --- up -------------------------------------------------------------------

UP_LAB="" UP_DONE=0
up_cleanup() {
	if [[ -n $UP_LAB && $UP_DONE -eq 0 ]]; then
		warn "up failed; removing the partial lab '$UP_LAB'"
		teardown "$UP_LAB" >/dev/null 2>&1 || true
	fi
}

host_sysctl() {
	in_ns "$1" sysctl -qw "${@:2}" >/dev/null
}

# A UDP datagram from h1 makes it resolve the peer's MAC; a resolved
# neighbour entry proves the path both ways, without ping.
check_reach() {
	local lab=$1 n=$2 j a tenths
	for ((j = 2; j <= n; j++)); do
		for a in "$(addr4 "$j")" "$(addr6 "$j")"; do
			tenths=50
			until ipc -n "$(host_ns "$lab" 1)" neigh show "$a" 2>/dev/null |
				grep -q lladdr; do
				if ((tenths % 10 == 0)); then
					timeout 2 nsenter --net="$NETNS_DIR/$(host_ns "$lab" 1)" -- \
						bash -c "echo probe >/dev/udp/$a/9" 2>/dev/null || true
				fi
				((tenths-- > 0)) || die "h1 cannot reach h$j at $a"
				sleep 0.1
			done
		done
	done
}

cmd_up() {
	local n=2 state i ns sw ns_list
	while (($#)); do
		case "$1" in
		--hosts) [[ $# -ge 2 ]] || usage_error "--hosts needs a number"; n=$2; shift 2 ;;
		--hosts=*) n=${1#*=}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage_error "up: unexpected '$1'" ;;
		esac
	done
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > MAX_HOSTS)); then
		usage_error "--hosts must be 1..$MAX_HOSTS, not '$n'"
	fi
	need_root
	need_tools ip nsenter sysctl timeout
	state=$(state_dir "$LAB")
	ns_list=$(lab_namespaces "$LAB")
	[[ -z $ns_list ]] ||
		die "lab '$LAB' exists (namespaces: $(echo "$ns_list" | tr '\n' ' ')); run '$PROG down --lab $LAB' first"
	mkdir -p "$RUN_ROOT"
	mkdir "$state" 2>/dev/null ||
		die "lab '$LAB' exists ($state); run '$PROG down --lab $LAB' first"
	UP_LAB=$LAB
	trap up_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	printf 'hosts=%s\ncreated=%s\n' "$n" "$(date -u +%FT%TZ)" >"$state/lab.conf"

	sw=$(sw_ns "$LAB")
	ipc netns add "$sw"
	# The switch only forwards: no addresses, so it sends nothing itself.
	host_sysctl "$sw" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ipc -n "$sw" link add "$BRIDGE" type bridge stp_state 0 mcast_snooping 0
	ipc -n "$sw" link set "$BRIDGE" alias "sipsec-lab:$LAB"

	for ((i = 1; i <= n; i++)); do
		ns=$(host_ns "$LAB" "$i")
		ipc netns add "$ns"
		# Set on "default" before the veth end arrives, so eth0 inherits
		# them: no DAD delay, no router solicitations in captures.
		host_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.default.router_solicitations=0 \
			net.ipv6.conf.default.accept_ra=0
		ipc -n "$sw" link add "h$i" type veth peer name "$HOST_IF" netns "$ns"
		ipc -n "$sw" link set "h$i" master "$BRIDGE" up
		ipc -n "$ns" link set "$HOST_IF" address "$(printf '02:53:00:00:00:%02x' "$i")"
		ipc -n "$ns" addr add "$(addr4 "$i")/24" dev "$HOST_IF"
		ipc -n "$ns" addr add "$(addr6 "$i")/64" dev "$HOST_IF" nodad
		ipc -n "$ns" link set lo up
		ipc -n "$ns" link set "$HOST_IF" up
	done
	ipc -n "$sw" link set "$BRIDGE" up
	check_reach "$LAB" "$n"
	UP_DONE=1

	echo "lab '$LAB': $n host(s) on bridge $BRIDGE in $sw; state in $state"
	for ((i = 1; i <= n; i++)); do
		printf '  h%-3s %-12s %-16s %s\n' "$i" "$(host_ns "$LAB" "$i")" \
			"$(addr4 "$i")" "$(addr6 "$i")"
	done
}

# --- down -----------------------------------------------------------------

ns_pids() {
	local ns
	for ns in "$@"; do
		ip netns pids "$ns" 2>/dev/null || true
	done
}

# TERM everything in the namespaces, KILL what is left after 3 s, then
# KILL anything forked in the meantime.
kill_ns_processes() {
	local p pids=() starts=() alive=() tenths=30 i
	for p in $(ns_pids "$@"); do
		pids+=("$p")
		starts+=("$(proc_field "$p" start || echo 0)")
		kill -s TERM "$p" 2>/dev/null || true
	done
	while ((${#pids[@]})); do
		alive=()
		for i in "${!pids[@]}"; do
			if pid_alive "${pids[i]}" "${starts[i]}"; then alive+=("${pids[i]}"); fi
		done
		((${#alive[@]})) || break
		if ((tenths-- <= 0)); then
			warn "killing processes that ignored SIGTERM: ${alive[*]}"
			kill -s KILL "${alive[@]}" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	for p in $(ns_pids "$@"); do
		pid_alive "$p" || continue
		warn "killing late process $p"
		kill -s KILL "$p" 2>/dev/null || true
	done
	sleep 0.1
}

teardown() {
	local lab=$1 state ns_list f name
	state=$(state_dir "$lab")
	if [[ -d $state ]]; then
		[[ -e $state/capture.pid ]] && stop_pid "$state/capture.pid" INT 50
		for f in "$state"/h*.pid; do
			[[ -e $f ]] && stop_pid "$f" TERM 30
		done
	fi
	mapfile -t ns_list < <(lab_namespaces "$lab")
	if ((${#ns_list[@]})); then
		kill_ns_processes "${ns_list[@]}"
		for name in "${ns_list[@]}"; do
			ipc netns del "$name" 2>/dev/null || warn "cannot delete namespace $name"
		done
	fi
	if [[ -d $BPF_ROOT ]]; then
		for f in "$BPF_ROOT/$PIN_PREFIX$lab"-h*; do
			[[ -e $f ]] || continue
			name=${f#"$BPF_ROOT/$PIN_PREFIX$lab-h"}
			[[ $name =~ ^[0-9]+$ ]] && rm -rf -- "$f"
		done
	fi
	rm -rf -- "$state"
	echo "lab '$lab': down"
}

all_labs() {
	local d ns name
	{
		for d in "$RUN_ROOT"/*/; do
			if [[ -d $d ]]; then basename "$d"; fi
		done
		for d in "$BPF_ROOT/$PIN_PREFIX"*; do
			name=${d#"$BPF_ROOT/$PIN_PREFIX"}
			if [[ -e $d && $name =~ ^(.+)-h[0-9]+$ ]]; then
				echo "${BASH_REMATCH[1]}"
			fi
		done
		# Labs whose state folder is gone: the tag on their bridge.
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
			[[ $ns == *-sw ]] || continue
			ipc -n "$ns" link show "$BRIDGE" 2>/dev/null |
				sed -n 's/^ *alias sipsec-lab:\(.*\)$/\1/p' || true
		done
	} | sort -u
}

cmd_down() {
	local all=0 lab
	while (($#)); do
		case "$1" in
		--all) all=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage_error "down: unexpected '$1'" ;;
		esac
	done
	need_root
	if ((all)); then
		for lab in $(all_labs); do
			[[ $lab =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]] || continue
			teardown "$lab"
		done
	else
		teardown "$LAB"
	fi
}

# --- exec, addr, dir ------------------------------------------------------

cmd_exec() {
	local host="" ns i
	while (($#)); do
		case "$1" in
		--) shift; break ;;
		-h | --help) usage; exit 0 ;;
		-*) usage_error "exec: unexpected '$1'" ;;
		*) [[ -z $host ]] || usage_error "exec: put the command after --"; host=$1; shift ;;
		esac
	done
	[[ -n $host ]] || usage_error "exec: which host?"
	(($#)) || usage_error "exec: no command (exec HOST -- COMMAND...)"
	need_root
	if [[ $host == sw ]]; then
		lab_hosts "$LAB" >/dev/null
		ns=$(sw_ns "$LAB")
	else
		i=$(host_index "$LAB" "$host")
		ns=$(host_ns "$LAB" "$i")
	fi
	[[ -e $NETNS_DIR/$ns ]] || die "namespace $ns is missing (lab half torn down?)"
	exec nsenter --net="$NETNS_DIR/$ns" -- "$@"
}

cmd_addr() {
	local host=${1:-} fam=${2:-4} i
	[[ -n $host ]] || usage_error "addr: which host?"
	(($# <= 2)) || usage_error "addr: too many arguments"
	i=$(host_index "$LAB" "$host")
	case "$fam" in
	4) addr4 "$i" ;;
	6) addr6 "$i" ;;
	*) usage_error "addr: family must be 4 or 6, not '$fam'" ;;
	esac
}

cmd_dir() {
	(($# == 0)) || usage_error "dir: unexpected '$1'"
	lab_hosts "$LAB" >/dev/null
	state_dir "$LAB"
}

# --- daemon, stop ---------------------------------------------------------

make_certs() {
	local lab=$1 n=$2 state dir i specs=() fd
	state=$(state_dir "$lab")
	dir=$state/certs
	exec {fd}>"$state/.lock"
	flock -w 60 "$fd" || die "timed out waiting for the lab's lock"
	if [[ ! -s $dir/ca.pem ]]; then
		mkdir -p "$dir"
		for ((i = 1; i <= n; i++)); do
			specs+=("$(host_name "$i")=$(addr4 "$i"),$(addr6 "$i")")
		done
		timeout 60 "$SIPSECCTL" certs "$dir" "${specs[@]}" >"$state/certs.log" 2>&1 || {
			tail -n 20 "$state/certs.log" >&2
			rm -rf "$dir"
			die "'$SIPSECCTL certs' failed"
		}
	fi
	exec {fd}>&-
}

write_daemon_conf() {
	local lab=$1 i=$2 conf=$3 append=$4 certs
	certs="$(state_dir "$lab")/certs"
	{
		echo "# Written by $PROG for lab '$lab', host h$i; rewritten at every start."
		echo "[global]"
		echo "log_level = debug"
		echo "pin_dir = $(pin_dir "$lab" "$i")"
		echo "name = $(host_name "$i")"
		echo "ca = $certs/ca.pem"
		echo "cert = $certs/$(host_name "$i").pem"
		echo "key = $certs/$(host_name "$i").key"
		if [[ -n $append ]]; then
			echo
			echo "# From $append"
			cat "$append"
		fi
	} >"$conf"
}

cmd_daemon() {
	local host="" append="" i n state ns conf log log_from pidfile pid tenths rc
	while (($#)); do
		case "$1" in
		--) shift; break ;;
		--conf-append) [[ $# -ge 2 ]] || usage_error "--conf-append needs a file"; append=$2; shift 2 ;;
		--conf-append=*) append=${1#*=}; shift ;;
		-h | --help) usage; exit 0 ;;
		-*) usage_error "daemon: unexpected '$1' (sipsecd arguments go after --)" ;;
		*) [[ -z $host ]] || usage_error "daemon: one host at a time"; host=$1; shift ;;
		esac
	done
	[[ -n $host ]] || usage_error "daemon: which host?"
	[[ -z $append || -r $append ]] || die "cannot read '$append'"
	need_root
	need_tools nsenter setsid flock timeout
	[[ -x $SIPSECD ]] || die "no daemon binary at $SIPSECD (make, or set SIPSECD)"
	[[ -x $SIPSECCTL ]] || die "no control tool at $SIPSECCTL (make, or set SIPSECCTL)"
	n=$(lab_hosts "$LAB")
	i=$(host_index "$LAB" "$host")
	state=$(state_dir "$LAB")
	ns=$(host_ns "$LAB" "$i")
	conf=$state/h$i.conf
	log=$state/h$i.log
	pidfile=$state/h$i.pid
	if read_pidfile "$pidfile" && pid_alive "$PF_PID" "$PF_START"; then
		die "h$i: sipsecd already runs (pid $PF_PID); '$PROG stop h$i' first"
	fi
	ensure_bpffs
	mkdir -p "$(pin_dir "$LAB" "$i")"
	make_certs "$LAB" "$n"
	write_daemon_conf "$LAB" "$i" "$conf" "$append"

	# The log keeps earlier runs; a failure shows only this one's lines.
	log_from=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
	echo "--- $(date -u +%FT%TZ) start: $SIPSECD --foreground --config $conf $*" >>"$log"
	# setsid: the daemon outlives this script and the caller's terminal;
	# down finds it by its pid file and by its namespace.  Neither setsid
	# (not a group leader here) nor nsenter (no pid namespace) forks, so
	# $! is the daemon's pid.
	setsid nsenter --net="$NETNS_DIR/$ns" -- \
		"$SIPSECD" --foreground --config "$conf" "$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	write_pidfile "$pidfile" "$pid"

	tenths=$((READY_TIMEOUT * 10))
	until timeout 2 nsenter --net="$NETNS_DIR/$ns" -- "$SIPSECCTL" status >/dev/null 2>&1; do
		if ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null && rc=0 || rc=$?
			echo "$PROG: h$i: sipsecd exited (status $rc) before it was ready; log $log:" >&2
			tail -c "+$log_from" "$log" | tail -n 30 >&2
			rm -f "$pidfile"
			exit 1
		fi
		if ((tenths-- <= 0)); then
			echo "$PROG: h$i: sipsecd not ready after ${READY_TIMEOUT}s; log $log:" >&2
			tail -c "+$log_from" "$log" | tail -n 30 >&2
			stop_pid "$pidfile" TERM 30
			exit 1
		fi
		sleep 0.1
	done
	echo "h$i: sipsecd ready (pid $pid, config $conf, log $log)"
}

cmd_stop() {
	local host="" sig=TERM i
	while (($#)); do
		case "$1" in
		--signal) [[ $# -ge 2 ]] || usage_error "--signal needs a name"; sig=${2#SIG}; shift 2 ;;
		--signal=*) sig=${1#*=}; sig=${sig#SIG}; shift ;;
		-h | --help) usage; exit 0 ;;
		-*) usage_error "stop: unexpected '$1'" ;;
		*) [[ -z $host ]] || usage_error "stop: one host at a time"; host=$1; shift ;;
		esac
	done
	[[ -n $host ]] || usage_error "stop: which host?"
	need_root
	i=$(host_index "$LAB" "$host")
	stop_pid "$(state_dir "$LAB")/h$i.pid" "$sig" 50
	echo "h$i: sipsecd stopped"
}

# --- capture --------------------------------------------------------------

capture_start() {
	local file="" filter=() state sw pid tenths
	while (($#)); do
		case "$1" in
		--file) [[ $# -ge 2 ]] || usage_error "--file needs a path"; file=$2; shift 2 ;;
		--file=*) file=${1#*=}; shift ;;
		--filter) [[ $# -ge 2 ]] || usage_error "--filter needs an expression"; filter=("$2"); shift 2 ;;
		--filter=*) filter=("${1#*=}"); shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage_error "capture start: unexpected '$1'" ;;
		esac
	done
	need_root
	need_tools tcpdump setsid timeout
	lab_hosts "$LAB" >/dev/null
	state=$(state_dir "$LAB")
	sw=$(sw_ns "$LAB")
	if read_pidfile "$state/capture.pid" && pid_alive "$PF_PID" "$PF_START"; then
		die "a capture is already running (pid $PF_PID, file $(cat "$state/capture.file"))"
	fi
	[[ -n $file ]] || file=$state/capture.pcap
	mkdir -p "$(dirname "$file")"
	file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
	rm -f "$file"
	# -Z root: Debian's tcpdump otherwise drops to its own user and cannot
	# write under /run.  No -p: promiscuous mode is what makes the bridge
	# device see forwarded frames.
	setsid nsenter --net="$NETNS_DIR/$sw" -- \
		tcpdump -i "$BRIDGE" -n -s 0 -U --immediate-mode -Z root -w "$file" \
		"${filter[@]}" </dev/null >"$state/capture.log" 2>&1 &
	pid=$!
	write_pidfile "$state/capture.pid" "$pid"
	echo "$file" >"$state/capture.file"
	tenths=50
	until grep -q '^tcpdump: listening on' "$state/capture.log" 2>/dev/null; do
		if ! pid_alive "$pid" || ((tenths-- <= 0)); then
			cat "$state/capture.log" >&2
			stop_pid "$state/capture.pid" INT 20
			die "tcpdump did not start listening on $BRIDGE"
		fi
		sleep 0.1
	done
	echo "$file"
}

capture_stop() {
	local state file size prev="" stable=0 tenths=20 dropped
	(($# == 0)) || usage_error "capture stop: unexpected '$1'"
	need_root
	state=$(state_dir "$LAB")
	if ! read_pidfile "$state/capture.pid" || ! pid_alive "$PF_PID" "$PF_START"; then
		rm -f "$state/capture.pid"
		die "no capture running in lab '$LAB'"
	fi
	file=$(cat "$state/capture.file")
	# tcpdump writes each packet as it reads it; a file that stopped
	# growing means nothing is waiting in the ring when SIGINT lands.
	while ((tenths-- > 0 && stable < 3)); do
		size=$(stat -c %s "$file" 2>/dev/null || echo 0)
		if [[ $size == "$prev" ]]; then stable=$((stable + 1)); else stable=0; fi
		prev=$size
		sleep 0.1
	done
	stop_pid "$state/capture.pid" INT 100
	grep -E 'packets (captured|received|dropped)' "$state/capture.log" | sed "s/^/$PROG: /" >&2 || true
	dropped=$(sed -n 's/^\([0-9][0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$state/capture.log")
	[[ -z $dropped || $dropped == 0 ]] || warn "warning: the kernel dropped $dropped packet(s) of this capture"
	rm -f "$state/capture.file"
	echo "$file"
}

cmd_capture() {
	local sub=${1:-}
	(($#)) && shift
	case "$sub" in
	start) capture_start "$@" ;;
	stop) capture_stop "$@" ;;
	-h | --help) usage ;;
	*) usage_error "capture: start or stop" ;;
	esac
}

# --- status ---------------------------------------------------------------

status_one() {
	local lab=$1 state n i pidf what
	state=$(state_dir "$lab")
	if [[ ! -r $state/lab.conf ]]; then
		echo "lab '$lab': no state (namespaces: $(lab_namespaces "$lab" | tr '\n' ' '))"
		return 0
	fi
	n=$(lab_hosts "$lab")
	echo "lab '$lab': $n host(s), state $state"
	for ((i = 1; i <= n; i++)); do
		pidf=$state/h$i.pid
		what="no daemon"
		if read_pidfile "$pidf"; then
			if pid_alive "$PF_PID" "$PF_START"; then what="sipsecd pid $PF_PID"; else what="sipsecd exited"; fi
		fi
		[[ -e $NETNS_DIR/$(host_ns "$lab" "$i") ]] || what="NAMESPACE MISSING"
		printf '  h%-3s %-16s %-20s %s\n' "$i" "$(addr4 "$i")" "$(addr6 "$i")" "$what"
	done
	if read_pidfile "$state/capture.pid" && pid_alive "$PF_PID" "$PF_START"; then
		echo "  capture: pid $PF_PID -> $(cat "$state/capture.file" 2>/dev/null)"
	fi
}

cmd_status() {
	local lab
	(($# == 0)) || usage_error "status: unexpected '$1'"
	if ((LAB_GIVEN)); then
		status_one "$LAB"
		return 0
	fi
	for lab in $(all_labs); do
		status_one "$lab"
	done
}

# --- main -----------------------------------------------------------------

# --lab may appear anywhere before a "--"; pull it out first.
LAB_GIVEN=0
[[ -n ${SIPSEC_LAB:-} ]] && LAB_GIVEN=1
args=()
while (($#)); do
	case "$1" in
	--) args+=("$@"); break ;;
	--lab) [[ $# -ge 2 ]] || usage_error "--lab needs a name"; LAB=$2; LAB_GIVEN=1; shift 2 ;;
	--lab=*) LAB=${1#*=}; LAB_GIVEN=1; shift ;;
	*) args+=("$1"); shift ;;
	esac
done
set -- "${args[@]}"
check_lab_name "$LAB"
[[ $READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage_error "SIPSEC_LAB_READY_TIMEOUT must be whole seconds"

cmd=${1:-}
(($#)) && shift
case "$cmd" in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
exec) cmd_exec "$@" ;;
daemon) cmd_daemon "$@" ;;
stop) cmd_stop "$@" ;;
capture) cmd_capture "$@" ;;
addr) cmd_addr "$@" ;;
dir) cmd_dir "$@" ;;
status) cmd_status "$@" ;;
-h | --help | help) usage ;;
"") usage_error "no command" ;;
*) usage_error "unknown command '$cmd'" ;;
esac
