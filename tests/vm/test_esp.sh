#!/usr/bin/env bash
# ESP transport mode with rfc4106(gcm(aes)), the way sipsecd will key SIP
# over UDP: two network namespaces joined by a veth pair, SAs and policies
# (level required) in both, then UDP and ping between them. A capture on the
# wire must show ESP and neither the UDP payload nor cleartext UDP/ICMP; a
# control capture before the SAs exist must show the payload, which proves
# the capture would have seen it. Ping replies prove both ends decrypt.
set -euo pipefail

ns_a=sipsec-esp-$$-a
ns_b=sipsec-esp-$$-b
addr_a=10.214.0.1
addr_b=10.214.0.2
sip_port=5060
# 16-byte AES key + 4-byte salt per direction (RFC 4106 3.1).
key_ab=0x0102030405060708090a0b0c0d0e0f10a1a2a3a4
key_ba=0x1112131415161718191a1b1c1d1e1f20b1b2b3b4
spi_ab=0x5a500001
spi_ba=0x5a500002
marker="esp-probe-cleartext-marker"

ping_cmd=()

# shellcheck source=tests/vm/lib_lab.sh
source "$(dirname "$0")/lib_lab.sh"

check_prerequisites() {
	lab_need "netns, xfrm" ip tcpdump nsenter
	# iputils is not installed everywhere; busybox-static (VM runner) is.
	if command -v ping >/dev/null; then
		ping_cmd=(ping)
	elif command -v busybox >/dev/null; then
		ping_cmd=(busybox ping)
	else
		fail "no ping (iputils-ping or busybox-static)"
	fi
}

# One namespace's half: outbound SA and policy towards the peer, inbound SA
# and policy from it. Mode transport, as for SIP between two hosts.
add_sas() {
	local ns=$1 self=$2 peer=$3 spi_out=$4 key_out=$5 spi_in=$6 key_in=$7
	ip -n "$ns" xfrm state add src "$self" dst "$peer" proto esp \
		spi "$spi_out" reqid 1 mode transport \
		aead 'rfc4106(gcm(aes))' "$key_out" 128
	ip -n "$ns" xfrm state add src "$peer" dst "$self" proto esp \
		spi "$spi_in" reqid 1 mode transport \
		aead 'rfc4106(gcm(aes))' "$key_in" 128
	ip -n "$ns" xfrm policy add src "$self/32" dst "$peer/32" dir out \
		tmpl src "$self" dst "$peer" proto esp reqid 1 mode transport level required
	ip -n "$ns" xfrm policy add src "$peer/32" dst "$self/32" dir in \
		tmpl src "$peer" dst "$self" proto esp reqid 1 mode transport level required
}

install_ipsec() {
	# Explicit, so that a missing module is named here rather than
	# surfacing as an opaque netlink error.
	modprobe esp4 || fail "modprobe esp4 failed on $(uname -r)"
	modprobe xfrm_user || fail "modprobe xfrm_user failed on $(uname -r)"
	add_sas "$ns_a" "$addr_a" "$addr_b" "$spi_ab" "$key_ab" "$spi_ba" "$key_ba" ||
		fail "ip xfrm in $ns_a failed"
	add_sas "$ns_b" "$addr_b" "$addr_a" "$spi_ba" "$key_ba" "$spi_ab" "$key_ab" ||
		fail "ip xfrm in $ns_b failed"
	echo "xfrm: $(ip -n "$ns_a" xfrm state | grep -c '^src') SAs and" \
		"$(ip -n "$ns_a" xfrm policy | grep -c '^src') policies per namespace," \
		"rfc4106(gcm(aes)) 128-bit ICV, transport mode, level required"
}

# Datagrams that reached the receiver's UDP layer (no socket listens, so
# each one counts under NoPorts): proof that ESP delivered them decrypted.
udp_noports() {
	in_ns "$1" cat /proc/net/snmp | awk '
		$1 == "Udp:" && !hdr { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1; next }
		$1 == "Udp:" && hdr { print $col["NoPorts"]; exit }'
}

# Without SAs the marker must be on the wire, else "not seen" means nothing.
control_run() {
	local pcap=$work/control.pcap
	start_capture "$pcap"
	send_udp
	sleep 0.3
	stop_capture
	grep -qa "$marker" "$pcap" || fail "control capture does not show the cleartext marker"
	echo "control: cleartext marker seen without IPsec ($(decode_capture "$pcap" udp | wc -l) UDP packets)"
}

protected_run() {
	local pcap=$work/esp.pcap decoded esp clear noports_before noports_after
	noports_before=$(udp_noports "$ns_b")
	start_capture "$pcap"
	send_udp
	in_ns "$ns_a" "${ping_cmd[@]}" -c 3 -W 2 "$addr_b" | label ping ||
		fail "ping through ESP failed: one end did not decrypt"
	sleep 0.3
	stop_capture
	decoded=$(decode_capture "$pcap" esp)
	head -n 2 <<<"$decoded" | label capture
	esp=$(grep -c . <<<"$decoded" || true)
	clear=$(decode_capture "$pcap" 'udp or icmp' | wc -l)
	[[ $esp -gt 0 ]] || fail "no ESP packets captured"
	[[ $clear -eq 0 ]] || fail "$clear cleartext UDP/ICMP packets captured"
	if grep -qa "$marker" "$pcap"; then
		fail "the cleartext marker is visible in the ESP capture"
	fi
	noports_after=$(udp_noports "$ns_b")
	[[ $noports_after -gt $noports_before ]] ||
		fail "no decrypted UDP datagram reached the receiver's UDP layer"
	echo "receiver: $((noports_after - noports_before)) decrypted UDP datagrams reached its UDP layer"
	echo "esp: works ($esp ESP packets, 0 cleartext UDP/ICMP, marker absent)"
}

# The inbound SA of the receiver must have counted the datagrams.
check_receiver() {
	local stats packets
	stats=$(ip -n "$ns_b" -s xfrm state get src "$addr_a" dst "$addr_b" \
		proto esp spi "$spi_ab")
	packets=$(grep -oE '[0-9]+\(packets\)' <<<"$stats" | head -n 1 | tr -dc 0-9)
	[[ ${packets:-0} -gt 0 ]] || fail "the receiver's inbound SA decrypted no packets"
	echo "receiver: inbound SA $spi_ab decrypted $packets packets"
}

main() {
	check_prerequisites
	lab_start esp
	control_run
	install_ipsec
	protected_run
	check_receiver
}

main "$@"
