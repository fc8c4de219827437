#!/usr/bin/env bash
# The enforcement loader (daemon/enforce.c) on the running kernel: its unit
# tests (build/tests/test_enforce) attach, adopt, report and detach in
# throwaway network namespaces with a private bpffs, through libbpf's TC
# API (bpf_tc_hook_create / bpf_tc_attach: clsact, no TCX on 6.1). Meant
# for the VM (Debian's 6.1); on the host the same binary runs with the
# unit tests.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$repo/build/tests/test_enforce
log=""

cleanup() {
	local status=$?
	trap - EXIT
	[[ -n $log ]] && rm -f "$log"
	exit "$status"
}

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (bpf(), network namespaces)"
	exit 77
fi
command -v ip >/dev/null || { echo "FAIL: ip(8) is missing" >&2; exit 1; }
[[ -x $bin ]] || { echo "FAIL: $bin is not built (make)" >&2; exit 1; }
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

echo "kernel $(uname -r)"
log=$(mktemp "${TMPDIR:-/tmp}/sipsec-loader-XXXXXX")
# Criterion's runner talks to its workers over a Unix socket in /tmp,
# which in the VM is the host's, over 9p, where Unix sockets do not work:
# a private tmpfs /tmp for the run (the checkout is elsewhere).
if timeout 150 unshare --mount sh -c 'mount -t tmpfs tmpfs /tmp &&
    exec "$0" --jobs 1' "$bin" >"$log" 2>&1; then
	echo "test_enforce: $(grep -o 'Tested: .*' "$log" | tr -d '\033')"
else
	echo "test_enforce FAILED on $(uname -r):"
	tail -30 "$log"
	exit 1
fi
