#!/usr/bin/env bash
# A TC classifier (tests/vm/tc_count.bpf.c) loads, passes the verifier,
# attaches to a veth's clsact egress inside a network namespace and runs:
# its BTF counter, read back with bpftool, is > 0 after traffic.
# Runs in the VM suite and, unchanged, on the host from
# tests/integration/host_features.sh: nothing is attached outside the two
# throwaway namespaces, and the pins live on a private bpffs mount.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
obj=$repo/build/tests/vm/tc_count.bpf.o
ns_a=sipsec-tc-$$-a
ns_b=sipsec-tc-$$-b
addr_a=10.213.0.1
addr_b=10.213.0.2
pin_dir=""

# shellcheck source=tests/vm/lib_lab.sh
source "$(dirname "$0")/lib_lab.sh"

cleanup() {
	local status=$?
	trap - EXIT
	ip netns del "$ns_a" 2>/dev/null || true
	ip netns del "$ns_b" 2>/dev/null || true
	if [[ -n $pin_dir ]]; then
		umount "$pin_dir" 2>/dev/null || true
		rmdir "$pin_dir" 2>/dev/null || true
	fi
	exit "$status"
}

check_prerequisites() {
	lab_need "netns, bpf()" ip tc bpftool nsenter
	[[ -f $obj ]] || fail "$obj is not built (make build/tests/vm/tc_count.bpf.o)"
}

load_and_attach() {
	# No dot in the name: libbpf rewrites dots in pin paths (bpffs refuses
	# them), which breaks a path that merely passes through a dotted folder.
	pin_dir=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-tc-XXXXXX")
	mount -t bpf bpf "$pin_dir" || fail "cannot mount bpffs on $pin_dir"
	timeout 60 bpftool prog load "$obj" "$pin_dir/prog" type classifier \
		pinmaps "$pin_dir/maps" || fail "bpftool prog load $obj failed (verifier log above)"
	in_ns "$ns_a" tc qdisc add dev veth0 clsact
	in_ns "$ns_a" tc filter add dev veth0 egress bpf direct-action \
		pinned "$pin_dir/prog" || fail "tc filter add (clsact egress) failed"
	in_ns "$ns_a" tc filter show dev veth0 egress | label tc
}

# Bash's /dev/udp needs no extra tool; the ARP exchange before the first
# datagram is counted as well.
send_traffic() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	in_ns "$ns_a" bash -c '
		for i in 1 2 3 4 5; do
			echo "tc-count probe $i" >"/dev/udp/$1/9" || true
			sleep 0.2
		done' _ "$addr_b"
}

read_counter() {
	local dump packets bytes
	dump=$(timeout 20 bpftool map dump pinned "$pin_dir/maps/tc_count_map") ||
		fail "bpftool map dump failed"
	label map <<<"$dump"
	packets=$(sed -n 's/.*"packets": *\([0-9]*\).*/\1/p' <<<"$dump")
	bytes=$(sed -n 's/.*"bytes": *\([0-9]*\).*/\1/p' <<<"$dump")
	[[ -n $packets ]] || fail "no BTF-formatted packets field in the map dump"
	[[ $packets -gt 0 ]] || fail "the classifier counted no packets"
	echo "tc-bpf: works (clsact egress in netns $ns_a: $packets packets, $bytes bytes)"
}

main() {
	check_prerequisites
	trap cleanup EXIT
	# Without these, a timeout's SIGTERM would skip the EXIT trap.
	trap 'exit 143' TERM
	trap 'exit 130' INT
	make_lab
	load_and_attach
	send_traffic
	read_counter
}

main "$@"
