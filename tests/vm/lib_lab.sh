#!/usr/bin/env bash
# Shared by the VM tests that join two network namespaces with a veth
# pair and look at the wire: sourced, never run (suite.sh runs test_*.sh
# only). The caller sets ns_a, ns_b, addr_a and addr_b; lab_start makes
# the scratch folder $work and the namespaces, and lab_cleanup (its EXIT
# trap) removes them with every background process it was told of.
# shellcheck disable=SC2154 # ns_a, ns_b, addr_a, addr_b, marker, sip_port

capture_pid=""
work=""
bg_pids=()

label() {
	sed "s/^/$1: /"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

in_ns() {
	local ns=$1
	shift
	timeout 20 nsenter --net="/run/netns/$ns" "$@"
}

# Skip without root (77, with the reason); fail when a tool is missing.
lab_need() {
	local why=$1 t
	shift
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP: needs root ($why)"
		exit 77
	fi
	for t in "$@"; do
		command -v "$t" >/dev/null || fail "$t is missing (scripts/deps.sh)"
	done
}

lab_start() {
	trap lab_cleanup EXIT
	# Without these, a timeout's SIGTERM would skip the EXIT trap.
	trap 'exit 143' TERM
	trap 'exit 130' INT
	work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-$1-XXXXXX")
	chmod 0755 "$work"
	make_lab
}

lab_cleanup() {
	local status=$? pid
	trap - EXIT
	stop_capture
	for pid in "${bg_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	ip netns del "$ns_a" 2>/dev/null || true
	ip netns del "$ns_b" 2>/dev/null || true
	[[ -n $work ]] && rm -rf -- "$work"
	exit "$status"
}

# Wait until a background process (pid) wrote a line matching pattern to
# file; fail, showing the file, if it ends or takes more than 15 s.
wait_for_line() {
	local file=$1 pattern=$2 pid=$3 what=$4 i
	for ((i = 0; i < 150; i++)); do
		grep -q "$pattern" "$file" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$file" >&2
	fail "$what did not start"
}

make_lab() {
	ip netns add "$ns_a"
	ip netns add "$ns_b"
	ip link add veth0 netns "$ns_a" type veth peer name veth0 netns "$ns_b"
	ip -n "$ns_a" addr add "$addr_a/24" dev veth0
	ip -n "$ns_b" addr add "$addr_b/24" dev veth0
	ip -n "$ns_a" link set veth0 up
	ip -n "$ns_b" link set veth0 up
	ip -n "$ns_a" link set lo up
	ip -n "$ns_b" link set lo up
	wait_link_up "$ns_a"
	wait_link_up "$ns_b"
}

# A veth sends nothing until both ends have carrier and the qdisc is
# attached; a datagram written before that is dropped without an error.
wait_link_up() {
	local ns=$1 i
	for ((i = 0; i < 100; i++)); do
		[[ $(ip -n "$ns" -o link show veth0) == *"state UP"* ]] && return 0
		sleep 0.1
	done
	fail "veth0 in $ns did not come up"
}

start_capture() {
	local pcap=$1
	: >"$work/tcpdump.err"
	# -Z root: tcpdump would otherwise drop to its own user and fail to
	# write the file in a root-only folder. --immediate-mode: libpcap's
	# TPACKET_V3 ring hands packets over per block or after its 1 s block
	# timeout, so a capture stopped sooner silently misses the last ones
	# (a false "no cleartext").
	timeout 120 nsenter --net="/run/netns/$ns_a" \
		tcpdump -i veth0 -nn -U --immediate-mode -Z root -s 0 -w "$pcap" \
		2>"$work/tcpdump.err" &
	capture_pid=$!
	wait_for_line "$work/tcpdump.err" 'listening on' "$capture_pid" tcpdump
}

stop_capture() {
	local i
	[[ -n $capture_pid ]] || return 0
	kill -INT "$capture_pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$capture_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$capture_pid" 2>/dev/null || true
	wait "$capture_pid" 2>/dev/null || true
	capture_pid=""
}

# Three SIP requests from ns_a to addr_b's SIP port, each carrying the
# marker. Where nothing listens, ICMP port unreachable comes back and a
# write can report ECONNREFUSED; the captures and counters, not the
# writes, are what the tests check. One subshell per datagram: after a
# failed write bash keeps the bytes in its stdout buffer and would flush
# them into the next datagram's socket, sending one twice.
send_udp() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	in_ns "$ns_a" bash -c '
		printf -v msg "OPTIONS sip:%s@%s SIP/2.0\r\n\r\n" "$1" "$2"
		for i in 1 2 3; do
			(printf "%s" "$msg" >"/dev/udp/$2/$3") 2>/dev/null || true
			sleep 0.2
		done' _ "$marker" "$addr_b" "$sip_port"
}

# Packets of a capture that match a pcap filter, decoded one per line.
decode_capture() {
	timeout 30 tcpdump -r "$1" -nn "$2" 2>/dev/null
}
