#!/usr/bin/env bash
# `make demo` as a test: two lab hosts, sipsecd on each, unmodified SIPp
# UAC and UAS over TCP under the shim; every call completes, the link
# carries 0 cleartext SIP bytes and TLS bytes > 0 (scripts/demo.sh checks
# and prints the figures), over IPv4 and over IPv6.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
rc=0
for fam in 4 6; do
	echo "== IPv$fam"
	FAMILY=$fam SIPSEC_DEMO_LAB=itdemo$$ CALLS=${CALLS:-20} \
		"$repo/scripts/demo.sh" || rc=$?
	((rc == 0)) || exit "$rc"
done
