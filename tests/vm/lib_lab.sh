#!/usr/bin/env bash
# Shared by the VM tests that join two network namespaces with a veth
# pair and look at the wire: sourced, never run (suite.sh runs test_*.sh
# only). The caller sets ns_a, ns_b, addr_a, addr_b and work (its scratch
# folder), and calls stop_capture from its cleanup.
# shellcheck disable=SC2154 # ns_a, ns_b, addr_a, addr_b, work: the caller's

capture_pid=""

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
	local pcap=$1 i
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
	for ((i = 0; i < 150; i++)); do
		grep -q 'listening on' "$work/tcpdump.err" && return 0
		kill -0 "$capture_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/tcpdump.err" >&2
	fail "tcpdump did not start"
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

# Packets of a capture that match a pcap filter, decoded one per line.
decode_capture() {
	timeout 30 tcpdump -r "$1" -nn "$2" 2>/dev/null
}
