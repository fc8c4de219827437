#!/usr/bin/env bash
# A call through an unmodified Kamailio over TLS on the kernel path: a
# shimmed SIPp UAC on h1 calls through Kamailio on h3 (TLS on 5061, client
# certificates required; tests/integration/kamailio/) to a shimmed SIPp
# UAS on h2, which hangs up (Kamailio relays that BYE over the UAC's own
# connection). Kamailio's OpenSSL sends session tickets after the
# handshake: the shim's read path must consume them. Requires: every call
# completed on both sides; `sipsecctl status` on h1 shows the UAC's
# connection to Kamailio on the kernel path with kTLS TX and RX on (and
# h2's connection from Kamailio too); 0 cleartext SIP bytes and TLS bytes
# > 0 on the link.
#
# The tickets reach h1 around the time SIPp gets its connection, before
# its first INVITE: SIPp waits in epoll and then reads a blocking socket,
# so a readiness report for tickets alone would leave it stuck in recv()
# (hooks_poll.c withdraws such reports).
#
# For debugging: KEEP=DIR keeps the logs, captures, SIPp traces and a
# snapshot of h1's sockets; DBG=1 runs sipsecd with -d, Kamailio with
# debug and SIPp with -trace_msg/-trace_err; STRACE=1 straces the UAC.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$repo/scripts/lab.sh
kdir=$repo/tests/integration/kamailio
shim=$repo/build/libsipsec.so
ctl=$repo/build/sipsecctl
lab=vkkam
calls=${CALLS:-4}

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
for t in sipp tcpdump tshark python3 kamailio; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is missing"; exit 77; }
done
[[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ]] ||
	{ echo "SKIP: kamailio-tls-modules is missing"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ktls-kam.XXXXXX")
lab() { timeout 120 "$lab_sh" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }
kam=""
cleanup() {
	local rc=$?
	trap - EXIT
	[[ -n $kam ]] && { kill "$kam" 2>/dev/null || true; wait "$kam" 2>/dev/null || true; }
	if ((rc != 0)); then
		for h in h1 h2; do
			echo "--- $h sipsecd log"
			tail -n 15 "$(lab dir)/$h.log" 2>/dev/null || true
		done
		grep -vE 'ksr_tls_fill_missing|sig_usr|INFO: <core>' "$work/kam.log" | tail -n 30 || true
		tail -n 8 "$work"/uac.out "$work"/uas.out 2>/dev/null || true
	fi
	if [[ -n ${KEEP:-} ]]; then
		mkdir -p "$KEEP"
		cp -r "$work"/. "$KEEP"/ 2>/dev/null || true
		cp "$(lab dir)"/h*.log "$KEEP"/ 2>/dev/null || true
	fi
	lab down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

lab down >/dev/null 2>&1 || true
lab up --hosts 3 >/dev/null
a1=$(lab addr h1 4)
a2=$(lab addr h2 4)
a3=$(lab addr h3 4)
# Kamailio is a proxy: the requests it relays carry the other parties'
# From and Request-URI, never its own name, so the shims' identity check
# (draft 4.5) must only log for it (tests/integration/kamailio_interop.sh
# checks those log lines); under enforce the UAS would refuse them.
cat >"$work/peer-kam.ini" <<EOF
[peer kam]
address = $a3
name = h3.sipsec.test
identity_check = log
EOF
lab daemon h1 --conf-append "$work/peer-kam.ini" ${DBG:+-- -d} >/dev/null
lab daemon h2 --conf-append "$work/peer-kam.ini" ${DBG:+-- -d} >/dev/null
sed "s#@CERTS@#$(lab dir)/certs#g" "$kdir/tls.cfg.in" >"$work/tls.cfg"
mkdir -p "$work/run"
in_host h3 timeout 200 kamailio -f "$kdir/kamailio.cfg" \
	-A "TLS_CFG=\"$work/tls.cfg\"" -m 64 -M 8 -Y "$work/run" -w "$work/run" \
	${DBG:+-ddd} -DD -E >"$work/kam.log" 2>&1 &
kam=$!
for _ in $(seq 100); do
	in_host h3 ss -Hltn "src $a3:5061" | grep -q . && break
	sleep 0.3
done
in_host h3 ss -Hltn "src $a3:5061" | grep -q . || { echo "Kamailio does not listen"; exit 1; }

echo "$(date +%T) Kamailio listens"
lab capture start --file "$work/link.pcap" >/dev/null
in_host h2 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 120 sipp -sf "$kdir/uas_sends_bye.xml" -t t1 -i "$a2" -p 5060 \
	-m "$calls" -nostdin -timeout 40s -trace_stat -stf "$work/uas.csv" \
	${DBG:+-trace_msg -message_file $work/uas.msg -trace_err -error_file $work/uas.err} -fd 1 >"$work/uas.out" 2>&1 &
uas=$!
for _ in $(seq 50); do
	in_host h2 ss -Hltn "src $a2:5061" | grep -q . && break
	sleep 0.2
done
# One call a second, so the UAC's connection stays up long enough for
# the status to be read while the calls run.
in_host h1 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 120 ${STRACE:+strace -f -tt -s 120 -o $work/uac.strace} sipp -sf "$kdir/uac_far_bye.xml" -t t1 -i "$a1" -m "$calls" \
	-r 1 -nostdin -timeout 40s -recv_timeout 20000 -trace_stat \
	-stf "$work/uac.csv" ${DBG:+-trace_msg -message_file $work/uac.msg -trace_err -error_file $work/uac.err} -fd 1 "$a3:5060" >"$work/uac.out" 2>&1 &
uac=$!
for _ in $(seq 60); do
	in_host h1 "$ctl" --json status 2>/dev/null | grep -q '"data_path"' && break
	sleep 0.3
done
in_host h1 "$ctl" --json status >"$work/h1.json"
in_host h2 "$ctl" --json status >"$work/h2.json"
in_host h1 "$ctl" status | sed -n '/^DIR/,$p'
if [[ -n ${KEEP:-} ]]; then
	# Where the UAC waits, should it hang.
	sleep 8
	{
		in_host h1 ss -tnie
		for p in $(pgrep -x sipp); do
			echo "pid $p $(cat "/proc/$p/wchan")"
			cat "/proc/$p/stack"
		done
	} >"$work/snap-h1.txt" 2>&1 || true
fi

rc=0
wait "$uac" || rc=$?
echo "$(date +%T) UAC done"
wait "$uas" || true
echo "$(date +%T) UAS done"
lab capture stop >/dev/null 2>&1
python3 "$repo/scripts/capcount.py" --json "$work/link.pcap" >"$work/count.json"
python3 - "$work" "$calls" "$rc" "$a3" <<'PY'
import csv, json, sys
work, calls, rc, kam = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ok = True
def stats(f):
    rows = list(csv.reader(open(f), delimiter=";"))
    return dict(zip(rows[0], rows[-1]))
uac, uas = stats(f"{work}/uac.csv"), stats(f"{work}/uas.csv")
print(f"UAC: {uac['SuccessfulCall(C)']}/{calls} calls completed, "
      f"{uac['FailedCall(C)']} failed (SIPp exit {rc}); UAS: "
      f"{uas['SuccessfulCall(C)']} completed, {uas['FailedCall(C)']} failed")
ok &= rc == 0 and int(uac["SuccessfulCall(C)"]) == calls
ok &= int(uas["SuccessfulCall(C)"]) == calls
for h, want in (("h1", f"{kam}:5061"), ("h2", kam)):
    cs = [c for c in json.load(open(f"{work}/{h}.json"))["connections"]
          if c["peer"].startswith(want)]
    if not cs:
        print(f"{h}: no connection with {want} in the status")
        ok &= h != "h1"  # h2's may be gone with a finished call
    for c in cs:
        print(f"{h}: {c['direction']} {c['peer']} {c['tls_version']} "
              f"{c['cipher']} path {c['data_path']} tx {c['ktls_tx']} rx {c['ktls_rx']}")
        ok &= c["data_path"] == "kernel" and c["ktls_tx"] and c["ktls_rx"]
cnt = json.load(open(f"{work}/count.json"))
sip, tls = cnt["sip"]["bytes"], cnt["tls"]["bytes"]
print(f"wire: cleartext SIP bytes {sip}, TLS bytes {tls}")
ok &= sip == 0 and tls > 0
sys.exit(0 if ok else 1)
PY
