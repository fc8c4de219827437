#!/usr/bin/env bash
# sipsec's benchmarks: every contender runs in the same run, on the same
# two-host lab, alternately, round after round; the report gives medians
# and ratios, never one absolute time. Results: bench/results/latest.md
# (and a copy named after the date and commit) plus PNG charts.
#
#   bench/run.sh [--rounds R] [--quick] [--sipp-only | --no-sipp]
#
# Contenders on the message path (1 KB messages, one persistent TCP
# connection, request/response and streaming): plaintext TCP (the limit),
# sipsec's user-space path (both programs under the shim), and a stunnel
# client + stunnel server pair (what users run today). Connection setup:
# new protected connections per second (one 1 KB round trip each) through
# sipsec and stunnel, and `openssl s_time` full handshakes against
# `openssl s_server` on the same hosts. Memory: daemon RSS per held
# connection (1k, and 10k unless --quick) for sipsec and for stunnel.
# The shim's cost on calls it passes through: socket/connect/close to a
# non-SIP port with and without LD_PRELOAD. The eBPF program's cost per
# packet, net of the test harness: bench/bpfcost.c. SIPp calls per second
# over TCP and UDP with CPU time, sipsec against plaintext: bench/sipp.sh.
#
#   --sipp-only   run only bench/sipp.sh and put its section into the
#                 existing latest.md (the other sections stay as they were)
#   --no-sipp     leave bench/sipp.sh out
#
# SIPSEC_BENCH_LAB names the lab (default bench<pid>).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.bash
. "$REPO/bench/lib.bash"
LAB_SH=$REPO/scripts/lab.sh
PP=$REPO/build/bench/pingpong
SHIM=$REPO/build/libsipsec.so
OUT=${SIPSEC_BENCH_OUT:-$REPO/bench/results}
ROUNDS=5
QUICK=0
SIPP=1
SIPP_ONLY=0
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--quick) QUICK=1; ROUNDS=3; shift ;;
	--sipp-only) SIPP_ONLY=1; shift ;;
	--no-sipp) SIPP=0; shift ;;
	-h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown option $1" >&2; exit 2 ;;
	esac
done
[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (lab namespaces)" >&2; exit 1; }
sipp_args=()
((QUICK)) && sipp_args+=(--quick)
((QUICK)) || sipp_args+=(--perf)
if ((SIPP_ONLY)); then
	raw=$(mktemp "${TMPDIR:-/tmp}/sipsec-sipp-raw.XXXXXX")
	SIPSEC_BENCH_LAB=${SIPSEC_BENCH_LAB:-bench$$} "$REPO/bench/sipp.sh" "${sipp_args[@]}" "$raw"
	python3 "$REPO/bench/report.py" --sipp-only "$raw" "$OUT"
	rm -f "$raw"
	sed -n '/^## SIPp calls/,/^## Not yet/p' "$OUT/latest.md"
	exit 0
fi
for t in stunnel4 gnuplot openssl python3; do
	command -v "$t" >/dev/null || { echo "bench: $t missing: scripts/deps.sh bench" >&2; exit 1; }
done

lab=${SIPSEC_BENCH_LAB:-bench$$}
work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-bench.XXXXXX")
pids=()
cleanup() {
	local rc=$?
	trap - EXIT
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	timeout 60 "$LAB_SH" --lab "$lab" down >/dev/null 2>&1 || true
	((rc == 0)) && rm -rf "$work" || echo "bench: logs kept in $work" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab() { timeout 120 "$LAB_SH" --lab "$lab" "$@"; }
in_h() { local h=$1; shift; lab exec "$h" -- "$@"; }
bg_h() { local h=$1; shift; "$LAB_SH" --lab "$lab" exec "$h" -- "$@" & pids+=($!); }

N_RR=$((QUICK ? 3000 : 10000))
N_STREAM=$((QUICK ? 5000 : 20000))
N_CONN=$((QUICK ? 100 : 300))

# h3 is h1's twin with the credential cache off: every connection from it
# is a full handshake and a full agreement; h1 resumes from its cache.
# pingpong's messages are SIP-sized, not SIP: the shims' identity check
# (which frames SIP requests) is off; bench/sipcheck.c measures its cost.
lab up --hosts 3 >/dev/null
a2=$(lab addr h2)
printf '[global]\nidentity_check = off\n' >"$work/nocheck.conf"
printf '[global]\ncache_size = 0\nidentity_check = off\n' >"$work/nocache.conf"
lab daemon h1 --conf-append "$work/nocheck.conf" >/dev/null
lab daemon h2 --conf-append "$work/nocheck.conf" >/dev/null
lab daemon h3 --conf-append "$work/nocache.conf" >/dev/null
certs=$(lab dir)/certs

# Servers on h2: plaintext :7000, sipsec :5060 (under the shim), stunnel
# :7443 -> the plaintext server, openssl s_server :7444.
# Servers and relays hold a descriptor per connection or two: as many as
# they may (the memory holds below go to 10,000 connections).
bg_h h2 bash -c "$RAISE_NOFILE; exec $PP server $a2 7000" >/dev/null 2>&1
bg_h h2 bash -c "$RAISE_NOFILE; exec env LD_PRELOAD=$SHIM $PP server $a2 5060" >/dev/null 2>&1
stunnel_conf() { # name role accept connect cert
	cat <<EOC
foreground = yes
pid =
debug = 3
[$1]
client = $2
accept = $3
connect = $4
cert = $certs/$5.pem
key = $certs/$5.key
CAfile = $certs/ca.pem
verifyChain = yes
sslVersionMin = TLSv1.3
EOC
}
stunnel_conf srv no "$a2:7443" "$a2:7000" h2.sipsec.test >"$work/stunnel-h2.conf"
stunnel_conf cli yes 127.0.0.1:7001 "$a2:7443" h1.sipsec.test >"$work/stunnel-h1.conf"
bg_h h2 bash -c "$RAISE_NOFILE; exec stunnel4 $work/stunnel-h2.conf" >"$work/stunnel-h2.log" 2>&1
bg_h h1 bash -c "$RAISE_NOFILE; exec stunnel4 $work/stunnel-h1.conf" >"$work/stunnel-h1.log" 2>&1
bg_h h2 openssl s_server -quiet -accept 7444 -cert "$certs/h2.sipsec.test.pem" \
	-key "$certs/h2.sipsec.test.key" -tls1_3 -naccept 1000000 >/dev/null 2>&1
# The same with mutual certificates verified both ways, as sipsec does:
# the like-for-like reference for sipsec's full connections. A server
# that verifies clients resumes only sessions of its own context
# (-context), or every -reuse handshake would be a full one.
bg_h h2 openssl s_server -quiet -accept 7445 -cert "$certs/h2.sipsec.test.pem" \
	-key "$certs/h2.sipsec.test.key" -CAfile "$certs/ca.pem" -Verify 1 \
	-verify_return_error -context sipsec-bench -tls1_3 -naccept 1000000 >/dev/null 2>&1
sleep 1

# contender -> how h1's program reaches the echo server
target() {
	case $1 in
	plain) echo "$a2 7000" ;;
	sipsec) echo "$a2 5060" ;;
	stunnel) echo "127.0.0.1 7001" ;;
	esac
}
run_pp() { # contender mode args...
	local c=$1 mode=$2; shift 2
	local t
	read -r -a t <<<"$(target "${c%-full}")"
	if [[ $c == sipsec-full ]]; then
		in_h h3 env LD_PRELOAD="$SHIM" "$PP" "$mode" "${t[@]}" "$@"
	elif [[ $c == sipsec ]]; then
		in_h h1 env LD_PRELOAD="$SHIM" "$PP" "$mode" "${t[@]}" "$@"
	else
		in_h h1 "$PP" "$mode" "${t[@]}" "$@"
	fi
}

results=$work/results.txt
: >"$results"
rec() { echo "$*" >>"$results"; }
order=(plain sipsec stunnel)
for ((r = 1; r <= ROUNDS; r++)); do
	echo "round $r/$ROUNDS" >&2
	for c in "${order[@]}"; do
		rec "rr $c $(run_pp "$c" client "$N_RR" 1024)"
		rec "stream $c $(run_pp "$c" stream "$N_STREAM" 1024)"
		[[ $c == plain ]] || rec "conn $c $(run_pp "$c" connect "$N_CONN" 1024)"
		[[ $c == sipsec ]] && rec "conn sipsec-full $(run_pp sipsec-full connect "$N_CONN" 1024)"
	done
	order=("${order[@]:1}" "${order[0]}") # rotate who goes first
	# s_time: N handshakes in T seconds ("real N T"); server-auth only
	# (port 7444), and mutual (7445), full and resumed.
	stime() { # port -new|-reuse
		in_h h1 timeout 20 openssl s_time -connect "$a2:$1" "$2" -time 3 \
			-cert "$certs/h1.sipsec.test.pem" -key "$certs/h1.sipsec.test.key" \
			-CAfile "$certs/ca.pem" 2>/dev/null |
			sed -n 's/^\([0-9]*\) connections in \([0-9.]*\) real seconds.*/real \1 \2/p' | tail -1
	}
	rec "stime openssl $(stime 7444 -new)"
	rec "stime-reuse openssl $(stime 7444 -reuse)"
	rec "stime-mutual openssl $(stime 7445 -new)"
	rec "stime-mutual-reuse openssl $(stime 7445 -reuse)"
	rec "sipcheck shim $("$REPO/build/bench/sipcheck" 200000)"
	rec "passthru plain $(in_h h1 "$PP" passthru 20000)"
	rec "passthru shim $(in_h h1 env LD_PRELOAD="$SHIM" SIPSEC_SIP_PORTS=5060 "$PP" passthru 20000)"
done

# The eBPF program on its own: BPF_PROG_TEST_RUN on this host, best of
# its own runs (bench/bpfcost.c prints its markdown section).
"$REPO/build/bench/bpfcost" >"$work/bpfcost.md"

# Memory: connections held open through each contender; RSS of the
# processes carrying them (both daemons / both stunnels), per connection.
# shellcheck disable=SC2153 # RAISE_NOFILE: bench/lib.bash
daemon_pids() { cat "$(lab dir)"/h1.pid "$(lab dir)"/h2.pid 2>/dev/null | awk '{print $1}'; }
stunnel_pids() { pgrep -f "stunnel4 $work/stunnel-h" | tr '\n' ' '; }
hold_sizes=(1000)
((QUICK)) || hold_sizes+=(10000)
for c in sipsec stunnel; do
	for k in "${hold_sizes[@]}"; do
		if [[ $c == sipsec ]]; then pids=$(daemon_pids); else pids=$(stunnel_pids); fi
		read -r -a t <<<"$(target "$c")"
		pre=(); [[ $c == sipsec ]] && pre=(env LD_PRELOAD="$SHIM")
		rec "rss $c $k $(hold_rss "$work" "$pids" "$LAB_SH" --lab "$lab" exec h1 -- \
			bash -c "$RAISE_NOFILE; exec ${pre[*]} $PP hold ${t[*]} $k")"
		sleep 2
	done
done
# What stopped a hold short of its count, in the daemons' words.
grep -h 'open-file limit' "$(lab dir)"/h[12].log | tail -n 2 >"$work/hold-limit.txt" || true
rec "holdlimit sipsec $(sed -n 's/.*(open-file limit \([0-9]*\);.*/limit=\1/p' "$work/hold-limit.txt" | tail -n 1)"

# SIPp calls, on a lab of its own (the daemons there check identities).
((SIPP)) && SIPSEC_BENCH_LAB=$lab "$REPO/bench/sipp.sh" "${sipp_args[@]}" "$results"

mkdir -p "$OUT"
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
stamp=$(date -u +%Y-%m-%dT%H%MZ)
python3 "$REPO/bench/report.py" "$results" "$OUT" "$stamp" "$commit" \
	"$(uname -r)" "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
	"$ROUNDS" "$work/bpfcost.md"
cat "$OUT/latest.md"
