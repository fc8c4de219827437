#!/usr/bin/env bash
# 1 KB request/response round trips on one TCP connection, through
# plaintext TCP, sipsec's kernel path (kTLS) and sipsec's user-space path
# (`ktls = off`), in one run of the VM (this host's kernel has no kTLS):
# build/bench/pingpong between two lab hosts, contenders alternating round
# after round; prints a markdown table of medians and ratios to plaintext.
# Outside the VM it starts itself inside one (scripts/vmtest.sh) and puts
# the table into bench/results/latest.md (bench/report.py --vm-only), in
# place of an earlier one.
#
#   bench/vm-pingpong.sh [--rounds R] [--count N] [--hold "K..."]
#
# Then the daemons' memory: K connections held open (default 1000 and
# 10000) on the kernel path, and 1000 on the user-space path, with the
# resident set of both daemons before and while they are held.
#
# Under TCG every instruction is emulated, the crypto's too: absolute
# figures are far below a real machine's; only the ratios mean something.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=3
COUNT=1000
HOLD="1000 10000"
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--hold) HOLD=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "vm-pingpong: unknown option $1" >&2; exit 2 ;;
	esac
done
if [[ ${SIPSEC_VM:-} != 1 ]]; then
	OUT=${SIPSEC_BENCH_OUT:-$REPO/bench/results}
	log=$(mktemp "${TMPDIR:-/tmp}/vm-pingpong.XXXXXX")
	trap 'rm -f "$log" "$log.md"' EXIT
	"$REPO/scripts/vmtest.sh" --timeout 1800 -- \
		"$REPO/bench/vm-pingpong.sh" --rounds "$ROUNDS" --count "$COUNT" \
		--hold "$HOLD" | tee "$log"
	sed -n '/^<<<vm-pingpong/,/^>>>vm-pingpong/p' "$log" | tr -d '\r' | sed '1d;$d' >"$log.md"
	[[ -s $log.md ]] || { echo "vm-pingpong: no table in the VM's output" >&2; exit 1; }
	[[ -f $OUT/latest.md ]] || { echo "vm-pingpong: no $OUT/latest.md to put the table in (bench/run.sh first)" >&2; exit 1; }
	python3 "$REPO/bench/report.py" --vm-only "$log.md" "$OUT"
	exit 0
fi

# shellcheck source=bench/lib.bash
. "$REPO/bench/lib.bash"
LAB_SH=$REPO/scripts/lab.sh
PP=$REPO/build/bench/pingpong
SHIM=$REPO/build/libsipsec.so
[[ -x $PP && -f $SHIM ]] || { echo "vm-pingpong: run make first" >&2; exit 1; }
lab=vmpp
work=$(mktemp -d "${TMPDIR:-/tmp}/vm-pingpong.XXXXXX")
pids=()
cleanup() {
	local rc=$?
	trap - EXIT
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if ((rc != 0)); then
		tail -n 5 "$("$LAB_SH" --lab "$lab" dir)"/h[1-4].log 2>/dev/null || true
	fi
	timeout 60 "$LAB_SH" --lab "$lab" down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
lab() { timeout 120 "$LAB_SH" --lab "$lab" "$@"; }
in_h() { local h=$1; shift; lab exec "$h" -- "$@"; }
bg_h() { local h=$1; shift; "$LAB_SH" --lab "$lab" exec "$h" -- "$@" & pids+=($!); }

# h1 -> h2: plaintext :7000 and the kernel path :5060 (default policy,
# ktls = prefer); h3 -> h4: the user-space path, the same shim and
# daemon with kTLS turned off.
lab down >/dev/null 2>&1 || true
lab up --hosts 4 >/dev/null
# pingpong's messages are SIP-sized, not SIP: the shims' identity check
# (which frames SIP requests) is off; bench/sipcheck.c measures its cost.
printf 'identity_check = off\n' >"$work/nocheck.ini"
printf 'ktls = off\nidentity_check = off\n' >"$work/off.ini"
lab daemon h1 --conf-append "$work/nocheck.ini" >/dev/null
lab daemon h2 --conf-append "$work/nocheck.ini" >/dev/null
lab daemon h3 --conf-append "$work/off.ini" >/dev/null
lab daemon h4 --conf-append "$work/off.ini" >/dev/null
a2=$(lab addr h2)
a4=$(lab addr h4)
# The servers hold a descriptor per connection: as many as they may.
bg_h h2 bash -c "$RAISE_NOFILE; exec $PP server $a2 7000" >/dev/null 2>&1
bg_h h2 bash -c "$RAISE_NOFILE; exec env LD_PRELOAD=$SHIM $PP server $a2 5060" >/dev/null 2>&1
bg_h h4 bash -c "$RAISE_NOFILE; exec env LD_PRELOAD=$SHIM $PP server $a4 5060" >/dev/null 2>&1
sleep 1

run() { # contender
	case $1 in
	plain) in_h h1 "$PP" client "$a2" 7000 "$COUNT" 1024 ;;
	kernel) in_h h1 env LD_PRELOAD="$SHIM" "$PP" client "$a2" 5060 "$COUNT" 1024 ;;
	user) in_h h3 env LD_PRELOAD="$SHIM" "$PP" client "$a4" 5060 "$COUNT" 1024 ;;
	esac
}
order=(plain kernel user)
for ((r = 1; r <= ROUNDS; r++)); do
	for c in "${order[@]}"; do
		echo "$c $(run "$c")" >>"$work/results"
	done
	order=("${order[@]:1}" "${order[0]}")
done

# Each sipsec contender must have taken the path it is named after.
dir=$(lab dir)
grep -q 'kernel TLS (TX on, RX on)' "$dir/h1.log" ||
	{ echo "vm-pingpong: h1 -> h2 was not on the kernel path" >&2; exit 1; }
grep -q 'user-space relay' "$dir/h3.log" ||
	{ echo "vm-pingpong: h3 -> h4 was not on the user-space path" >&2; exit 1; }
suite=$(grep -o 'verified, [^,]*' "$dir/h1.log" | head -n 1 | cut -d' ' -f2-)

# Memory per held connection, per data path: both daemons' resident set;
# on the kernel path, how many of the connections the log shows handed
# to the kernel.
pid_of() { awk '{print $1}' "$dir/$1.pid"; }
hold() { # path client-host server-host server-addr K
	local before after
	before=$(grep -c 'kernel TLS (TX on, RX on)' "$dir/$2.log" || true)
	echo "rss $1 $5 $(hold_rss "$work" "$(pid_of "$2") $(pid_of "$3")" \
		"$LAB_SH" --lab "$lab" exec "$2" -- bash -c \
		"$RAISE_NOFILE; exec env LD_PRELOAD=$SHIM $PP hold $4 5060 $5") \
		kernel_conns=$(($(grep -c 'kernel TLS (TX on, RX on)' "$dir/$2.log" || true) - before))" \
		>>"$work/results"
	sleep 2
}
for k in $HOLD; do
	hold kernel h1 h2 "$a2" "$k"
done
hold user h3 h4 "$a4" 1000

commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "<<<vm-pingpong"
python3 - "$work/results" "$ROUNDS" "$COUNT" "$(uname -r)" "$suite" "$commit" <<'PY'
import statistics, sys, time
path, rounds, count, kver, suite, commit = sys.argv[1:]
res, rss = {}, []
for line in open(path):
    name, *kv = line.split()
    if name == "rss":
        d = dict(x.split("=") for x in kv[2:])
        rss.append((kv[0], int(kv[1]), {k: int(v) for k, v in d.items()}))
        continue
    d = dict(x.split("=") for x in kv)
    res.setdefault(name, []).append((float(d["msgs_per_s"]), float(d["p99_us"])))
med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v))
       for k, v in res.items()}
base = med["plain"]
print("## The kernel path (kTLS), in the VM\n")
print(f"Run {time.strftime('%Y-%m-%dT%H%MZ', time.gmtime())}, commit `{commit}`, "
      "`bench/vm-pingpong.sh`: this host's kernel has no kTLS, so the kernel "
      "path is measured in a VM running Debian's kernel under qemu, against "
      "plaintext and the user-space path in the same VM run (four lab hosts "
      "inside the VM, contenders alternating). "
      f"1 KB request/response, {count} round trips x {rounds} rounds per "
      f"path, medians; kernel {kver}, {suite}.\n")
print("| path | msgs/s | p99 us | msgs/s vs plaintext | p99 vs plaintext |")
print("|---|---:|---:|---:|---:|")
for k, label in (("plain", "plaintext TCP"), ("kernel", "sipsec kernel path (kTLS)"),
                 ("user", "sipsec user-space path")):
    r, p = med[k]
    print(f"| {label} | {r:.0f} | {p:.0f} | {r / base[0]:.2f} | {p / base[1]:.2f} |")
print()
print(f"- kernel path / plaintext: {med['kernel'][0] / base[0]:.2f}x messages/s "
      "(target >= 0.9x on a kernel with native crypto); kernel path / "
      f"user-space path: {med['kernel'][0] / med['user'][0]:.2f}x.")
print("- What distorts it: qemu TCG translates every guest instruction, "
      "the AES and carry-less multiply instructions of AES-GCM included, so "
      "the crypto costs many times what it costs on hardware, while "
      "plaintext pays none; the ratio to plaintext here is therefore well "
      "below what a machine with native crypto gives. The user-space path "
      "pays the same emulated crypto plus the relay's two extra socket hops "
      "and wake-ups, which is what the kernel path removes.")
print("\n### Memory per connection, per data path (in the VM)\n")
print("| data path | connections | held | handed to the kernel | RSS before kB | RSS after kB | per connection |")
print("|---|---:|---:|---:|---:|---:|---:|")
for path_, k, d in rss:
    per = (d["after_kb"] - d["before_kb"]) / d["held"] if d["held"] else None
    label = "kernel (kTLS)" if path_ == "kernel" else "user-space relay"
    kc = d["kernel_conns"] if path_ == "kernel" else "-"
    print(f"| {label} | {k:,} | {d['held']:,} | {kc} | {d['before_kb']:,} | "
          f"{d['after_kb']:,} | {'-' if per is None else f'{per:.2f} KB'} |")
print("\nBoth daemons (both ends of each connection). Target: <= 2 KB per "
      "kernel-path connection: after the hand-over a daemon keeps only a "
      "record for `sipsecctl status`; the socket, its TLS state and its "
      "buffers are the kernel's (not in the daemons' RSS).")
PY
echo ">>>vm-pingpong"
