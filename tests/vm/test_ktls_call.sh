#!/usr/bin/env bash
# The kernel data path end to end: an unmodified SIPp UAC on h1 calls an
# unmodified SIPp UAS on h2 over TCP, both under the shim, sipsecd on each
# host. The two daemons agree inside TLS (sipsec/1) before the hand-over,
# and the shims cross-check identities (identity_check = enforce, the
# default) on the kTLS sockets. Both connections must be on the kernel
# path (kTLS TX and RX on), the capture must hold TLS bytes and no cleartext SIP byte, and both
# daemons are killed with SIGKILL in the middle of the calls and started
# again: the calls must go on and complete (nothing of the kernel path
# depends on the daemon after the handoff).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$repo/scripts/lab.sh
shim=$repo/build/libsipsec.so
ctl=$repo/build/sipsecctl
lab=vktls
calls=${CALLS:-6}

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
for t in sipp tcpdump tshark nsenter python3; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is missing"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/ktls-call.XXXXXX")
lab() { timeout 120 "$lab_sh" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }
cleanup() {
	local rc=$?
	trap - EXIT
	if ((rc != 0)); then
		for h in h1 h2; do
			echo "--- $h sipsecd log"
			tail -n 30 "$(lab dir)/$h.log" 2>/dev/null || true
		done
		tail -n 20 "$work/uac.out" "$work/uas.out" 2>/dev/null || true
	fi
	lab down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

lab down >/dev/null 2>&1 || true
lab up >/dev/null
a1=$(lab addr h1 4)
a2=$(lab addr h2 4)
lab daemon h1 >/dev/null
lab daemon h2 >/dev/null
grep -m1 "kernel offers" "$(lab dir)/h1.log" || true
lab capture start --file "$work/link.pcap" >/dev/null

in_host h2 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 150 sipp -sn uas -t t1 -i "$a2" -p 5060 -m "$calls" -nostdin \
	-fd 1 >"$work/uas.out" 2>&1 &
uas=$!
sleep 1
# Calls hold 6 s each, one a second, so the daemons die while calls are
# up (under TCG the program takes seconds to start: wait for the status).
in_host h1 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 150 sipp -sn uac -t t1 -i "$a1" -m "$calls" -r 1 -d 6000 \
	-timeout 120 -nostdin -trace_stat -stf "$work/uac.csv" -fd 1 \
	"$a2:5060" >"$work/uac.out" 2>&1 &
uac=$!
for _ in $(seq 60); do
	in_host h1 "$ctl" --json status 2>/dev/null | grep -q '"data_path"' && break
	sleep 0.5
done
in_host h1 "$ctl" --json status >"$work/h1.json"
in_host h2 "$ctl" --json status >"$work/h2.json"
in_host h1 "$ctl" status | sed -n '/^DIR/,$p'
for h in h1 h2; do
	python3 - "$work/$h.json" "$h" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
cs = st["connections"]
assert cs, f"{sys.argv[2]}: no connection"
for c in cs:
    print(f"{sys.argv[2]}: {c['direction']} {c['peer']} {c['tls_version']} "
          f"{c['cipher']} path {c['data_path']} tx {c['ktls_tx']} rx {c['ktls_rx']} "
          f"agreement {c.get('agreement')}")
    assert c["data_path"] == "kernel", c
    assert c["ktls_tx"] and c["ktls_rx"], c
    # The two daemons agreed inside TLS before the keys went to the
    # kernel: TLS 1.3 receive then starts past the agreement's records.
    assert c.get("agreement") in ("agreed", "cached"), c
PY
done

echo "SIGKILL to both sipsecd mid-call, then restart"
for h in h1 h2; do
	kill -9 "$(cut -d' ' -f1 "$(lab dir)/$h.pid")"
done
sleep 0.5
lab daemon h1 >/dev/null
lab daemon h2 >/dev/null

rc=0
wait "$uac" || rc=$?
sleep 0.5
kill "$uas" 2>/dev/null || true
wait "$uas" 2>/dev/null || true
lab capture stop >/dev/null 2>&1
python3 "$repo/scripts/capcount.py" --json "$work/link.pcap" >"$work/count.json"
python3 - "$work" "$calls" "$rc" <<'PY'
import csv, json, sys
work, calls, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.reader(open(f"{work}/uac.csv"), delimiter=";"))
row = dict(zip(rows[0], rows[-1]))
ok = int(row["SuccessfulCall(C)"]); failed = int(row["FailedCall(C)"])
cnt = json.load(open(f"{work}/count.json"))
sip, tls = cnt["sip"]["bytes"], cnt["tls"]["bytes"]
print(f"calls {ok}/{calls} completed, {failed} failed (SIPp exit {rc}); "
      f"wire: cleartext SIP bytes {sip}, TLS bytes {tls}")
sys.exit(0 if rc == 0 and ok == calls and sip == 0 and tls > 0 else 1)
PY
