#!/usr/bin/env bash
# `make demo` over UDP as a test: unmodified SIPp UAC and UAS over UDP
# under the shim on two lab hosts; the datagrams ride the TLS channel
# between the two daemons (user-space path, this kernel has no ESP). Every
# call completes, the link carries 0 cleartext SIP bytes and TLS bytes > 0
# (scripts/demo.sh checks and prints the figures), over IPv4 and IPv6.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
for fam in 4 6; do
	echo "== IPv$fam, SIP over UDP"
	FAMILY=$fam TRANSPORT=udp SIPSEC_DEMO_LAB=itudp$$ CALLS=${CALLS:-20} \
		"$repo/scripts/demo.sh"
done
