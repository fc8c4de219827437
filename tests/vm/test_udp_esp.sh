#!/usr/bin/env bash
# SIP over UDP in the kernel's ESP, end to end, on a kernel with esp4:
#   held    with only h1's sipsecd running, an unshimmed program's SIP
#           datagram to h2 is held by the XFRM policy (level required):
#           nothing of it on the wire, and h1's daemon was told (ACQUIRE)
#   call    with both daemons: unmodified SIPp UAC and UAS over UDP under
#           the shim; the shim leaves their sockets to the kernel, the
#           first datagram raises an ACQUIRE, the daemons agree ipsec
#           (keying exporter) inside TLS and install the SAs. Every call
#           completes, the capture holds ESP and 0 cleartext SIP bytes,
#           and `sipsecctl sas` on both hosts counts packets.
#   icmp    a request over ESP to h2's SIP port with no program there: h2's
#           kernel answers port unreachable, quoting the decrypted
#           request; h2's eBPF layer drops it (sip-icmp), so nothing of it
#           is on the wire in the clear
#   restart both daemons are killed with SIGKILL and started again: they
#           keep the SAs and policies (none added twice), and a second
#           round of calls goes through on them.
#   rekey   with esp_lifetime = 12 s, the SAs of a round of calls are
#           rekeyed at their soft expiry (new SPIs), the old ones expire,
#           and a round of calls after that goes through on the new ones.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$repo/scripts/lab.sh
shim=$repo/build/libsipsec.so
ctl=$repo/build/sipsecctl
probe=$repo/build/tests/integration/udpprobe
lab=vesp
calls=${CALLS:-3}

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
for t in sipp tcpdump tshark nsenter python3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is missing"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/udp-esp.XXXXXX")
lab() { timeout 120 "$lab_sh" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	local rc=$?
	trap - EXIT
	if ((rc != 0)); then
		for h in h1 h2; do
			echo "--- $h sipsecd log"
			tail -n 40 "$(lab dir)/$h.log" 2>/dev/null || true
		done
		tail -n 20 "$work"/*.out 2>/dev/null || true
	fi
	lab down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

count() { # pcap -> "esp_frames sip_bytes udp_sip_frames"
	python3 "$repo/scripts/capcount.py" --json "$1" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(c["esp"]["frames"], c["sip"]["bytes"], c["sip"]["udp_bytes"])'
}

calls_round() { # name
	local name=$1 rc=0
	in_host h2 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
		timeout 150 sipp -sn uas -t u1 -i "$a2" -p 5060 -m "$calls" \
		-nostdin -fd 1 >"$work/uas-$name.out" 2>&1 &
	uas=$!
	sleep 2
	in_host h1 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
		timeout 150 sipp -sn uac -t u1 -i "$a1" -p 5060 -m "$calls" \
		-r 1 -d 500 -timeout 120 -nostdin -trace_stat \
		-stf "$work/uac-$name.csv" -fd 1 "$a2:5060" \
		>"$work/uac-$name.out" 2>&1 || rc=$?
	sleep 0.5
	kill "$uas" 2>/dev/null || true
	wait "$uas" 2>/dev/null || true
	python3 - "$work/uac-$name.csv" "$calls" "$rc" "$name" <<'PY'
import csv, sys
path, calls, rc, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = list(csv.reader(open(path), delimiter=";"))
row = dict(zip(rows[0], rows[-1]))
ok = int(row["SuccessfulCall(C)"]); failed = int(row["FailedCall(C)"])
print(f"{name}: calls {ok}/{calls} completed, {failed} failed (SIPp exit {rc})")
sys.exit(0 if rc == 0 and ok == calls else 1)
PY
}

lab down >/dev/null 2>&1 || true
lab up >/dev/null
a1=$(lab addr h1 4)
a2=$(lab addr h2 4)

echo "held"
lab daemon h1 >/dev/null
grep -m1 "ESP: SIP over UDP in the kernel" "$(lab dir)/h1.log" ||
	fail "h1's sipsecd did not take the ESP path"
lab capture start --file "$work/held.pcap" >/dev/null
marker="held-by-policy-$$"
printf 'OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK1\r\nFrom: <sip:%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
	"$a2" "$a1" "$a1" "$a2" "$marker" | in_host h1 "$probe" send "$a2" 5060 - || true
sleep 3
lab capture stop >/dev/null 2>&1
read -r esp sip udp <<<"$(count "$work/held.pcap")"
# In the capture file itself: each frame's bytes are contiguous there.
grep -qaF "$marker" "$work/held.pcap" && fail "the marker is on the wire"
((sip == 0 && udp == 0)) || fail "held: $sip cleartext SIP bytes on the wire"
grep -q "ESP: a datagram waits for $a2:5060" "$(lab dir)/h1.log" ||
	fail "h1's sipsecd was not told of the held datagram"
echo "  ok: an unshimmed program's SIP to h2 was held (0 cleartext SIP bytes, $esp ESP frames); h1: $(grep -m1 'a datagram waits' "$(lab dir)/h1.log" | cut -d' ' -f3-)"

echo "call"
lab daemon h2 >/dev/null
lab capture start --file "$work/call.pcap" >/dev/null
calls_round first || fail "calls over ESP"
lab capture stop >/dev/null 2>&1
read -r esp sip udp <<<"$(count "$work/call.pcap")"
echo "  wire: $esp ESP frames, $sip cleartext SIP bytes"
((esp > 0 && sip == 0)) || fail "call: expected ESP and no cleartext SIP"
for h in h1 h2; do
	grep -m1 "ESP: SAs with" "$(lab dir)/$h.log" | cut -d' ' -f3- ||
		fail "$h installed no SA"
	in_host "$h" "$ctl" sas | tee "$work/$h-sas.txt"
	in_host "$h" "$ctl" --json sas >"$work/$h-sas.json"
done
in_host h1 "$ctl" --json status >"$work/h1-status.json"
python3 - "$work/h1-status.json" <<'PY' || fail "sipsecctl status does not list the SAs"
import json, sys
sas = json.load(open(sys.argv[1]))["esp"]["sas"]
assert len(sas) >= 2 and all("key" not in s for s in sas), sas
print(f"  sipsecctl status lists {len(sas)} SAs: " +
      ", ".join(f"{s['direction']} {s['spi']} {s['packets']} packets" for s in sas))
PY
python3 - "$work/h1-sas.json" "$work/h2-sas.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    sas = d["sas"] if isinstance(d, dict) else d
    pk = sum(int(s.get("packets", 0)) for s in sas)
    assert len(sas) >= 2 and pk > 0, (path, d)
    print(f"  {path.rsplit('/', 1)[1]}: {len(sas)} SAs, {pk} packets")
PY

echo "icmp"
lab capture start --file "$work/icmp.pcap" >/dev/null
icmp_marker="icmp-quote-$$"
printf 'OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK2\r\nFrom: <sip:%s>;tag=2\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
	"$a2" "$a1" "$a1" "$a2" "$icmp_marker" |
	in_host h1 env LD_PRELOAD="$shim" "$probe" send "$a2" 5060 - || true
sleep 2
lab capture stop >/dev/null 2>&1
grep -qaF "$icmp_marker" "$work/icmp.pcap" &&
	fail "the decrypted request is on the wire (ICMP quote)"
icmp_drops=$(in_host h2 "$ctl" drops -c "$(lab dir)/h2.conf" 2>/dev/null |
	awk '$1 == "sip-icmp" && $2 == "drop" { print $3 }')
((${icmp_drops:-0} >= 1)) || fail "h2's eBPF layer did not drop the ICMP error (sip-icmp ${icmp_drops:-none})"
echo "  ok: the port unreachable quoting the decrypted request was dropped on h2 (sip-icmp $icmp_drops); the marker is not on the wire"

echo "restart"
pols_before=$(in_host h1 ip xfrm policy | grep -c '^src' || true)
sas_before=$(in_host h1 ip xfrm state | grep -c '^src' || true)
for h in h1 h2; do
	kill -9 "$(cut -d' ' -f1 "$(lab dir)/$h.pid")"
done
sleep 0.5
lab daemon h1 >/dev/null
lab daemon h2 >/dev/null
grep "ESP: SIP over UDP in the kernel" "$(lab dir)/h1.log" | tail -n 1
pols_after=$(in_host h1 ip xfrm policy | grep -c '^src' || true)
sas_after=$(in_host h1 ip xfrm state | grep -c '^src' || true)
((pols_after == pols_before && sas_after == sas_before)) ||
	fail "restart: policies $pols_before -> $pols_after, SAs $sas_before -> $sas_after"
echo "  ok: $pols_after policies and $sas_after SAs kept, none added twice"
lab capture start --file "$work/again.pcap" >/dev/null
calls_round again || fail "calls after the restart"
lab capture stop >/dev/null 2>&1
read -r esp sip udp <<<"$(count "$work/again.pcap")"
((esp > 0 && sip == 0)) || fail "after the restart: $esp ESP frames, $sip cleartext SIP bytes"
echo "  ok: after the restart $esp ESP frames, 0 cleartext SIP bytes"

echo "rekey"
for h in h1 h2; do
	kill "$(cut -d' ' -f1 "$(lab dir)/$h.pid")"
done
sleep 0.5
for h in h1 h2; do
	in_host "$h" ip xfrm state flush
done
printf '[global]\nesp_lifetime = 12\n' >"$work/short.conf"
lab daemon h1 --conf-append "$work/short.conf" >/dev/null
lab daemon h2 --conf-append "$work/short.conf" >/dev/null
calls_round short || fail "calls with short-lived SAs"
spis() { in_host "$1" ip xfrm state | awk '/spi/ { print $4 }' | sort | tr '\n' ' '; }
first=$(spis h1)
sleep 16
grep -q "ESP: rekey for" "$(lab dir)/h1.log" "$(lab dir)/h2.log" ||
	fail "no rekey at the soft expiry"
second=$(spis h1)
for spi in $first; do
	[[ " $second " == *" $spi "* ]] && fail "SA $spi outlived its lifetime"
done
[[ -n ${second// /} ]] || fail "no SA after the rekey"
echo "  ok: SPIs $first-> $second($(grep -h -m1 'ESP: rekey for' "$(lab dir)/h1.log" "$(lab dir)/h2.log" | head -n1 | cut -d' ' -f3-))"
lab capture start --file "$work/rekeyed.pcap" >/dev/null
calls_round rekeyed || fail "calls after the rekey"
lab capture stop >/dev/null 2>&1
read -r esp sip udp <<<"$(count "$work/rekeyed.pcap")"
((esp > 0 && sip == 0)) || fail "after the rekey: $esp ESP frames, $sip cleartext SIP bytes"
echo "  ok: after the rekey $esp ESP frames, 0 cleartext SIP bytes"
echo "PASS"
