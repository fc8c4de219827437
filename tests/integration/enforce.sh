#!/usr/bin/env bash
# eBPF enforcement in the lab: whatever sends cleartext SIP from h1, none
# of it reaches the wire, and each drop is counted by reason.
#
# Senders, all unmodified and unshimmed, from h1 to h2:
#   sipp-udp, sipp-tcp   SIPp UAC -> SIPp UAS on 5060
#   raw-ipv4             Python, IP_HDRINCL raw socket, UDP to port 5999
#   raw-ipv6             Python, IPv6 raw socket (own UDP header), to 5060
#   packet               Python, AF_PACKET: whole Ethernet frames, to 5999
#   uring-udp, uring-tcp sipsend --uring: IORING_OP_SENDMSG (raw syscalls),
#                        UDP to 5060, TCP over IPv6 to 5070 split after 12
#                        bytes ("INVITE sip:b", then the rest)
#   static-tcp, static-udp  sipsend built here with gcc -static: TCP to
#                        5070 split after 20 bytes, UDP over IPv6 to 5999
# Runs, one capture on the lab's bridge per sender and run:
#   enforced    filter on h1's eth0: 0 cleartext SIP bytes for each
#               sender (scripts/capcount.py), and drops counted > 0
#   detached    the same senders with the filter removed: SIP bytes > 0
#               (the capture sees them, so the enforced 0 means something)
#   protected   shimmed SIPp over TLS between sipsecd on h1 and h2, with
#               enforcement on both: every call completes, 0 SIP bytes,
#               TLS bytes > 0, no drop counted
# Also shown, not judged: PACKET_QDISC_BYPASS, the bypass TC cannot see.
#
# How enforcement gets attached: by sipsecd when it does (its pins appear
# in the host's pin folder at start; then the daemon is killed with
# SIGKILL before the senders run, since enforcement must outlive it),
# else by hand: bpftool prog loadall + tc filter add (same handle and
# priority as sipsecd's). Detached with `sipsecctl detach` when sipsecctl
# has it, else with tc.
#
# Exit status: 0 pass, 1 fail, 77 skip (prints "SKIP: reason").
#   CALLS=N (default 3) SIPp calls per run; KEEP=1 keeps logs and captures.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB_SH=$REPO/scripts/lab.sh
CAPCOUNT=$REPO/scripts/capcount.py
OBJ=$REPO/build/bpf/egress.bpf.o
SIPSEND=$REPO/build/tests/integration/sipsend
RAW=$HERE/raw_sip.py
SHIM=$REPO/build/libsipsec.so
export SIPSECD=${SIPSECD:-$REPO/build/sipsecd}
export SIPSECCTL=${SIPSECCTL:-$REPO/build/sipsecctl}
CALLS=${CALLS:-3}
TC_HANDLE=0x5153 # SIPSEC_TC_HANDLE, SIPSEC_TC_PRIORITY in sipsec_abi.h
TC_PRIO=1

skip() {
	echo "SKIP: $*"
	exit 77
}

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, bpf, captures)"
for tool in ip tc bpftool nsenter setsid timeout ss sipp tcpdump tshark \
	python3 gcc; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip "$tool is not installed (scripts/deps.sh test installs it)"
done
for f in "$OBJ" "$SIPSEND" "$SHIM" "$SIPSECD" "$SIPSECCTL"; do
	[[ -e $f ]] || { echo "FAIL: $f is not built (make)" >&2; exit 1; }
done
timeout 5 unshare --net true 2>/dev/null || skip "cannot create network namespaces here"

lab=enf$$
work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-enforce.XXXXXX")
failures=0
sink_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -z $sink_pid ]] || kill "$sink_pid" 2>/dev/null || true
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

lab() { timeout 60 "$LAB_SH" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }
pin_of() { echo "/sys/fs/bpf/sipsec-lab-$lab-$1"; }
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# The static sender: compiled here, as a user would, with no shim
# reachable (a static binary ignores LD_PRELOAD).
STATIC=$work/sipsend-static
gcc -static -O2 -o "$STATIC" "$HERE/sipsend.c" 2>"$work/gcc.log" ||
	skip "gcc -static failed (libc6-dev's libc.a missing?): $(head -c 200 "$work/gcc.log")"

have_ctl=0
"$SIPSECCTL" drops --help >/dev/null 2>&1 && have_ctl=1

# --- attaching and detaching ----------------------------------------------

attach_mode=""

attach_by_hand() {
	local h=$1 pin
	pin=$(pin_of "$h")
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	rm -rf "$pin"
	timeout 60 bpftool prog loadall "$OBJ" "$pin" type classifier \
		pinmaps "$pin" >"$work/bpftool-$h.log" 2>&1 ||
		{ cat "$work/bpftool-$h.log" >&2; return 1; }
	in_host "$h" tc qdisc add dev eth0 clsact 2>/dev/null || true
	in_host "$h" tc filter replace dev eth0 egress prio "$TC_PRIO" \
		handle "$TC_HANDLE" bpf direct-action pinned "$pin/sipsec_tc_egress"
}

# Starts sipsecd in $1; "daemon" if it attached enforcement, else "".
daemon_attaches() {
	local h=$1 pin tenths=30
	pin=$(pin_of "$h")
	lab daemon "$h" >/dev/null
	until [[ -e $pin/sipsec_tc_egress ]]; do
		((tenths-- > 0)) || return 1
		sleep 0.1
	done
	in_host "$h" tc filter show dev eth0 egress | grep -q direct-action
}

enforce_on() {
	local h=$1
	if [[ $attach_mode == daemon ]]; then
		daemon_attaches "$h"
	else
		attach_by_hand "$h"
	fi
}

enforce_off() {
	local h=$1
	if ((have_ctl)); then
		in_host "$h" "$SIPSECCTL" detach --force --pin-dir "$(pin_of "$h")" \
			>>"$work/detach.log"
	else
		in_host "$h" tc filter del dev eth0 egress prio "$TC_PRIO" \
			handle "$TC_HANDLE" bpf
		rm -rf "$(pin_of "$h")"
	fi
	if in_host "$h" tc filter show dev eth0 egress | grep -q direct-action; then
		fail "$h: a filter is still attached after detach"
	fi
}

# Per-reason drop counters of host $1 as "reason packets" lines.
counters() {
	local h=$1 pin
	pin=$(pin_of "$h")
	[[ -e $pin/sipsec_counters ]] || return 0
	if ((have_ctl)); then
		in_host "$h" "$SIPSECCTL" --json drops -a --pin-dir "$pin" |
			python3 -c '
import json, sys
for c in json.load(sys.stdin)["counters"]:
    print(c["reason"], c["packets"])'
	else
		bpftool -j map dump pinned "$pin/sipsec_counters" | python3 -c '
import json, sys
# enum sipsec_reason (sipsec_abi.h)
names = {1: "not-ip", 2: "other-protocol", 3: "no-payload", 4: "not-sip",
         5: "tls", 6: "esp", 7: "fragment", 8: "exempt-peer",
         9: "exempt-mark", 10: "monitor", 11: "disabled",
         16: "sip-request", 17: "sip-response", 18: "sip-flow",
         19: "sip-partial", 20: "sip-port", 21: "sip-fragment",
         22: "sip-padded", 23: "malformed", 24: "unparsed",
         31: "events-lost"}
for e in json.load(sys.stdin):
    f = e["formatted"]
    if f["key"] in names:
        print(names[f["key"]], sum(v["value"]["packets"] for v in f["values"]))'
	fi
}

# Drops between two counter snapshots: "reason=N ..." and the total.
drops_between() {
	python3 - "$1" "$2" <<'EOF'
import sys
def load(p):
    d = {}
    for line in open(p):
        k, v = line.split()
        d[k] = int(v)
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
drop = ("sip-request", "sip-response", "sip-flow", "sip-partial", "sip-port",
        "sip-fragment", "sip-padded", "malformed", "unparsed")
parts, total = [], 0
for k in drop:
    n = b.get(k, 0) - a.get(k, 0)
    if n:
        parts.append("%s=%d" % (k, n))
        total += n
print(total, " ".join(parts) or "-")
EOF
}

sip_bytes() {
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["sip"]["bytes"], r["tls"]["bytes"], r["frames"])' "$1"
}

# --- the senders ------------------------------------------------------------


wait_port() {
	local h=$1 flag=$2 port=$3 tenths=50
	until [[ -n $(in_host "$h" ss "$flag" "sport = :$port") ]]; do
		((tenths-- > 0)) || return 1
		sleep 0.1
	done
}

run_sipp() {
	local mode=$1 name=$2 flag=-Hltn uas
	[[ $mode == u1 ]] && flag=-Hlun
	(cd "$work" && exec timeout 40 "$LAB_SH" --lab "$lab" exec h2 -- \
		sipp -sn uas -t "$mode" -i "$a2" -p 5060 -m "$CALLS" -nostdin \
		-timeout 20s) >"$work/$name-uas.out" 2>&1 &
	uas=$!
	wait_port h2 "$flag" 5060 || fail "$name: the UAS does not listen"
	(cd "$work" && exec timeout 40 "$LAB_SH" --lab "$lab" exec h1 -- \
		sipp -sn uac -t "$mode" -i "$a1" -m "$CALLS" -r 10 -nostdin \
		-timeout 8s -recv_timeout 3000 -timeout_error "$a2:5060") \
		>"$work/$name-uac.out" 2>&1 || true
	kill "$uas" 2>/dev/null || true
	wait "$uas" 2>/dev/null || true
}

# Runs sender $1 once; its output goes to $work/$1-$2.out.
send() {
	local name=$1 run=$2 out=$work/$1-$2.out
	case $name in
	sipp-udp) run_sipp u1 "$name-$run" ;;
	sipp-tcp) run_sipp t1 "$name-$run" ;;
	raw-ipv4) in_host h1 timeout 20 python3 "$RAW" ipv4-hdrincl "$a2" 5999 >"$out" 2>&1 ;;
	raw-ipv6) in_host h1 timeout 20 python3 "$RAW" ipv6-raw "$a2_6" 5060 >"$out" 2>&1 ;;
	packet) in_host h1 timeout 20 python3 "$RAW" packet "$a2" 5999 \
		--dst-mac 02:53:00:00:00:02 >"$out" 2>&1 ;;
	packet-bypass) in_host h1 timeout 20 python3 "$RAW" packet-bypass "$a2" 5999 \
		--dst-mac 02:53:00:00:00:02 >"$out" 2>&1 ;;
	uring-udp) in_host h1 timeout 20 "$SIPSEND" --uring udp "$a2" 5060 >"$out" 2>&1 ;;
	uring-tcp) in_host h1 timeout 20 "$SIPSEND" --uring --split 12 tcp "$a2_6" 5070 >"$out" 2>&1 ;;
	static-tcp) in_host h1 timeout 20 "$STATIC" --split 20 tcp "$a2" 5070 >"$out" 2>&1 ;;
	static-udp) in_host h1 timeout 20 "$STATIC" udp "$a2_6" 5999 >"$out" 2>&1 ;;
	esac
}

declare -a RESULTS=()

# One sender, one run: capture, counters before and after.
case_run() {
	local name=$1 run=$2 pcap=$work/$1-$2.pcap sip tls frames total reasons
	counters h1 >"$work/c-before"
	lab capture start --file "$pcap" >/dev/null
	send "$name" "$run" || true
	# TCP keeps retransmitting what was dropped after the sender is gone;
	# end those connections so the next sender's counts are its own.
	in_host h1 ss -K dst "$a2" >/dev/null 2>&1 || true
	in_host h1 ss -K dst "$a2_6" >/dev/null 2>&1 || true
	lab capture stop >/dev/null 2>"$work/$name-$run-capture.log"
	counters h1 >"$work/c-after"
	timeout 120 "$CAPCOUNT" --json "$pcap" >"$work/$name-$run.json"
	read -r sip tls frames < <(sip_bytes "$work/$name-$run.json")
	read -r total reasons < <(drops_between "$work/c-before" "$work/c-after")
	RESULTS+=("$(printf '%-14s %-9s %10s %7s %8s  %s' "$name" "$run" "$sip" \
		"$frames" "$total" "$reasons")")
	case $run in
	enforced)
		((sip == 0)) || fail "$name: $sip cleartext SIP bytes on the wire with enforcement on"
		((total > 0)) || fail "$name: no drop counted"
		;;
	detached)
		((sip > 0)) || fail "$name: no SIP bytes on the wire without enforcement (did it send?)"
		((total == 0)) || fail "$name: $total drops counted while detached"
		;;
	bypass)
		echo "known bypass: PACKET_QDISC_BYPASS put $sip cleartext SIP bytes on the wire, $total counted (documented in docs/enforcement.md)"
		;;
	esac
}

SENDERS=(sipp-udp sipp-tcp raw-ipv4 raw-ipv6 packet uring-udp uring-tcp
	static-tcp static-udp)

echo "enforcement lab: lab '$lab', logs in $work"
lab up --hosts 2 >"$work/up.log"
a1=$(lab addr h1 4)
a2=$(lab addr h2 4)
a2_6=$(lab addr h2 6)

# A TCP sink on h2 for the senders that need a connection (for the whole
# test: not under lab()'s timeout).
"$LAB_SH" --lab "$lab" exec h2 -- python3 -c '
import socket, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 5070)); s.listen(16)
def drain(c):
    while c.recv(65536): pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
' >"$work/sink.out" 2>&1 &
sink_pid=$!
wait_port h2 -Hltn 5070 || { echo "FAIL: the TCP sink does not listen" >&2; exit 1; }

if daemon_attaches h1 2>"$work/daemon-h1.err"; then
	attach_mode=daemon
	echo "attached by sipsecd; killing it (SIGKILL): enforcement must stay"
	lab stop h1 --signal KILL >/dev/null
	in_host h1 tc filter show dev eth0 egress | grep -q direct-action ||
		fail "the filter went with the daemon"
else
	attach_mode=bpftool
	lab stop h1 >/dev/null 2>&1 || true
	echo "sipsecd does not attach enforcement (not integrated yet): attaching with bpftool and tc"
	attach_by_hand h1
fi
echo "detach with: $( ((have_ctl)) && echo "sipsecctl detach" || echo "tc filter del")"

for s in "${SENDERS[@]}"; do
	case_run "$s" enforced
done
case_run packet-bypass bypass
enforce_off h1
for s in "${SENDERS[@]}"; do
	case_run "$s" detached
done

# --- protected flows are unaffected ----------------------------------------

pcap=$work/protected.pcap
for h in h1 h2; do
	if [[ $attach_mode == daemon ]]; then
		lab daemon "$h" >/dev/null
	else
		attach_by_hand "$h"
		lab daemon "$h" >/dev/null
	fi
done
counters h1 >"$work/p1-before"
counters h2 >"$work/p2-before"
lab capture start --file "$pcap" >/dev/null
in_host h2 env LD_PRELOAD="$SHIM" SIPSEC_LOG=stderr timeout 60 \
	sipp -sn uas -t t1 -i "$a2" -p 5060 -m "$CALLS" -nostdin \
	-trace_stat -stf "$work/protected-uas.csv" -fd 1 \
	>"$work/protected-uas.out" 2>&1 &
uas=$!
wait_port h2 -Hltn 5060 || fail "protected: the UAS does not listen"
uac_rc=0
(cd "$work" && exec timeout 60 "$LAB_SH" --lab "$lab" exec h1 -- env \
	LD_PRELOAD="$SHIM" SIPSEC_LOG=stderr sipp -sn uac -t t1 -i "$a1" \
	-m "$CALLS" -r 10 -timeout 30 -nostdin -trace_stat \
	-stf "$work/protected-uac.csv" -fd 1 "$a2:5060") \
	>"$work/protected-uac.out" 2>&1 || uac_rc=$?
sleep 0.5
kill "$uas" 2>/dev/null || true
wait "$uas" 2>/dev/null || true
lab capture stop >/dev/null 2>"$work/protected-capture.log"
counters h1 >"$work/p1-after"
counters h2 >"$work/p2-after"
timeout 120 "$CAPCOUNT" --json "$pcap" >"$work/protected.json"
read -r psip ptls pframes < <(sip_bytes "$work/protected.json")
read -r d1 r1 < <(drops_between "$work/p1-before" "$work/p1-after")
read -r d2 r2 < <(drops_between "$work/p2-before" "$work/p2-after")
ok_calls=$(python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
print(dict(zip(rows[0], rows[-1])).get("SuccessfulCall(C)", 0))' \
	"$work/protected-uac.csv" 2>/dev/null || echo 0)
((uac_rc == 0 && ok_calls == CALLS)) ||
	fail "protected: $ok_calls of $CALLS calls completed (SIPp exit $uac_rc)"
((psip == 0)) || fail "protected: $psip cleartext SIP bytes"
((ptls > 0)) || fail "protected: no TLS bytes: nothing was protected"
((d1 == 0 && d2 == 0)) || fail "protected: drops counted (h1: $r1; h2: $r2)"

echo
printf '%-14s %-9s %10s %7s %8s  %s\n' sender run sip-bytes frames drops \
	"drops by reason (h1)"
for line in "${RESULTS[@]}"; do
	echo "$line"
done
printf '%-14s %-9s %10s %7s %8s  %s\n' shimmed-sipp protected "$psip" \
	"$pframes" "$((d1 + d2))" "calls $ok_calls/$CALLS, TLS bytes $ptls"
echo "(attached by $attach_mode; sip-bytes: capcount on the bridge)"

if ((failures)); then
	echo "FAIL: $failures check(s) failed"
	exit 1
fi
echo "PASS: no sender put cleartext SIP on the wire with enforcement on; all did without it; protected calls unaffected"
