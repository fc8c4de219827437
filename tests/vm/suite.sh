#!/usr/bin/env bash
# The kernel-feature suite, run inside the VM (make vmtest, that is
# scripts/vmtest.sh -- tests/vm/suite.sh). Runs every tests/vm/test_*.sh;
# each exits 0 (pass), 77 (skip, printing "SKIP: <reason>") or anything
# else (fail). Prints one result line per test, each followed by the test's
# output indented, and a last line "N passed, N failed, N skipped".
#
#   tests/vm/suite.sh [-q] [TEST...]
#     -q      print the output of failed tests only
#     TEST    run only these (names like test_esp or test_esp.sh);
#             SIPSEC_TESTS="test_a test_b" does the same
#   SIPSEC_TEST_TIMEOUT  seconds allowed per test (default 480: a SIPp call through
#                        two lab hosts takes 2-4 minutes under TCG on a busy host)
set -euo pipefail

suite_dir=$(cd "$(dirname "$0")" && pwd)
readonly suite_dir
per_test_timeout=${SIPSEC_TEST_TIMEOUT:-480}
quiet=0
selected=()
passed=0
failed=0
skipped=0
log_dir=""

cleanup() {
	[[ -n $log_dir ]] && rm -rf -- "$log_dir"
	return 0
}

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

parse_args() {
	local arg
	for arg in "$@"; do
		case "$arg" in
		-q | --quiet) quiet=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		-*)
			echo "suite.sh: unknown option '$arg'" >&2
			exit 2
			;;
		*) selected+=("${arg%.sh}") ;;
		esac
	done
	if [[ ${#selected[@]} -eq 0 && -n ${SIPSEC_TESTS:-} ]]; then
		read -ra selected <<<"$SIPSEC_TESTS"
		selected=("${selected[@]%.sh}")
	fi
	[[ $per_test_timeout =~ ^[1-9][0-9]*$ ]] ||
		{ echo "suite.sh: SIPSEC_TEST_TIMEOUT='$per_test_timeout' is not a number of seconds" >&2; exit 2; }
}

# The tests load modules, create namespaces and attach programs: they are
# meant for the throwaway VM, never for a developer's machine.
require_vm() {
	if [[ ${SIPSEC_VM:-} != 1 ]]; then
		echo "suite.sh: refusing to run outside the VM (SIPSEC_VM is not 1);" \
			"use: scripts/vmtest.sh -- tests/vm/suite.sh" >&2
		exit 2
	fi
}

list_tests() {
	local name
	if [[ ${#selected[@]} -eq 0 ]]; then
		find "$suite_dir" -maxdepth 1 -name 'test_*.sh' | sort
		return
	fi
	for name in "${selected[@]}"; do
		if [[ ! -f $suite_dir/$name.sh ]]; then
			echo "suite.sh: no test $suite_dir/$name.sh" >&2
			exit 2
		fi
		echo "$suite_dir/$name.sh"
	done
}

show_output() {
	local log=$1
	[[ -s $log ]] && sed 's/^/    /' "$log"
	return 0
}

run_one() {
	local test=$1 name log status=0 start elapsed reason
	name=$(basename "$test" .sh)
	log="$log_dir/$name.log"
	start=$(date +%s.%N)
	timeout -k 10 "$per_test_timeout" bash "$test" >"$log" 2>&1 </dev/null || status=$?
	elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

	case $status in
	0)
		passed=$((passed + 1))
		echo "PASS  $name  (${elapsed} s)"
		[[ $quiet -eq 1 ]] || show_output "$log"
		;;
	77)
		skipped=$((skipped + 1))
		reason=$(sed -n 's/^SKIP: *//p' "$log" | head -n 1)
		echo "SKIP  $name  (${reason:-no reason given})"
		[[ $quiet -eq 1 ]] || show_output "$log"
		;;
	124 | 137)
		failed=$((failed + 1))
		echo "FAIL  $name  (timed out after ${per_test_timeout} s)"
		show_output "$log"
		;;
	*)
		failed=$((failed + 1))
		echo "FAIL  $name  (exit ${status}, ${elapsed} s)"
		show_output "$log"
		;;
	esac
}

main() {
	local test tests
	parse_args "$@"
	require_vm
	tests=$(list_tests)
	log_dir=$(mktemp -d "${TMPDIR:-/tmp}/sipsec-suite-XXXXXX")
	trap cleanup EXIT
	echo "suite: kernel $(uname -r), $(wc -l <<<"$tests") tests, ${per_test_timeout} s each at most"
	while read -r test; do
		[[ -n $test ]] && run_one "$test"
	done <<<"$tests"
	echo "$passed passed, $failed failed, $skipped skipped"
	[[ $failed -eq 0 ]]
}

main "$@"
