#!/usr/bin/env bash
# Cleartext discovery with a pre-shared key, then ESP, on a kernel with
# esp4: h1 and h2 have no certificate, only a shared key and
# `discovery = psk`. An unmodified SIPp call over UDP under the shim raises
# an ACQUIRE on h1; the daemons agree on port 5062 with authenticated
# attachments, choose ipsec (keying psk), and key the SAs with HKDF from
# the key and both nonces. Every call completes, the capture holds ESP,
# the only cleartext SIP is the two discovery messages on port 5062, and
# both daemons log SAs keyed from the pre-shared key.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$repo/scripts/lab.sh
shim=$repo/build/libsipsec.so
ctl=$repo/build/sipsecctl
sipsecd=$repo/build/sipsecd
lab=vdisc
calls=${CALLS:-3}

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
for t in sipp tcpdump tshark nsenter python3 openssl; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is missing"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/disc-esp.XXXXXX")
lab() { timeout 120 "$lab_sh" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	local rc=$?
	trap - EXIT
	if ((rc != 0)); then
		for h in h1 h2; do
			echo "--- $h sipsecd log"
			tail -n 40 "$work/$h.log" 2>/dev/null || true
		done
		tail -n 20 "$work"/*.out 2>/dev/null || true
	fi
	pkill -f "sipsecd --foreground --config $work/" 2>/dev/null || true
	lab down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

keyed_daemon() { # HOST PEER PEER-ADDR
	local h=$1 conf=$work/$1.conf
	{
		printf '[global]\nlog_level = debug\nname = %s.psk.test\n' "$h"
		printf 'pin_dir = /sys/fs/bpf/sipsec-lab-%s-%s\n' "$lab" "$h"
		printf 'identity_check = off\n\n[peer %s]\naddress = %s\n' "$2" "$3"
		printf 'name = %s.psk.test\npsk = file:%s\n' "$2" "$work/key.psk"
		printf 'psk_identity = key-h1h2\ndiscovery = psk\n'
	} >"$conf"
	mkdir -p "/sys/fs/bpf/sipsec-lab-$lab-$h"
	lab exec "$h" -- setsid "$sipsecd" --foreground --config "$conf" \
		</dev/null >>"$work/$h.log" 2>&1 &
	for _ in $(seq 100); do
		in_host "$h" "$ctl" status >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "$h: sipsecd not ready"
}

lab down >/dev/null 2>&1 || true
lab up >/dev/null
a1=$(lab addr h1 4)
a2=$(lab addr h2 4)
(umask 077 && openssl rand -hex 32 >"$work/key.psk")
keyed_daemon h1 h2 "$a2"
keyed_daemon h2 h1 "$a1"
grep -m1 "ESP: SIP over UDP in the kernel" "$work/h1.log" ||
	fail "h1's sipsecd did not take the ESP path"
lab capture start --file "$work/call.pcap" >/dev/null
in_host h2 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 150 sipp -sn uas -t u1 -i "$a2" -p 5060 -m "$calls" \
	-nostdin -fd 1 >"$work/uas.out" 2>&1 &
uas=$!
sleep 2
rc=0
in_host h1 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 150 sipp -sn uac -t u1 -i "$a1" -p 5060 -m "$calls" \
	-r 1 -d 500 -timeout 120 -nostdin -trace_stat \
	-stf "$work/uac.csv" -fd 1 "$a2:5060" >"$work/uac.out" 2>&1 || rc=$?
sleep 0.5
kill "$uas" 2>/dev/null || true
wait "$uas" 2>/dev/null || true
lab capture stop >/dev/null 2>&1
python3 - "$work" "$calls" "$rc" "$repo" <<'PY'
import csv, json, subprocess, sys
work, calls, rc, repo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = list(csv.reader(open(f"{work}/uac.csv"), delimiter=";"))
row = dict(zip(rows[0], rows[-1]))
ok = int(row["SuccessfulCall(C)"])
c = json.loads(subprocess.check_output(["python3", f"{repo}/scripts/capcount.py", "--json", f"{work}/call.pcap"]))
out = subprocess.check_output(["tshark", "-r", f"{work}/call.pcap", "-Y", "udp.port == 5062",
                               "-T", "fields", "-e", "udp.payload"], text=True)
msgs = [bytes.fromhex(l.replace(":", "")) for l in out.split()]
disc = sum(len(m) for m in msgs)
print(f"calls {ok}/{calls} (SIPp exit {rc}); wire: {c['esp']['frames']} ESP frames, "
      f"{c['sip']['bytes']} cleartext SIP bytes, {disc} of them {len(msgs)} discovery messages")
good = (rc == 0 and ok == calls and c["esp"]["frames"] > 0 and c["sip"]["bytes"] == disc
        and len(msgs) >= 2 and all(b"message/sip-secure" in m for m in msgs))
sys.exit(0 if good else 1)
PY
for h in h1 h2; do
	grep -m1 -o "discovery: .*ipsec.*" "$work/$h.log" || fail "$h: no ipsec outcome"
	grep -m1 -o "ESP: SAs with .*from the pre-shared key (HKDF)" "$work/$h.log" ||
		fail "$h: no SA keyed from the pre-shared key"
	in_host "$h" "$ctl" sas
done
grep -qF "$(cut -c1-16 "$work/key.psk")" "$work/h1.log" "$work/h2.log" &&
	fail "a log holds key material"
echo "PASS"
