#!/usr/bin/env bash
# SIPp calls per second through sipsec against plaintext, over TCP and UDP,
# at equal offered load, with the CPU time each program and each sipsecd
# used. Appends raw lines ("sipp ...") to RESULTS for bench/report.py.
#
#   bench/sipp.sh [--rounds R] [--quick] [--rate CPS] [--seconds S]
#                 [--no-ramp] [--perf] RESULTS
#
# Contenders, run alternately round after round on one lab: plaintext TCP
# and UDP (UAC on h3, UAS on h4: hosts without sipsecd, whose eBPF
# enforcement would drop cleartext SIP), sipsec TCP and UDP (UAC on h1, UAS
# on h2, both under LD_PRELOAD=libsipsec.so, sipsecd on both hosts with
# identity_check = enforce). Unmodified SIPp, built-in scenarios uac/uas,
# -t t1 / -t u1, the same -r and -m for every contender.
#
# Per run: calls attempted/completed/failed, retransmissions, achieved
# calls/s, SIPp's response times (-trace_rtt; SIPp's clock counts whole
# milliseconds), user+system CPU of the UAC and the UAS (GNU time) and of
# each sipsecd (/proc/PID/stat before and after). A sipsec run counts as
# protected only if both daemons show the channel or connection (flow tcp
# or udp, TLS, agreed) while it runs; new warnings in a daemon's log are
# counted. Before the rounds, one short run per sipsec contender under a
# capture of the link (cleartext SIP bytes must be 0).
#
# After the rounds, a ramp: fixed rate steps, each contender until the
# first step it does not sustain (a failed call, or under 90% of the
# rate). --perf adds one sampled run per sipsec contender (perf record and
# perf stat on both daemons), outside the medians. Last, what the eBPF
# enforcement dropped on both sipsec hosts during the whole benchmark.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_SH=$REPO/scripts/lab.sh
SHIM=$REPO/build/libsipsec.so
CTL=$REPO/build/sipsecctl
ROUNDS=5
QUICK=0
RATE=200
SECONDS_RUN=10
RAMP=1
PERF=0
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--quick) QUICK=1; ROUNDS=3; SECONDS_RUN=5; shift ;;
	--rate) RATE=$2; shift 2 ;;
	--seconds) SECONDS_RUN=$2; shift 2 ;;
	--no-ramp) RAMP=0; shift ;;
	--perf) PERF=1; shift ;;
	-h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "sipp bench: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
(($# == 1)) || { echo "usage: bench/sipp.sh [options] RESULTS (--help)" >&2; exit 2; }
results=$1
[[ $(id -u) -eq 0 ]] || { echo "sipp bench: needs root (lab namespaces)" >&2; exit 1; }
for t in sipp python3 /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "sipp bench: $t missing: scripts/deps.sh bench" >&2; exit 1; }
done
if ((PERF)) && ! command -v perf >/dev/null; then
	echo "sipp bench: perf missing (linux-perf), --perf skipped" >&2
	PERF=0
fi

# Rate steps of the ramp, calls/s; each step lasts RAMP_S seconds.
# The ramp runs RAMP_PASSES times: one step is one sample, and a burst of
# lost datagrams can fail a step that the next pass sustains.
if ((QUICK)); then RAMP_STEPS=(800 1600 3200); RAMP_S=2; RAMP_PASSES=1; else
	RAMP_STEPS=(400 800 1600 2400 3200 4800 6400 9600 12800); RAMP_S=3; RAMP_PASSES=2; fi

lab=${SIPSEC_BENCH_LAB:-bench$$}-sipp
work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-sipp.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT
	timeout 60 "$LAB_SH" --lab "$lab" down >/dev/null 2>&1 || true
	((rc == 0)) && rm -rf "$work" || echo "sipp bench: logs kept in $work" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab() { timeout 120 "$LAB_SH" --lab "$lab" "$@"; }

lab up --hosts 4 >/dev/null
# The lab logs at debug by default; a benchmark measures the daemon as
# deployed. identity_check is on (SIPp's messages are real SIP).
printf '[global]\nlog_level = info\nidentity_check = enforce\n' >"$work/sipp.conf"
lab daemon h1 --conf-append "$work/sipp.conf" >/dev/null
lab daemon h2 --conf-append "$work/sipp.conf" >/dev/null
labdir=$(lab dir)
dpid() { awk '{print $1}' "$labdir/$1.pid"; }
d1=$(dpid h1)
d2=$(dpid h2)
declare -A addr
for h in h1 h2 h3 h4; do addr[$h]=$(lab addr "$h"); done
tck=$(getconf CLK_TCK)

cpu_ms() { # pid -> user+system ms so far (threads included)
	sed 's/.*) //' "/proc/$1/stat" | awk -v t="$tck" '{printf "%d", ($12 + $13) * 1000 / t}'
}
sys_ms() { # pid -> system ms so far
	sed 's/.*) //' "/proc/$1/stat" | awk -v t="$tck" '{printf "%d", $13 * 1000 / t}'
}
warns() { grep -c '\[warn\]\|\[error\]' "$labdir/$1.log" || true; }
sock_drops() { # host -> "PROGRAM DAEMON": drops so far on the open UDP sockets of SIPp and sipsecd
	lab exec "$1" -- ss -uanmp | python3 -c '
import re, sys
d = {"sipp": 0, "sipsecd": 0}
for who, mem in re.findall(r"users:\(\(\"([^\"]+)\".*?skmem:\(([^)]*)\)", sys.stdin.read(), re.S):
    m = re.search(r"(?:^|,)d(\d+)", mem)
    if who in d and m:
        d[who] += int(m.group(1))
print(d["sipp"], d["sipsecd"])'
}
udp_errs() { # host -> UDP datagrams its kernel dropped so far (full buffers)
	# shellcheck disable=SC2016 # awk's fields, not the shell's
	# InErrors counts RcvbufErrors too
	lab exec "$1" -- awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $4 + $7}' /proc/net/snmp
}

n=0
run_one() { # contender rate calls phase [perf] -> appends one "sipp" line
	local c=$1 rate=$2 calls=$3 phase=$4 perf=${5:-}
	local kind=${c%-*} tp=${c#*-} st ch sh pre=() d uas uac_rc=0 pp=''
	local d1a d2a s1a s2a w1a w2a ua sampler='' ps='' sd=(0 0) sda=(0 0) x
	[[ $tp == tcp ]] && st=t1 || st=u1
	if [[ $kind == sipsec ]]; then
		ch=h1 sh=h2 pre=(env LD_PRELOAD="$SHIM")
	else
		ch=h3 sh=h4
	fi
	d=$work/run$((++n))-$c-$rate
	mkdir -p "$d"
	d1a=$(cpu_ms "$d1") d2a=$(cpu_ms "$d2") w1a=$(warns h1) w2a=$(warns h2)
	s1a=$(sys_ms "$d1") s2a=$(sys_ms "$d2")
	ua=$(($(udp_errs "$ch") + $(udp_errs "$sh")))
	if [[ $tp == udp ]]; then # the daemons' sockets outlive a run
		for x in "$ch" "$sh"; do
			read -r -a sd <<<"$(sock_drops "$x")"
			sda[1]=$((sda[1] + sd[1]))
		done
	fi
	# exec all the way down (lab.sh execs nsenter, which execs time): $!
	# is GNU time's pid and SIPp its only child.
	(cd "$d" && exec "$LAB_SH" --lab "$lab" exec "$sh" -- /usr/bin/time -o uas.cpu \
		-f '%U %S %e' "${pre[@]}" sipp -sn uas -t "$st" -i "${addr[$sh]}" -p 5060 \
		-nostdin -trace_stat -stf uas.csv >uas.out 2>&1) &
	uas=$!
	sleep 0.5
	if [[ $kind == sipsec ]]; then
		(sleep 1
			lab exec h1 -- "$CTL" --json status >"$d/h1-status.json" 2>/dev/null || true
			lab exec h2 -- "$CTL" --json status >"$d/h2-status.json" 2>/dev/null || true) &
		sampler=$!
	fi
	if [[ -n $perf ]]; then
		perf record -q -g -e cpu-clock -p "$d1,$d2" -o "$d/perf.data" >/dev/null 2>&1 &
		pp=$!
		perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter \
			-p "$d1,$d2" -o "$d/perf.stat" >/dev/null 2>&1 &
		ps=$!
	fi
	(cd "$d" && exec "$LAB_SH" --lab "$lab" exec "$ch" -- /usr/bin/time -o uac.cpu \
		-f '%U %S %e' "${pre[@]}" sipp -sn uac -t "$st" -i "${addr[$ch]}" \
		-r "$rate" -m "$calls" -timeout $((calls / rate + 60)) -recv_timeout 5000 \
		-nostdin -trace_stat -stf uac.csv -trace_rtt -rtt_freq 50 \
		"${addr[$sh]}:5060" >uac.out 2>&1) || uac_rc=$?
	[[ -n $pp ]] && { kill -INT "$pp" "$ps"; wait "$pp" "$ps" || true; }
	[[ -n $sampler ]] && wait "$sampler"
	# Which sockets lost datagrams: the daemons' (their relay sockets
	# outlive a run); the rest were the programs'.
	if [[ $tp == udp ]]; then
		for x in "$ch" "$sh"; do
			read -r -a sd <<<"$(sock_drops "$x")"
			sda[1]=$((sda[1] - sd[1]))
		done
		sda[1]=$((-sda[1]))
	fi
	# The UAS lingers on its last call for a repeated BYE; it has done its
	# part once the UAC has.
	sleep 0.3
	kill "$(pgrep -P "$uas")" 2>/dev/null || true
	wait "$uas" 2>/dev/null || true
	python3 - "$d" "$c" "$phase" "$rate" "$calls" "$uac_rc" \
		$(($(cpu_ms "$d1") - d1a)) $(($(cpu_ms "$d2") - d2a)) \
		$(($(warns h1) - w1a)) $(($(warns h2) - w2a)) \
		$(($(sys_ms "$d1") - s1a + $(sys_ms "$d2") - s2a)) \
		$(($(udp_errs "$ch") + $(udp_errs "$sh") - ua)) "$pass" "${sda[1]}" \
		<<'PY' >>"$results"
import csv, glob, json, sys
d, c, phase, rate, calls, rc, d1, d2, w1, w2, dsys, udperr, npass, ddmn = sys.argv[1:15]
dprog = int(udperr) - int(ddmn)
kind, tp = c.split("-")

def last(path):
    try:
        rows = list(csv.reader(open(path), delimiter=";"))
        return dict(zip(rows[0], rows[-1]))
    except (OSError, IndexError):
        return {}

def cpu(path):  # GNU time's last line: user system elapsed
    try:
        u, s, e = open(path).read().split("\n")[-2].split()
        return round((float(u) + float(s)) * 1000), float(e)
    except (OSError, ValueError, IndexError):
        return -1, 0.0

st = last(f"{d}/uac.csv")
num = lambda k: int(st.get(k, "0") or 0)
att, ok, failed = num("OutgoingCall(C)"), num("SuccessfulCall(C)"), num("FailedCall(C)")
uac_ms, wall = cpu(f"{d}/uac.cpu")
uas_ms, _ = cpu(f"{d}/uas.cpu")
rtt = []
for f in glob.glob(f"{d}/uac_*_rtt.csv"):
    for row in list(csv.reader(open(f), delimiter=";"))[1:]:
        if len(row) >= 2 and row[1].isdigit():
            rtt.append(int(row[1]))
rtt.sort()
pct = lambda p: rtt[min(len(rtt) - 1, int(p * len(rtt)))] if rtt else -1
prot = "-"
if kind == "sipsec":
    # Both daemons must carry this contender's flow in agreed TLS.
    seen = 0
    for h in ("h1", "h2"):
        try:
            conns = json.load(open(f"{d}/{h}-status.json"))["connections"]
        except (OSError, ValueError, KeyError):
            continue
        seen += any(x.get("flow") == tp and x.get("mechanism") == "tls"
                    and x.get("agreement") in ("agreed", "cached") for x in conns)
    prot = "1" if seen == 2 else "0"
# Why calls failed: SIPp's non-zero Failed* counters.
why = ",".join(f"{k[:-3]}:{v}" for k, v in st.items()
               if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)"
               and v not in ("", "0")) or "-"
print(f"sipp {c} phase={phase} pass={npass} rate={rate} calls={calls} rc={rc} attempted={att} "
      f"completed={ok} failed={failed} retrans={num('Retransmissions(C)')} "
      f"wall_s={wall:.2f} cps={ok / wall if wall else 0:.1f} rtt_p50_ms={pct(0.5)} "
      f"rtt_p99_ms={pct(0.99)} uac_cpu_ms={uac_ms} uas_cpu_ms={uas_ms} "
      f"d1_cpu_ms={d1 if kind == 'sipsec' else '-'} d2_cpu_ms={d2 if kind == 'sipsec' else '-'} "
      f"dsys_cpu_ms={dsys if kind == 'sipsec' else '-'} "
      f"warns={int(w1) + int(w2) if kind == 'sipsec' else '-'} protected={prot} "
      f"udp_drops={udperr} drops_prog={dprog if tp == 'udp' else '-'} "
      f"drops_daemon={ddmn if tp == 'udp' and kind == 'sipsec' else '-'} why={why}")
PY
	tail -1 "$results" | cut -d' ' -f2,3,5,8-10 >&2
	if [[ -n $pp && -s $d/perf.data ]]; then
		perf_lines "$c" "$d/perf.data" >>"$results"
	fi
}

perf_lines() { # contender perf.data -> "sippperf" lines: share by DSO, top symbols
	local c=$1 data=$2
	perf report -i "$data" --stdio --no-children --sort dso 2>/dev/null |
		awk -v c="$c" '/^ *[0-9.]+%/ {sub("%", "", $1); if ($1 >= 1) print "sippperf", c, "dso", $1, $2}'
	# Inclusive shares of the system calls and kernel work the daemons do
	# (cpu-clock samples without a PMU land where interrupts come back on,
	# so self time inside the kernel says little).
	perf report -i "$data" --stdio --children --sort sym 2>/dev/null |
		awk -v c="$c" '$1 ~ /^[0-9.]+%$/ && $4 ~ /^(__do_sys_io_uring_enter|ksys_write|ksys_read|__sys_sendmsg|__sys_recvmsg|__sys_sendto|__sys_recvfrom|net_rx_action|schedule)$/ {
			sub("%", "", $1); print "sippperf", c, "kernel", $1, $4 }'
	awk -F, -v c="$c" '$3 != "" && $1 ~ /^[0-9.]+$/ {print "sippperf", c, "stat", $1, $3}' "${data%.data}.stat"
}

calls=$((RATE * SECONDS_RUN))
pass=0 # the round or the pass of the ramp a run belongs to
echo "sippmeta stamp=$(date -u +%Y-%m-%dT%H%MZ) commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown) quick=$QUICK rounds=$ROUNDS rate=$RATE calls=$calls" >>"$results"
# The wire first: one short run per sipsec contender with a capture on the
# link (outside the medians: tcpdump takes CPU). Cleartext SIP bytes must
# be 0. First, so that the capture holds the handshake of the UDP channel,
# which then stays open for the rest of the benchmark.
for c in sipsec-udp sipsec-tcp; do
	lab capture start --file "$work/$c.pcap" >/dev/null
	run_one "$c" "$RATE" $((RATE * 2)) wire
	lab capture stop >/dev/null 2>&1
	python3 "$REPO/scripts/capcount.py" --json "$work/$c.pcap" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print("sippwire %s sip_bytes=%d tls_bytes=%d other_bytes=%d frames=%d" % (sys.argv[1],
      c["sip"]["bytes"], c["tls"]["bytes"], c["other"]["bytes"], c["frames"]))' "$c" >>"$results"
done
order=(plain-tcp sipsec-tcp plain-udp sipsec-udp)
for ((r = 1; r <= ROUNDS; r++)); do
	echo "sipp round $r/$ROUNDS: $calls calls at $RATE calls/s" >&2
	pass=$r
	for c in "${order[@]}"; do run_one "$c" "$RATE" "$calls" main; done
	order=("${order[@]:1}" "${order[0]}") # rotate who goes first
done

if ((RAMP)); then
	# Step by step, all contenders still in at each step, alternately.
	for ((pass = 1; pass <= RAMP_PASSES; pass++)); do
		declare -A out=()
		for rate in "${RAMP_STEPS[@]}"; do
			echo "sipp ramp, pass $pass/$RAMP_PASSES: $rate calls/s" >&2
			for c in "${order[@]}"; do
				[[ -n ${out[$c]:-} ]] && continue
				run_one "$c" "$rate" $((rate * RAMP_S)) ramp
				if ! tail -1 "$results" | python3 -c '
import sys
kv = dict(x.split("=", 1) for x in sys.stdin.read().split()[2:])
ok = int(kv["failed"]) == 0 and int(kv["completed"]) == int(kv["calls"]) \
    and float(kv["cps"]) >= 0.9 * int(kv["rate"])
sys.exit(0 if ok else 1)'; then
					out[$c]=$rate
				fi
			done
			order=("${order[@]:1}" "${order[0]}")
		done
	done
fi

pass=0
if ((PERF)); then
	for c in sipsec-udp sipsec-tcp; do run_one "$c" "$RATE" "$calls" perf perf; done
fi

# Whatever the eBPF enforcement dropped during the whole benchmark: the
# shimmed programs never send cleartext, so anything here is a finding.
for h in h1 h2; do
	lab exec "$h" -- "$CTL" --json drops -c "$labdir/$h.conf" 2>/dev/null |
		python3 -c 'import json, sys; print("sippdrops %s dropped=%d" % (sys.argv[1], json.load(sys.stdin)["dropped_packets"]))' \
			"$h" >>"$results" || echo "sippdrops $h dropped=-" >>"$results"
done
