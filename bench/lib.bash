# Shared by bench/run.sh and bench/vm-pingpong.sh: sourced, never run.
# shellcheck shell=bash

# For `bash -c`, before a holder: as many descriptors as it may have
# (root may raise the hard limit; elsewhere the soft one goes up to it).
# shellcheck disable=SC2016 # expanded by the bash -c that runs it
RAISE_NOFILE='ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"'

# rss_kb PID... -> the processes' total resident set, kB (a gone one: 0)
rss_kb() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# hold_rss WORK "PID..." COMMAND... -> "held=N before_kb=B after_kb=A"
# Connections held open, and the resident set of the processes that carry
# them (PIDs) before and while they are held. COMMAND is a
# `pingpong hold ADDR PORT N` (through lab.sh exec): it prints held=N once
# its connections are up and holds them until its stdin closes.
hold_rss() {
	local work=$1 pids=$2 fifo before after held holder
	shift 2
	# shellcheck disable=SC2086 # a list of PIDs
	before=$(rss_kb $pids)
	fifo=$work/hold.fifo
	rm -f "$fifo"
	mkfifo "$fifo"
	"$@" <"$fifo" >"$work/hold.out" 2>&1 &
	holder=$!
	exec 9>"$fifo"
	for _ in $(seq 2400); do # 20 minutes: 10,000 handshakes under TCG
		grep -q held= "$work/hold.out" 2>/dev/null && break
		kill -0 "$holder" 2>/dev/null || break
		sleep 0.5
	done
	held=$(sed -n 's/held=//p' "$work/hold.out")
	# shellcheck disable=SC2086
	after=$(rss_kb $pids)
	exec 9>&-
	wait "$holder" || true
	echo "held=${held:-0} before_kb=$before after_kb=$after"
}
