#!/usr/bin/env bash
# The two-host demo: an unmodified SIPp UAC on h1 calls an unmodified SIPp
# UAS on h2, both over TCP and both started with LD_PRELOAD=libsipsec.so,
# with sipsecd on each host. Prints the calls, the mechanism the two
# daemons agreed inside TLS, the data path sipsecd chose and why, and what the capture on the link between the
# hosts holds: cleartext SIP bytes (must be 0) and TLS bytes (must be > 0).
#
# Exit status 0 when every call completed with 0 cleartext SIP bytes and
# TLS bytes > 0 on the wire, and both daemons agreed with each other; 1 otherwise; 77 when it cannot run here.
#
# Environment: CALLS (20), RATE calls/s (10), FAMILY 4 or 6 (4),
# TRANSPORT tcp or udp (tcp; udp goes through the daemons' UDP channel),
# SIPSEC_DEMO_LAB lab name (demo), SIPSEC_DEMO_CONF a file of settings
# added to both daemons' configuration, KEEP=1 keeps logs and capture.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_SH=$REPO/scripts/lab.sh
SHIM=$REPO/build/libsipsec.so
CTL=$REPO/build/sipsecctl
CALLS=${CALLS:-20}
RATE=${RATE:-10}
FAMILY=${FAMILY:-4}
TRANSPORT=${TRANSPORT:-tcp}
case $TRANSPORT in
tcp) sipp_t=t1 ;;
udp) sipp_t=u1 ;;
*) echo "demo: TRANSPORT is tcp or udp" >&2; exit 1 ;;
esac
lab=${SIPSEC_DEMO_LAB:-demo}

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, captures)"
for t in sipp tcpdump tshark nsenter python3; do
	command -v "$t" >/dev/null || skip "$t is missing (scripts/deps.sh demo)"
done
[[ -x $SHIM && -x $CTL && -x $REPO/build/sipsecd ]] ||
	{ echo "demo: build first (make)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-demo.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT
	timeout 60 "$LAB_SH" --lab "$lab" down >/dev/null 2>&1 || true
	if ((rc == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$work"; else
		echo "logs and capture kept in $work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab() { timeout 60 "$LAB_SH" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }

lab down >/dev/null 2>&1 || true
lab up >/dev/null
a1=$(lab addr h1 "$FAMILY")
a2=$(lab addr h2 "$FAMILY")
target=$a2
[[ $FAMILY == 6 ]] && target="[$a2]"
extra=()
[[ -n ${SIPSEC_DEMO_CONF:-} ]] && extra=(--conf-append "$SIPSEC_DEMO_CONF")
lab daemon h1 "${extra[@]}" >/dev/null
lab daemon h2 "${extra[@]}" >/dev/null
cp "$(lab dir)/h1.log" "$work/" 2>/dev/null || true
lab capture start --file "$work/link.pcap" >/dev/null

echo "sipsec demo: h1 ($a1) calls h2 ($a2); SIPp UAC and UAS over ${TRANSPORT^^}, unmodified,"
echo "  each started with LD_PRELOAD=libsipsec.so; sipsecd on each host"

in_host h2 env LD_PRELOAD="$SHIM" SIPSEC_LOG=stderr \
	timeout 120 sipp -sn uas -t $sipp_t -i "$a2" -p 5060 -m "$CALLS" -nostdin \
	-trace_stat -stf "$work/uas.csv" -fd 1 >"$work/uas.out" 2>&1 &
uas=$!
sleep 0.5
# -d: each call holds for a moment, so the connection can be looked at.
in_host h1 env LD_PRELOAD="$SHIM" SIPSEC_LOG=stderr \
	timeout 120 sipp -sn uac -t $sipp_t -i "$a1" -m "$CALLS" -r "$RATE" -d 1000 \
	-timeout 90 -nostdin -trace_stat -stf "$work/uac.csv" -fd 1 \
	"$target:5060" >"$work/uac.out" 2>&1 &
uac=$!
sleep 1.5
in_host h1 "$CTL" --json status >"$work/h1-status.json" || true
in_host h2 "$CTL" --json status >"$work/h2-status.json" || true
uac_rc=0
wait "$uac" || uac_rc=$?
# SIPp's UAS lingers on its last call for a repeated BYE; it has done its
# part once the UAC has.
sleep 0.5
kill "$uas" 2>/dev/null || true
wait "$uas" 2>/dev/null || true
lab capture stop >/dev/null 2>&1
python3 "$REPO/scripts/capcount.py" --json "$work/link.pcap" >"$work/count.json"

python3 - "$work" "$CALLS" "$uac_rc" <<'PY'
import csv, json, sys
work, calls, uac_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def last(path, *cols):
    try:
        rows = list(csv.reader(open(path), delimiter=";"))
        row = dict(zip(rows[0], rows[-1]))
        return [int(row.get(c, "0") or 0) for c in cols]
    except (OSError, IndexError, ValueError):
        return [0] * len(cols)

attempted, ok, failed = last(f"{work}/uac.csv", "OutgoingCall(C)",
                             "SuccessfulCall(C)", "FailedCall(C)")
cnt = json.load(open(f"{work}/count.json"))
sip, tls = cnt["sip"]["bytes"], cnt["tls"]["bytes"]
print(f"calls        {attempted} attempted, {ok} completed, {failed} failed (SIPp exit {uac_rc})")
agreed = 0
for host in ("h1", "h2"):
    try:
        st = json.load(open(f"{work}/{host}-status.json"))
    except (OSError, ValueError):
        print(f"{host}           no status"); continue
    for c in st["connections"][:1]:
        # Two sipsec daemons agree inside TLS (ALPN sipsec/1).
        agreed += c.get("agreement") in ("agreed", "cached")
        print(f"{host} sipsecd  {c['direction']} {c['peer']}: {c['mechanism']} "
              f"({c.get('agreement', '?')}) "
              f"{c['tls_version']} {c['cipher']}, peer {c['peer_name'] or '-'}"
              f"{' verified' if c['name_verified'] else ' (chain verified)'},"
              f" data path {c['data_path']} (kTLS: {c['data_path_reason']}),"
              f" events {st['events']}")
    if not st["connections"]:
        print(f"{host} sipsecd  no connection at the time of the look")
print(f"wire         cleartext SIP bytes {sip}, TLS bytes {tls} "
      f"({cnt['frames']} frames captured on the link)")
good = (uac_rc == 0 and attempted == calls and ok == calls and sip == 0
        and tls > 0 and agreed == 2)
if agreed != 2:
    print(f"agreement    only {agreed} of 2 daemons agreed with the other")
print("result       " + ("PASS: every call protected, nothing in cleartext"
                         if good else "FAIL"))
sys.exit(0 if good else 1)
PY
