#!/usr/bin/env bash
# `make demo` as a test: two lab hosts, sipsecd on each, unmodified SIPp
# UAC and UAS over TCP under the shim; every call completes, the link
# carries 0 cleartext SIP bytes and TLS bytes > 0 (scripts/demo.sh checks
# and prints the figures), over IPv4 with the io_uring event loop and over
# IPv6 with the poll(2) fallback (io_uring = off).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '[global]\nio_uring = off\n' >"$conf"
echo "== IPv4, io_uring event loop"
FAMILY=4 SIPSEC_DEMO_LAB=itdemo$$ CALLS=${CALLS:-20} "$repo/scripts/demo.sh"
echo "== IPv6, poll(2) event loop"
FAMILY=6 SIPSEC_DEMO_LAB=itdemo$$ CALLS=${CALLS:-20} SIPSEC_DEMO_CONF=$conf \
	"$repo/scripts/demo.sh"
