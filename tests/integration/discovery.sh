#!/usr/bin/env bash
# Cleartext discovery with the framework draft's pre-shared crypto-system
# (daemon/discovery.c, docs/discovery.md), in a three-host lab where no
# daemon has a certificate, only keys:
#   discovery  h1 and h2 share a key and `discovery = psk`: an unmodified
#              SIPp call over UDP from h1 to h2 starts with an
#              authenticated OPTIONS between the daemons (port 5062) and
#              its authenticated answer; the outcome (tls: this kernel has
#              no ESP) carries the call in a TLS channel the same key
#              authenticates. Every call completes; the only cleartext SIP
#              on the wire is the discovery, on port 5062, each message
#              with its message/sip-secure attachment; nothing on 5060.
#   egress     another program on h1 sending that same OPTIONS is dropped
#              by h1's eBPF layer: it never reaches h2
#   forged     with h1's enforcement in monitor mode, h2 rejects and counts
#              a replay of h1's OPTIONS, a copy with one byte of its
#              Supports list changed, a copy without its attachment, and
#              one from h3, which has no key h2 knows
#   wrong key  h3 has the wrong key for h2: h2 rejects its offers, h3
#              gives up, and the program's datagrams never leave h3 in
#              the clear
# Exit 0 pass, 1 fail, 77 skip ("SKIP: reason").
set -euo pipefail

. "$(dirname "$0")/lib.bash"
SIPSECD=$repo/build/sipsecd
UDPPROBE=$repo/build/tests/integration/udpprobe
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
for t in openssl sipp tshark tcpdump python3; do
	command -v "$t" >/dev/null || skip "$t is missing (scripts/deps.sh)"
done
[[ -x $UDPPROBE && -x $SHIM && -x $CTL && -x $SIPSECD ]] || { echo "build first (make)"; exit 1; }

lab_begin disc
calls=${CALLS:-5}

key() {
	(umask 077 && openssl rand -hex 32 >"$work/$1.psk")
	echo "$work/$1.psk"
}

# keyed_daemon HOST SECTIONS [GLOBAL-LINES]: sipsecd in HOST with keys
# only. SIPp's URIs name addresses, the keys name hosts: the identity
# check is off (identity.sh and udp.sh test it).
keyed_daemon() {
	local h=$1 sections=$2 extra=${3:-} conf=$work/$1.conf
	{
		printf '[global]\nlog_level = debug\nname = %s.psk.test\n' "$h"
		printf 'pin_dir = /sys/fs/bpf/sipsec-lab-%s-%s\n' "$lab" "$h"
		printf 'identity_check = off\n%s\n\n%s\n' "$extra" "$sections"
	} >"$conf"
	mkdir -p "/sys/fs/bpf/sipsec-lab-$lab-$h"
	lab exec "$h" -- setsid "$SIPSECD" --foreground --config "$conf" \
		</dev/null >>"$work/$h.log" 2>&1 &
	for _ in $(seq 50); do
		lab exec "$h" -- "$CTL" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	bad "$h: sipsecd not ready:"; tail -5 "$work/$h.log"
	exit 1
}
stop_daemon() {
	lab exec "$1" -- pkill -f "sipsecd --foreground --config $work/$1.conf" || true
	sleep 0.5
}
peer() { # HOST ADDR KEYFILE
	printf '[peer %s]\naddress = %s\nname = %s.psk.test\n' "$1" "$2" "$1"
	printf 'psk = file:%s\npsk_identity = key-%s\ndiscovery = psk\n' "$3" "$(basename "$3" .psk)"
	# Wide, so that the replay below is caught as a replay even on a
	# slow machine (a timestamp outside it is refused first).
	printf 'clock_skew = 120\n\n'
}
disc() { # HOST FIELD: a discovery counter from sipsecctl status
	lab exec "$1" -- "$CTL" --json status |
		python3 -c "import json,sys; print(json.load(sys.stdin)['discovery']['$2'])"
}

lab up --hosts 3 >/dev/null
a1=$(lab addr h1)
a2=$(lab addr h2)
a3=$(lab addr h3)
k12=$(key h1h2)
k32=$(key h3h2)
wrong=$(key wrong)
keyed_daemon h1 "$(peer h2 "$a2" "$k12")"
keyed_daemon h2 "$(peer h1 "$a1" "$k12"; peer h3 "$a3" "$k32")"

echo "discovery"
lab capture start --file "$work/call.pcap" >/dev/null
shimmed h2 timeout 90 sipp -sn uas -t u1 -i "$a2" -p 5060 -m "$calls" -nostdin \
	-fd 1 >"$work/uas.out" 2>&1 &
uas=$!
sleep 1
rc=0
shimmed h1 timeout 90 sipp -sn uac -t u1 -i "$a1" -p 5060 -m "$calls" -r 2 \
	-d 200 -timeout 60 -nostdin -trace_stat -stf "$work/uac.csv" -fd 1 \
	"$a2:5060" >"$work/uac.out" 2>&1 || rc=$?
sleep 0.5
kill "$uas" 2>/dev/null || true
wait "$uas" 2>/dev/null || true
lab capture stop >/dev/null 2>&1
ok_calls=$(python3 -c "
import csv; rows = list(csv.reader(open('$work/uac.csv'), delimiter=';'))
print(dict(zip(rows[0], rows[-1]))['SuccessfulCall(C)'])" 2>/dev/null || echo 0)
if ((rc == 0 && ok_calls == calls)); then
	ok "$ok_calls/$calls SIPp calls over UDP completed"
else
	bad "calls: $ok_calls/$calls completed (SIPp exit $rc)"
fi
grep -q "discovery: offered to $a2:5062" "$work/h1.log" &&
grep -q "discovery: from $a1:5062 (h1.psk.test): verified, tls chosen" "$work/h2.log" &&
grep -q "discovery: $a2:5062 (h2.psk.test) answered: tls" "$work/h1.log" &&
	ok "$(grep -m1 -o 'discovery: from .*' "$work/h2.log")" ||
	bad "the discovery is not logged as expected"
grep -q "to $a2:5061: .*UDP channel" "$work/h1.log" &&
	ok "then $(grep -m1 -o "to $a2:5061: .*UDP channel.*" "$work/h1.log")" ||
	bad "no UDP channel after the discovery"
# Counted from a file: a grep -q ending a pipe could kill tshark with
# SIGPIPE, which pipefail would read as "nothing found".
tshark -r "$work/call.pcap" -Y "udp.port == 5060" >"$work/on5060.txt" 2>/dev/null || true
if [[ -s $work/on5060.txt ]]; then bad "UDP on port 5060 on the wire"
else ok "nothing on UDP port 5060"; fi
python3 - "$work/call.pcap" "$repo" <<'PY' && ok "cleartext SIP only on port 5062, each with its attachment" || bad "cleartext SIP other than the discovery"
import json, subprocess, sys
pcap, repo = sys.argv[1], sys.argv[2]
c = json.loads(subprocess.check_output(["python3", f"{repo}/scripts/capcount.py", "--json", pcap]))
out = subprocess.check_output(["tshark", "-r", pcap, "-Y", "udp.port == 5062",
                               "-T", "fields", "-e", "udp.payload"], text=True)
msgs = [bytes.fromhex(l.replace(":", "")) for l in out.split()]
disc_bytes = sum(len(m) for m in msgs)
print(f"    capture: {c['sip']['bytes']} cleartext SIP bytes, {disc_bytes} of them the "
      f"{len(msgs)} discovery messages; TLS bytes {c['tls']['bytes']}")
ok = (c["sip"]["bytes"] == disc_bytes and c["tls"]["bytes"] > 0 and len(msgs) >= 2
      and all(b"message/sip-secure" in m and b"Authorization: hmac-sha256" in m for m in msgs))
sys.exit(0 if ok else 1)
PY
tshark -r "$work/call.pcap" -Y "udp.dstport == 5062 && ip.src == $a1" -T fields \
	-e udp.payload >"$work/offers.hex" 2>/dev/null || true
head -n1 "$work/offers.hex" | tr -d ':\n' | xxd -r -p >"$work/offer.bin"
[[ -s $work/offer.bin ]] || bad "no offer captured"

echo "egress"
sip_drops() {
	lab exec h1 -- "$CTL" drops -p "/sys/fs/bpf/sipsec-lab-$lab-h1" 2>/dev/null |
		awk '$1 == "sip-request" && $2 == "drop" { print $3 }'
}
before=$(disc h2 received)
d0=$(sip_drops)
lab exec h1 -- "$UDPPROBE" send "$a2" 5062 - <"$work/offer.bin" || true
sleep 1
after=$(disc h2 received)
d1=$(sip_drops)
if ((after == before && d1 == d0 + 1)); then
	ok "another program's OPTIONS from h1 was dropped by h1's eBPF layer (sip-request drops $d0 -> $d1); h2 received nothing"
else
	bad "egress: h2 received $((after - before)), h1's eBPF sip-request drops $d0 -> $d1"
fi

echo "forged"
stop_daemon h1
keyed_daemon h1 "$(peer h2 "$a2" "$k12")" "enforce = monitor"
send_h1() { lab exec h1 -- "$UDPPROBE" send "$a2" 5062 - <"$1" || true; sleep 0.3; }
r0=$(disc h2 rejected_replay)
send_h1 "$work/offer.bin"
r1=$(disc h2 rejected_replay)
((r1 == r0 + 1)) && ok "a replayed offer: rejected, counted as a replay" ||
	bad "replay: $r0 -> $r1"
python3 - "$work/offer.bin" "$work/altered.bin" "$work/stripped.bin" <<'PY'
import sys
m = open(sys.argv[1], "rb").read()
i = m.index(b"X-SIP-SECURE-SUPPORTS:")
j = m.index(b"tls", i)
open(sys.argv[2], "wb").write(m[:j] + b"TLS" + m[j + 3:])
head = m[:m.index(b"\r\n\r\n") + 4]
head = head.replace(head[head.index(b"Content-Type:"):head.index(b"\r\n", head.index(b"Content-Type:")) + 2], b"")
cl = head.index(b"Content-Length:")
head = head[:cl] + b"Content-Length: 0" + head[head.index(b"\r\n", cl):]
open(sys.argv[3], "wb").write(head)
PY
c0=$(disc h2 rejected_checksum)
send_h1 "$work/altered.bin"
c1=$(disc h2 rejected_checksum)
((c1 == c0 + 1)) && ok "an offer with its Supports list changed: rejected (checksum)" ||
	bad "altered: $c0 -> $c1"
o0=$(disc h2 rejected_other)
send_h1 "$work/stripped.bin"
o1=$(disc h2 rejected_other)
((o1 == o0 + 1)) && ok "an offer stripped of its attachment: rejected" ||
	bad "stripped: $o0 -> $o1"
rejected() { lab exec h2 -- "$CTL" --json status | python3 -c "
import json, sys; d = json.load(sys.stdin)['discovery']
print(sum(v for k, v in d.items() if k.startswith('rejected')))"; }
t0=$(rejected)
a0=$(disc h2 accepted)
lab exec h3 -- "$UDPPROBE" send "$a2" 5062 - <"$work/offer.bin" || true
sleep 0.3
t1=$(rejected)
((t1 == t0 + 1 && $(disc h2 accepted) == a0)) &&
	ok "h1's offer sent from h3 (whose key is another): rejected" ||
	bad "forged from h3: rejected $t0 -> $t1"
grep -q "from $a3:[0-9]*: rejected" "$work/h2.log" &&
	ok "h2: $(grep -m1 -o "discovery: from $a3:[0-9]*: rejected.*" "$work/h2.log")" ||
	bad "h2 did not log the forged offer"

echo "    h2: $(lab exec h2 -- "$CTL" status | grep '^discovery')"

echo "wrong key"
keyed_daemon h3 "$(peer h2 "$a2" "$wrong")"
lab capture start --file "$work/wrong.pcap" >/dev/null
for i in 1 2 3; do
	printf 'OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%s\r\nFrom: <sip:h3@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: w%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
		"$a2" "$a3" "$i" "$a3" "$a2" "$i" | shimmed h3 "$UDPPROBE" send "$a2" 5060 - || true
	sleep 1
done
sleep 3
lab capture stop >/dev/null 2>&1
grep -q "discovery: $a2:5062 did not answer" "$work/h3.log" &&
	ok "h3 gave up: $(grep -m1 -o 'discovery: .*did not answer.*' "$work/h3.log")" ||
	bad "h3 did not give up"
grep -q "discovery: from $a3:5062: rejected" "$work/h2.log" &&
	ok "h2: $(grep -m1 -o "discovery: from $a3:5062: rejected.*" "$work/h2.log")" ||
	bad "h2 did not reject h3's offers"
tshark -r "$work/wrong.pcap" -Y "udp.port == 5060" >"$work/wrong5060.txt" 2>/dev/null || true
if [[ -s $work/wrong5060.txt ]]; then bad "h3's datagrams left in the clear"
else ok "nothing of h3's program on UDP port 5060"; fi
for f in "$work"/h[123].log; do
	for k in "$k12" "$k32" "$wrong"; do
		grep -qF "$(cut -c1-16 "$k")" "$f" && bad "$(basename "$f") holds key material"
	done
done
pkill -f "sipsecd --foreground --config $work/" 2>/dev/null || true
lab_finish
