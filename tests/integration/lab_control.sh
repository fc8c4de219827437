#!/usr/bin/env bash
# The lab's control run: no shim, no daemon.  An unmodified SIPp UAC in h1
# calls an unmodified SIPp UAS in h2, over TCP and UDP, IPv4 and IPv6, with
# a capture on the lab's bridge for each run.  It proves that the lab
# carries SIP and that scripts/capcount.py sees it: every call completes,
# the capture holds cleartext SIP (> 0 bytes, the expected requests and
# responses, the same counts as tshark's own SIP dissector) and no TLS or
# ESP.  The protected runs compare against this.
#
# Exit status: 0 pass, 1 fail, 77 skip (prints "SKIP: reason").
#   CALLS=N (default 10) calls per run; KEEP=1 keeps the logs and captures.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB_SH=$REPO/scripts/lab.sh
CAPCOUNT=$REPO/scripts/capcount.py
CALLS=${CALLS:-10}
SIP_PORT=5060

skip() {
	echo "SKIP: $*"
	exit 77
}

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, captures)"
for tool in ip nsenter setsid timeout ss sipp tcpdump tshark python3; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip "$tool is not installed (scripts/deps.sh test installs it)"
done
timeout 5 unshare --net true 2>/dev/null ||
	skip "cannot create network namespaces here"
[[ $CALLS =~ ^[1-9][0-9]*$ ]] || {
	echo "CALLS must be a positive number" >&2
	exit 1
}

lab=ctl$$
work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-lab-control.XXXXXX")
failures=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	timeout 60 "$LAB_SH" down --lab "$lab" >"$work/down.log" 2>&1 ||
		{ echo "warning: lab teardown failed:" >&2; cat "$work/down.log" >&2; }
	if ((rc == 0)) && [[ -z ${KEEP:-} ]]; then
		rm -rf "$work"
	else
		echo "logs and captures kept in $work" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lab() { timeout 30 "$LAB_SH" --lab "$lab" "$@"; }

# Long commands run in the background and are waited for, so that a
# signal to this script is acted on at once, not when they end.
run() {
	"$@" &
	wait $!
}

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# Counters from the last row of a SIPp -trace_stat file: each argument
# VAR=COLUMN prints VAR=<value>, for eval.
sipp_stats() {
	python3 - "$@" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
vals = dict(zip(rows[0], rows[-1]))
for spec in sys.argv[2:]:
    var, col = spec.split("=", 1)
    v = vals.get(col, "0") or "0"
    print("%s=%d" % (var, int(v) if v.isdigit() else -1))
EOF
}

# Selected capcount figures as NAME=VALUE lines.
cap_figures() {
	python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s, t, e, ts = r["sip"], r["tls"], r["esp"], r["tshark"]
for k, v in (("frames", r["frames"]), ("sip_bytes", s["bytes"]),
             ("sip_frames", s["frames"]), ("sip_req", s["requests"]),
             ("sip_resp", s["responses"]), ("sip_tcp", s["tcp_bytes"]),
             ("sip_udp", s["udp_bytes"]), ("sip_v4", s["ipv4_bytes"]),
             ("sip_v6", s["ipv6_bytes"]), ("tls_bytes", t["bytes"]),
             ("esp_bytes", e["bytes"]), ("ts_sip_frames", ts["sip_frames"]),
             ("ts_tls_frames", ts["tls_frames"]),
             ("ts_req", ts["sip_requests"]), ("ts_resp", ts["sip_responses"])):
    print("%s=%d" % (k, v))
EOF
}

wait_listening() {
	local host=$1 proto=$2 tenths=50 flag=-Hltn
	[[ $proto == udp ]] && flag=-Hlun
	until [[ -n $(lab exec "$host" -- ss "$flag" "sport = :$SIP_PORT") ]]; do
		((tenths-- > 0)) || return 1
		sleep 0.1
	done
}

declare -a RESULTS=()

# One run: CALLS calls from h1 to h2 over transport $1 (t1 or u1) and IP
# version $2, captured on the bridge.
run_case() {
	local mode=$1 ipv=$2 proto=tcp name a1 a2 remote pcap uas_pid
	local uac_rc=0 uas_rc=0 ok=1
	[[ $mode == u1 ]] && proto=udp
	name=$proto-ipv$ipv
	a1=$(lab addr h1 "$ipv")
	a2=$(lab addr h2 "$ipv")
	remote=$a2:$SIP_PORT
	[[ $ipv == 6 ]] && remote="[$a2]:$SIP_PORT"
	pcap=$work/$name.pcap

	lab capture start --file "$pcap" >/dev/null
	(cd "$work" && exec timeout 60 "$LAB_SH" --lab "$lab" exec h2 -- \
		sipp -sn uas -t "$mode" -i "$a2" -p "$SIP_PORT" -m "$CALLS" \
		-nostdin -timeout 40s -timeout_error \
		-trace_stat -stf "$work/$name-uas.csv" -fd 1 \
		-trace_err -error_file "$work/$name-uas.err") \
		>"$work/$name-uas.out" 2>&1 &
	uas_pid=$!
	if ! wait_listening h2 "$proto"; then
		fail "$name: the UAS is not listening on $a2 $proto/$SIP_PORT"
		ok=0
	fi
	if ((ok)); then
		(cd "$work" && exec timeout 60 "$LAB_SH" --lab "$lab" exec h1 -- \
			sipp -sn uac -t "$mode" -i "$a1" -m "$CALLS" -r 20 -rp 1000 \
			-nostdin -timeout 30s -timeout_error -recv_timeout 5000 \
			-trace_stat -stf "$work/$name-uac.csv" -fd 1 \
			-trace_err -error_file "$work/$name-uac.err" "$remote") \
			>"$work/$name-uac.out" 2>&1 &
		wait $! || uac_rc=$?
	fi
	wait "$uas_pid" || uas_rc=$?
	lab capture stop >/dev/null 2>"$work/$name-capture.log"
	((ok)) || return 0

	timeout 120 "$CAPCOUNT" --json --sip-ports "$SIP_PORT" "$pcap" \
		>"$work/$name.json"
	timeout 120 "$CAPCOUNT" --sip-ports "$SIP_PORT" "$pcap" >"$work/$name.txt"

	local uac_out=0 uac_ok=0 uac_fail=0 uas_in=0 uas_ok=0 uas_fail=0
	local uas_tcpclosed=0
	if [[ -s $work/$name-uac.csv ]]; then
		eval "$(sipp_stats "$work/$name-uac.csv" 'uac_out=OutgoingCall(C)' \
			'uac_ok=SuccessfulCall(C)' 'uac_fail=FailedCall(C)')"
	fi
	if [[ -s $work/$name-uas.csv ]]; then
		eval "$(sipp_stats "$work/$name-uas.csv" 'uas_in=IncomingCall(C)' \
			'uas_ok=SuccessfulCall(C)' 'uas_fail=FailedCall(C)' \
			'uas_tcpclosed=FailedTcpClosed(C)')"
	fi

	local frames sip_bytes sip_frames sip_req sip_resp sip_tcp sip_udp
	local sip_v4 sip_v6 tls_bytes esp_bytes ts_sip_frames ts_tls_frames
	local ts_req ts_resp
	eval "$(cap_figures "$work/$name.json")"

	# Calls: the UAC saw every call through (200 to INVITE and to BYE).
	((uac_rc == 0)) || fail "$name: the UAC exited with status $uac_rc (see $name-uac.out)"
	((uac_out == CALLS && uac_ok == CALLS && uac_fail == 0)) ||
		fail "$name: UAC made $uac_out call(s), $uac_ok completed, $uac_fail failed; want $CALLS completed"
	((uas_in == CALLS)) || fail "$name: the UAS received $uas_in call(s), want $CALLS"
	if [[ $proto == udp ]]; then
		((uas_rc == 0 && uas_ok == CALLS)) ||
			fail "$name: the UAS exited with status $uas_rc, $uas_ok call(s) completed"
	else
		# Over TCP the UAC closes its connection as soon as its last call
		# ends, while the UAS still holds that call in its 4 s timewait
		# (kept to answer a retransmitted BYE); SIPp counts it as
		# FailedTcpClosed.  The 200 to that BYE is on the wire and the
		# UAC counted the call completed, so only that one is tolerated.
		((uas_ok + uas_tcpclosed == CALLS && uas_fail == uas_tcpclosed &&
			uas_tcpclosed <= 1 && (uas_rc == 0 || uas_rc == 1))) ||
			fail "$name: the UAS exited with status $uas_rc, $uas_ok completed, $uas_fail failed ($uas_tcpclosed on TCP close)"
	fi

	# Capture: cleartext SIP, all of it on this transport and IP version,
	# every message of every call, nothing protected.
	((sip_bytes > 0)) || fail "$name: no cleartext SIP bytes in the capture"
	((tls_bytes == 0)) || fail "$name: $tls_bytes TLS bytes in a run without TLS"
	((esp_bytes == 0)) || fail "$name: $esp_bytes ESP bytes in a run without IPsec"
	local by_proto=$sip_tcp by_ip=$sip_v4
	[[ $proto == udp ]] && by_proto=$sip_udp
	[[ $ipv == 6 ]] && by_ip=$sip_v6
	((by_proto == sip_bytes && by_ip == sip_bytes)) ||
		fail "$name: SIP bytes not all $proto/IPv$ipv ($by_proto, $by_ip of $sip_bytes)"
	# INVITE, ACK, BYE; 180, 200, 200 per call (more if UDP retransmits).
	((sip_req >= 3 * CALLS && sip_resp >= 3 * CALLS)) ||
		fail "$name: $sip_req SIP request(s), $sip_resp response(s) in the capture; want >= $((3 * CALLS)) each"
	((ts_req == sip_req && ts_resp == sip_resp)) ||
		fail "$name: tshark counts $ts_req request(s) and $ts_resp response(s), capcount $sip_req and $sip_resp"
	((ts_tls_frames == 0)) || fail "$name: tshark sees $ts_tls_frames TLS frame(s)"

	RESULTS+=("$(printf '%-9s %5d %5d %5d %6d %6d %7d %8d %10d %5d/%-5d %9d %9d %7d %6d %5d/%-5d' \
		"$name" "$uac_out" "$uac_ok" "$uac_fail" "$uas_in" "$uas_ok" \
		"$frames" "$sip_frames" "$sip_bytes" "$sip_req" "$sip_resp" "$tls_bytes" \
		"$esp_bytes" "$ts_sip_frames" "$ts_tls_frames" "$ts_req" "$ts_resp")")
}

echo "lab control run: lab '$lab', $CALLS call(s) per run, logs in $work"
run lab up --hosts 2 >"$work/up.log"
for spec in t1:4 u1:4 t1:6 u1:6; do
	run_case "${spec%:*}" "${spec#*:}"
done

echo
printf '%-9s %5s %5s %5s %6s %6s %7s %8s %10s %11s %9s %9s %7s %6s %11s\n' \
	run calls 'done' fail uas-in uas-ok frames sip-frm sip-bytes sip-req/rsp \
	tls-bytes esp-bytes ts-sip ts-tls ts-req/rsp
for line in "${RESULTS[@]}"; do
	echo "$line"
done
echo "(calls/done/fail: UAC; uas-in/uas-ok: UAS; sip-*, tls-, esp-: capcount;"
echo " ts-*: frames and messages tshark's own dissectors found)"

if ((failures)); then
	echo "FAIL: $failures check(s) failed"
	exit 1
fi
echo "PASS: every call completed; cleartext SIP seen, no TLS, no ESP"
