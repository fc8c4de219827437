#!/usr/bin/env bash
# Two sipsec daemons that share only a pre-shared key, in a three-host
# lab, with a careful legacy-style program (shimprobe) under the shim:
#   shared key   h1 and h2 have no certificate, no CA, only the key in the
#                section for each other: the program's TCP connection
#                from h1 to h2 is carried in TLS 1.3 authenticated by the
#                key, with the agreement inside it (ALPN sipsec/1)
#   wrong key    h3 offers h2 the identity h2 knows it by, with another
#                key: the program's connect() gets ECONNREFUSED and both
#                daemons log the PSK failure
# Each daemon runs with a configuration of its own (the lab's daemon
# command would add the lab's certificates), in its own lab, so other
# labs on this machine are left alone.
# Exit 0 pass, 1 fail, 77 skip ("SKIP: reason").
set -euo pipefail

. "$(dirname "$0")/lib.bash"
SIPSECD=$repo/build/sipsecd
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
command -v openssl >/dev/null || skip "openssl is missing (key generation)"
[[ -x $PROBE && -x $SHIM && -x $CTL && -x $SIPSECD ]] || { echo "build first (make)"; exit 1; }

lab_begin psk

# key NAME: a fresh 32-byte key in a file only root reads.
key() {
	(umask 077 && openssl rand -hex 32 >"$work/$1.psk")
	echo "$work/$1.psk"
}

# keyed_daemon HOST SECTIONS: sipsecd in HOST with no certificate anywhere.
# shimprobe speaks lines, not SIP: the identity check is off.
keyed_daemon() {
	local h=$1 sections=$2 conf=$work/$1.conf
	{
		printf '[global]\nlog_level = debug\nname = %s.psk.test\n' "$h"
		printf 'pin_dir = /sys/fs/bpf/sipsec-lab-%s-%s\n' "$lab" "$h"
		printf 'identity_check = off\n\n%s\n' "$sections"
	} >"$conf"
	mkdir -p "/sys/fs/bpf/sipsec-lab-$lab-$h"
	"$LAB_SH" --lab "$lab" exec "$h" -- setsid "$SIPSECD" --foreground \
		--config "$conf" </dev/null >>"$work/$h.log" 2>&1 &
	for _ in $(seq 50); do
		lab exec "$h" -- "$CTL" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	bad "$h: sipsecd not ready:"; tail -5 "$work/$h.log"
	exit 1
}

lab up --hosts 3 >/dev/null
a1=$(lab addr h1)
a2=$(lab addr h2)
a3=$(lab addr h3)
k12=$(key h1-h2)
k23=$(key h3-h2)
wrong=$(key wrong)

# peer HOST ADDR KEYFILE IDENTITY: the section for HOST, keyed by KEYFILE
# under IDENTITY (the client's name).
peer() {
	printf '[peer %s]\naddress = %s\nname = %s.psk.test\n' "$1" "$2" "$1"
	printf 'psk = file:%s\npsk_identity = %s.psk.test\n\n' "$3" "$4"
}
keyed_daemon h1 "$(peer h2 "$a2" "$k12" h1)"
keyed_daemon h2 "$(peer h1 "$a1" "$k12" h1; peer h3 "$a3" "$k23" h3)"
keyed_daemon h3 "$(peer h2 "$a2" "$wrong" h3)"

if grep -qE '^(ca|cert|key) *=' "$work"/h[123].conf; then
	bad "a configuration names a certificate"
fi

echo "shared key"
serve h2 1
if shimmed h1 "$PROBE" client "$a2" 5060 >"$work/client.out" 2>&1; then
	ok "the program's connection from h1 to h2 passed its checks"
else
	bad "client:"; sed 's/^/        /' "$work/client.out"
fi
wait "$server_pid" || bad "server: $(cat "$work/server-h2.out")"
if grep -q "to $a2:5061: h2.psk.test verified, TLSv1.3 .*tls agreed with the peer's sipsecd" "$work/h1.log" &&
	grep -q "from $a1:[0-9]*: h1.psk.test verified, TLSv1.3 .*tls agreed with the peer's sipsecd" "$work/h2.log"; then
	ok "TLS 1.3 by the key alone, agreement inside it: $(grep -o "to $a2:5061: .*" "$work/h1.log" | head -1)"
else
	bad "no PSK connection logged:"; tail -5 "$work/h1.log"; tail -5 "$work/h2.log"
fi

echo "wrong key"
serve h2 1
if shimmed h3 "$PROBE" expect-errno "$a2" 5060 ECONNREFUSED >"$work/refused.out" 2>&1; then
	ok "the program's connect() from h3 failed with ECONNREFUSED"
else
	bad "connect():"; sed 's/^/        /' "$work/refused.out"
fi
if grep -q "PSK 'h3.psk.test' from $a3:[0-9]*: wrong key?" "$work/h2.log" &&
	grep -q "PSK 'h3.psk.test' refused by the server" "$work/h3.log"; then
	ok "h2: $(grep -o "PSK 'h3.psk.test' from .*" "$work/h2.log" | head -1)"
	ok "h3: $(grep -o "PSK 'h3.psk.test' refused .*" "$work/h3.log" | head -1)"
else
	bad "the PSK failure is not logged as expected:"
	tail -3 "$work/h2.log"; tail -3 "$work/h3.log"
fi
for f in "$work"/h[123].log; do
	for k in "$k12" "$k23" "$wrong"; do
		if grep -qF "$(cut -c1-16 "$k")" "$f"; then
			bad "$(basename "$f") holds key material"
		fi
	done
done
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true

lab_finish
