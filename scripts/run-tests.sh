#!/usr/bin/env bash
# Runs sipsec's tests and prints one closing line: "N passed, N failed,
# N skipped", then the reason of every skip. Exit status 1 if any failed.
#
#   scripts/run-tests.sh [unit|san|fuzz|integration|vm|all]...   (default: all)
#
# unit         criterion binaries build/tests/test_* (no privileges needed)
# san          the same, built with ASan+UBSan (make SAN=1: build/san)
# fuzz         each libFuzzer target build/fuzz/fuzz_* (make fuzzers) for
#              FUZZ_SECONDS (default 20) from its seeds tests/fuzz/corpus/X;
#              crash inputs go to build/fuzz-artifacts/
# integration  tests/integration/*.sh on this host: each exits 0 (pass),
#              77 (skip, printing "SKIP: reason") or anything else (fail)
# vm           tests/vm/suite.sh inside Debian's kernel under qemu, when
#              qemu and the kernel are installed (scripts/deps.sh vm)
# Logs: build/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

B=${B:-build}
logs=$B/test-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
skips=() fails=()

skip() { skipped=$((skipped + 1)); skips+=("$1: $2"); echo "  SKIP  $1: $2"; }
fail() { failed=$((failed + 1)); fails+=("$1"); echo "  FAIL  $1"; }
pass() { passed=$((passed + 1)); }

run_unit() {
	local t name tap out dir=${1:-$B} tag=${2:-}
	for t in "$dir"/tests/test_*; do
		[[ -x "$t" && ! "$t" =~ \.(o|d)$ ]] || continue
		name=$tag$(basename "$t")
		tap="$logs/$name.tap"
		out="$logs/$name.log"
		# Criterion forks a child per test; a hung test is cut off.
		timeout 300 "$t" --tap="$tap" >"$out" 2>&1
		local rc=$? p f s
		p=$(grep -c '^ok ' "$tap" 2>/dev/null)
		s=$(grep -c '^ok .*# SKIP' "$tap" 2>/dev/null)
		f=$(grep -c '^not ok ' "$tap" 2>/dev/null)
		p=$((p - s))
		passed=$((passed + p))
		while IFS= read -r line; do
			skip "$name" "${line#*# SKIP }"
		done < <(grep '^ok .*# SKIP' "$tap")
		if ((f > 0 || (rc != 0 && p + s == 0))); then
			failed=$((failed + (f > 0 ? f : 1)))
			fails+=("$name")
			echo "  FAIL  $name ($f failed, exit $rc):"
			grep -A8 -E '^not ok|Assertion|CRASH|FAIL' "$out" | head -40 | sed 's/^/        /'
		else
			echo "  ok    $name: $p passed${s:+, $s skipped}"
		fi
	done
}

run_fuzz() {
	local t name seeds work out rc runs secs=${FUZZ_SECONDS:-20}
	local art=build/fuzz-artifacts
	if ! compgen -G "$B/fuzz/fuzz_*" >/dev/null; then
		skip fuzz "no fuzz target built (make fuzzers; needs clang and libclang-rt-dev)"
		return
	fi
	mkdir -p "$art"
	for t in "$B"/fuzz/fuzz_*; do
		[[ -x "$t" ]] || continue
		name=$(basename "$t")
		seeds=tests/fuzz/corpus/${name#fuzz_}
		work=build/fuzz-corpus/${name#fuzz_}
		out="$logs/$name.log"
		mkdir -p "$work" "$seeds"
		# New inputs go to the first folder, so the seeds stay as kept.
		timeout $((secs + 120)) "$t" -max_total_time="$secs" \
			-artifact_prefix="$art/$name-" "$work" "$seeds" \
			>"$out" 2>&1
		rc=$?
		runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$out" | tail -1)
		if ((rc == 0)) && [[ -n "$runs" ]]; then
			pass
			echo "  ok    $name: ${runs#Done }s"
		else
			fail "$name"
			echo "        exit $rc; crash inputs in $art/; last lines of $out:"
			grep -E 'ERROR|SUMMARY|assert|Test unit written' "$out" | head -10 | sed 's/^/        /'
		fi
	done
}

run_integration() {
	local t name out rc reason
	for t in tests/integration/*.sh; do
		[[ -e "$t" ]] || continue
		name=$(basename "$t" .sh)
		out="$logs/integration-$name.log"
		timeout 900 bash "$t" >"$out" 2>&1
		rc=$?
		case $rc in
		0) pass; echo "  ok    $name" ;;
		77)
			reason=$(grep -m1 '^SKIP:' "$out" | cut -d' ' -f2-)
			skip "$name" "${reason:-no reason given}"
			;;
		*)
			fail "$name"
			echo "        exit $rc; last lines of $out:"
			tail -25 "$out" | sed 's/^/        /'
			;;
		esac
	done
}

run_vm() {
	local out="$logs/vm-suite.log" line rc
	if ! command -v qemu-system-x86_64 >/dev/null; then
		skip vm-suite "qemu-system-x86_64 is not installed (scripts/deps.sh vm)"
		return
	fi
	if ! compgen -G "/boot/vmlinuz-*" >/dev/null; then
		skip vm-suite "no kernel image in /boot (scripts/deps.sh vm installs linux-image-amd64)"
		return
	fi
	if [[ $(id -u) -ne 0 ]]; then
		skip vm-suite "needs root (the guest shares the host root over 9p)"
		return
	fi
	scripts/vmtest.sh --timeout 1200 -- tests/vm/suite.sh >"$out" 2>&1
	rc=$?
	sed 's/^/  vm: /' "$out" | grep -E 'ok|FAIL|SKIP|passed' | head -40
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$out" | tail -1)
	if [[ -z "$line" ]]; then
		fail "vm-suite (exit $rc, no summary; see $out)"
		tail -25 "$out" | sed 's/^/        /'
		return
	fi
	read -r p _ f _ s _ <<<"${line//,/}"
	passed=$((passed + p))
	failed=$((failed + f))
	((f > 0)) && fails+=("vm-suite")
	while IFS= read -r l; do
		skipped=$((skipped + 1))
		skips+=("vm: ${l#*SKIP }")
	done < <(grep -E '^\s*SKIP' "$out")
	((rc != 0 && f == 0)) && fail "vm-suite (exit $rc)"
}

for what in "${@:-all}"; do
	case $what in
	unit) echo "unit tests"; run_unit ;;
	san)
		echo "unit tests under ASan+UBSan"
		if compgen -G "build/san/tests/test_*" >/dev/null; then
			ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
				UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
				run_unit build/san san:
		else
			skip san "not built (make SAN=1)"
		fi
		;;
	fuzz) echo "fuzz targets (${FUZZ_SECONDS:-20} s each)"; run_fuzz ;;
	integration) echo "integration tests"; run_integration ;;
	vm) echo "VM tests (Debian kernel under qemu)"; run_vm ;;
	all)
		echo "unit tests"; run_unit
		echo "integration tests"; run_integration
		echo "VM tests (Debian kernel under qemu)"; run_vm
		;;
	*) echo "run-tests.sh: unknown suite '$what'" >&2; exit 2 ;;
	esac
done

echo
if ((${#skips[@]})); then
	echo "skipped:"
	printf '  %s\n' "${skips[@]}"
fi
if ((${#fails[@]})); then
	echo "failed:"
	printf '  %s\n' "${fails[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
