# shellcheck shell=bash
# What the lab tests in this folder share; sourced, never run (the test
# runner runs *.sh only). Each test works in a lab of its own, named after
# it and its pid, so labs of other tests and people on this machine are
# left alone; `lab_begin` creates the names and the exit trap, the test
# then runs `lab up`.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_SH=$repo/scripts/lab.sh
SHIM=$repo/build/libsipsec.so
PROBE=$repo/build/tests/integration/shimprobe
CTL=$repo/build/sipsecctl
failures=0

skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "  ok    $*"; }
bad() { echo "  FAIL  $*"; failures=$((failures + 1)); }
lab() { timeout 60 "$LAB_SH" --lab "$lab" "$@"; }
shimmed() { local h=$1; shift; lab exec "$h" -- env LD_PRELOAD="$SHIM" SIPSEC_LOG=stderr timeout 30 "$@"; }
log_of() { cat "$(lab dir)/$1.log"; }

# lab_begin NAME: the lab NAME<pid> and a work folder; at exit the lab
# goes, with its daemons' logs copied to the work folder, which is kept
# when the test failed or KEEP is set.
lab_begin() {
	lab=$1$$
	work=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-$1.XXXXXX")
	trap lab_end EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

lab_end() {
	local rc=$?
	trap - EXIT
	if [[ -n ${server_pid:-} ]]; then kill "$server_pid" 2>/dev/null || true; fi
	cp "$(timeout 10 "$LAB_SH" --lab "$lab" dir 2>/dev/null)"/*.log "$work/" 2>/dev/null || true
	timeout 60 "$LAB_SH" --lab "$lab" down >/dev/null 2>&1 || true
	if ((rc == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$work"; else
		echo "logs kept in $work"; fi
	exit "$rc"
}

# lab_finish: the closing line and the exit status.
lab_finish() {
	if ((failures)); then
		echo "$failures check(s) failed"
		exit 1
	fi
	echo "all checks passed"
}

# serve HOST N: shimprobe serves N connections on HOST's SIP port
# (IPv$FAM, default 4), output in $work/server-HOST.out.
serve() {
	local host=$1 n=$2 addr
	addr=$(lab addr "$host" "${FAM:-4}")
	shimmed "$host" "$PROBE" server "$addr" 5060 "$n" >"$work/server-$host.out" 2>&1 &
	server_pid=$!
	for _ in $(seq 50); do
		grep -q '^listening' "$work/server-$host.out" 2>/dev/null && return 0
		sleep 0.1
	done
	bad "the server in $host did not start"; cat "$work/server-$host.out"
}

# daemon HOST [FILE]: the lab's sipsecd in HOST, FILE appended to its
# configuration. shimprobe speaks lines, not SIP: the identity check
# (draft 4.5) would refuse them, so it is off (identity.sh tests it).
daemon() {
	local h=$1 extra=${2:-}
	{
		printf '[global]\nidentity_check = off\n'
		if [[ -n $extra ]]; then cat "$extra"; fi
	} >"$work/$h-daemon.conf"
	lab daemon "$h" --conf-append "$work/$h-daemon.conf"
}
