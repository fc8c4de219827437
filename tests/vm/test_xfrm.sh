#!/usr/bin/env bash
# daemon/xfrm.c against the kernel, driven by tests/vm/xfrm_tool in two
# network namespaces joined by a veth pair:
#   1. sipsec's policies for SIP over UDP (level required), no SA: a
#      datagram to the SIP port does not leave in cleartext and the kernel
#      sends an ACQUIRE for its flow;
#   2. SAs both ways: the datagrams pass as ESP (0 cleartext UDP, marker
#      absent) and arrive decrypted; a captured ESP frame sent again is
#      dropped and the receiver's replay counter, read through the
#      module's dump, goes up;
#   3. an SA with a short hard lifetime expires and EXPIRE events arrive;
#      an inbound SPI allocated by the kernel is completed into an SA;
#   4. a second instance ("restarted daemon") finds and keeps what is
#      installed: no SA or policy doubled, none deleted;
#   5. flush removes all of it.
set -euo pipefail

ns_a=sipsec-xfrm-$$-a
ns_b=sipsec-xfrm-$$-b
addr_a=10.215.0.1
addr_b=10.215.0.2
sip_port=5060
spi_ab=0x5a510001
spi_ba=0x5a510002
spi_short=0x5a5100ff
marker="xfrm-probe-cleartext-marker"
root=$(cd "$(dirname "$0")/../.." && pwd)
tool=${SIPSEC_BUILD:-$root/build}/tests/vm/xfrm_tool
sipsecctl=${SIPSEC_BUILD:-$root/build}/sipsecctl

# shellcheck source=tests/vm/lib_lab.sh
source "$(dirname "$0")/lib_lab.sh"

check_prerequisites() {
	lab_need "netns, xfrm" ip tcpdump nsenter python3
	[[ -x $tool ]] || fail "$tool is not built (make)"
	modprobe esp4 || fail "modprobe esp4 failed on $(uname -r)"
	modprobe xfrm_user || fail "modprobe xfrm_user failed on $(uname -r)"
}

xt() {
	local ns=$1
	shift
	in_ns "$ns" "$tool" "$@"
}

# Start the tool in the background in ns; returns once it said "ready".
xt_bg() {
	local ns=$1 out=$2
	shift 2
	timeout 60 nsenter --net="/run/netns/$ns" "$tool" "$@" >"$out" 2>&1 &
	bg_pids+=($!)
	wait_for_line "$out" '^ready' "${bg_pids[-1]}" "xfrm_tool $*"
}

# Wait for the last background tool; its status.
xt_wait() {
	local pid=${bg_pids[-1]} status=0
	wait "$pid" || status=$?
	unset 'bg_pids[-1]'
	return "$status"
}

# A UDP receiver on the SIP port of ns_b: no ICMP port unreachable goes
# back (it would quote the datagram), and it counts the datagrams that
# carry the marker (bash writes each message in more than one datagram).
start_receiver() {
	local out=$1
	# shellcheck disable=SC2016 # python, not shell
	timeout 60 nsenter --net="/run/netns/$ns_b" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
n = 0
try:
    while True:
        d, a = s.recvfrom(65535)
        n += sys.argv[3].encode() in d
except socket.timeout:
    pass
print("received %d" % n, flush=True)' "$sip_port" 4 "$marker" >"$out" 2>&1 &
	bg_pids+=($!)
	wait_for_line "$out" '^ready' "${bg_pids[-1]}" "the UDP receiver"
}

count() {
	grep -c "$1" || true
}

# The replay drops the module's dump shows for one SA in ns.
replay_drops() {
	xt "$1" dump | grep "^sa spi $2 " | sed -n 's/.*replay drops \([0-9]*\).*/\1/p'
}

step_policies_acquire() {
	local pcap=$work/acquire.pcap clear
	xt "$ns_a" policies add "$addr_a" "$addr_b" "$sip_port" | label "$ns_a"
	xt "$ns_b" policies add "$addr_b" "$addr_a" "$sip_port" | label "$ns_b"
	xt_bg "$ns_a" "$work/acquire.out" wait acquire 30
	start_capture "$pcap"
	send_udp
	sleep 0.3
	stop_capture
	xt_wait || { cat "$work/acquire.out" >&2; fail "no ACQUIRE event"; }
	grep '^acquire' "$work/acquire.out" | head -n 1 | label event
	grep -q "^acquire: $addr_a:[0-9]* -> $addr_b:$sip_port proto 17 .* dir out" \
		"$work/acquire.out" || fail "the ACQUIRE does not name the flow"
	clear=$(decode_capture "$pcap" udp | wc -l)
	[[ $clear -eq 0 ]] || fail "$clear cleartext UDP packets left without an SA"
	if grep -qa "$marker" "$pcap"; then
		fail "the marker left in cleartext without an SA"
	fi
	echo "no SA: 0 UDP packets on the wire, ACQUIRE seen"
}

step_sas_replay() {
	local pcap=$work/esp.pcap decoded esp clear got before after
	for ns in "$ns_a" "$ns_b"; do
		xt "$ns" sa "$addr_a" "$addr_b" "$spi_ab" | label "$ns"
		xt "$ns" sa "$addr_b" "$addr_a" "$spi_ba" | label "$ns"
	done
	before=$(replay_drops "$ns_b" "$spi_ab")
	start_receiver "$work/recv.out"
	xt_bg "$ns_a" "$work/replay.out" replay veth0 20 3
	start_capture "$pcap"
	send_udp
	xt_wait || { cat "$work/replay.out" >&2; fail "replay failed"; }
	sleep 0.5
	stop_capture
	label replay <"$work/replay.out" | grep -v ready
	decoded=$(decode_capture "$pcap" esp)
	head -n 2 <<<"$decoded" | label capture
	esp=$(grep -c . <<<"$decoded" || true)
	clear=$(decode_capture "$pcap" udp | wc -l)
	[[ $esp -gt 0 ]] || fail "no ESP packets captured"
	[[ $clear -eq 0 ]] || fail "$clear cleartext UDP packets captured"
	if grep -qa "$marker" "$pcap"; then
		fail "the cleartext marker is visible in the ESP capture"
	fi
	xt_wait || true
	got=$(sed -n 's/^received \([0-9]*\)/\1/p' "$work/recv.out")
	[[ ${got:-0} -eq 3 ]] ||
		{ cat "$work/recv.out" >&2; fail "the receiver got ${got:-0} messages, not 3"; }
	echo "esp: $esp ESP packets (3 replayed among them), 0 cleartext UDP," \
		"marker absent; the receiver got the $got messages decrypted, none twice"
	after=$(replay_drops "$ns_b" "$spi_ab")
	echo "replay: receiver's SA $spi_ab replay drops $before -> $after"
	[[ ${after:-0} -gt ${before:-0} ]] || fail "the replay counter did not go up"
	xt "$ns_b" dump | grep "^sa spi $spi_ab" | label "$ns_b"
	check_sipsecctl
}

# sipsecctl sas shows the same SAs, per peer, without a key byte (any
# 4-byte piece of either key, in hex).
check_sipsecctl() {
	local out json spi key
	out=$(in_ns "$ns_b" "$sipsecctl" sas) || fail "sipsecctl sas failed"
	label sipsecctl <<<"$out"
	grep -q "^peer $addr_a" <<<"$out" || fail "sipsecctl sas shows no peer $addr_a"
	grep -qE "^  in +$spi_ab .* 3 +0$" <<<"$out" ||
		fail "sipsecctl sas does not show the inbound SA with 3 replay drops"
	json=$(in_ns "$ns_b" "$sipsecctl" sas --json) || fail "sipsecctl sas --json failed"
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert len(d["sas"]) == 2 and d["policies"] == 4, d
assert any(s["replay_drops"] == 3 and s["direction"] == "in" for s in d["sas"]), d
assert not any("key" == k for s in d["sas"] for k in s), d' "$json" ||
		fail "sipsecctl sas --json: $json"
	for spi in "$spi_ab" "$spi_ba"; do
		key=$("$tool" keyhex "$spi")
		if grep -qiE "${key:0:8}|${key:8:8}|${key:16:8}|${key:24:8}" <<<"$out$json"; then
			fail "sipsecctl sas shows key material of $spi"
		fi
	done
	echo "sipsecctl sas: 2 SAs, 4 policies, replay drops shown, no key"
}

step_expire() {
	xt_bg "$ns_a" "$work/expire.out" wait expire 40
	xt "$ns_a" sa "$addr_a" "$addr_b" "$spi_short" 3 1 | label "$ns_a"
	xt_wait || { cat "$work/expire.out" >&2; fail "no hard EXPIRE event"; }
	grep -v ready "$work/expire.out" | label event
	grep -q "^expire: soft spi $spi_short" "$work/expire.out" ||
		fail "no soft EXPIRE before the hard one"
	if xt "$ns_a" dump | grep -q "^sa spi $spi_short"; then
		fail "the expired SA is still there"
	fi
	echo "expire: soft then hard EXPIRE for $spi_short, SA gone"
}

# An inbound SPI from the kernel (ALLOCSPI), held by a larval SA that the
# dump does not show, then completed (UPDSA) into a full SA.
step_spi() {
	local spi
	spi=$(xt "$ns_b" spi "$addr_a" "$addr_b" | sed -n 's/^spi //p')
	[[ $spi =~ ^0x[0-9a-f]{8}$ ]] || fail "no SPI allocated"
	if xt "$ns_b" dump | grep -q "^sa spi $spi"; then
		fail "the larval SA of $spi is listed as an SA"
	fi
	xt "$ns_b" complete "$addr_a" "$addr_b" "$spi" | label "$ns_b"
	xt "$ns_b" dump | grep "^sa spi $spi .*rfc4106(gcm(aes)) key 128 bits" ||
		fail "the allocated SPI $spi was not completed"
	echo "spi: $spi allocated by the kernel, completed into an SA"
}

kernel_counts() {
	echo "$(ip -n "$1" xfrm state | count '^src') $(ip -n "$1" xfrm policy | count '^src')"
}

step_adopt() {
	local before after
	before=$(kernel_counts "$ns_a")
	xt "$ns_a" adopt "$addr_a" "$addr_b" "$sip_port" | label restart
	xt "$ns_a" sa "$addr_a" "$addr_b" "$spi_ab" | label restart
	xt "$ns_a" sa "$addr_b" "$addr_a" "$spi_ba" | label restart
	after=$(kernel_counts "$ns_a")
	[[ $before == "$after" ]] ||
		fail "SAs and policies before/after the restart: $before / $after"
	[[ $after == "2 4" ]] || fail "expected 2 SAs and 4 policies, found $after"
	echo "restart: ip xfrm shows $after (SAs policies) before and after; adopted, not doubled"
}

step_flush() {
	local ns c
	for ns in "$ns_a" "$ns_b"; do
		xt "$ns" flush
		c=$(kernel_counts "$ns")
		[[ $c == "0 0" ]] || fail "after flush $ns still has $c (SAs policies)"
	done
	echo "flush: 0 SAs, 0 policies left in both namespaces"
}

main() {
	check_prerequisites
	lab_start xfrm
	step_policies_acquire
	step_sas_replay
	step_expire
	step_spi
	step_adopt
	step_flush
}

main "$@"
