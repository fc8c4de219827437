#!/usr/bin/env bash
# Kernel TLS with hand-installed keys: TLS 1.3 AES-128-GCM TX and RX round
# trip, ciphertext on the wire (checked by decrypting it in user space), and
# which other versions and ciphers the kernel accepts (reported, not
# required). The probe does the work: tests/vm/ktls_probe.c.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
probe=$repo/build/tests/vm/ktls_probe

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (the TLS ULP loads tls.ko on first use)"
	exit 77
fi
if [[ ! -x $probe ]]; then
	echo "FAIL: $probe is not built (make build/tests/vm/ktls_probe)" >&2
	exit 1
fi

# No modprobe first: setsockopt(TCP_ULP, "tls") loading tls.ko by itself is
# part of what sipsecd relies on.
if [[ -d /sys/module/tls ]]; then
	echo "tls.ko: already loaded"
else
	echo "tls.ko: not loaded; the probe's TCP_ULP must load it"
fi
status=0
timeout 60 "$probe" || status=$?
if [[ $status -ne 0 && ! -d /sys/module/tls ]]; then
	modprobe tls 2>&1 | sed 's/^/modprobe tls: /' >&2 || true
fi
[[ -d /sys/module/tls ]] && echo "tls.ko: loaded"
exit "$status"
