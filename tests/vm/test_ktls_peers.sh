#!/usr/bin/env bash
# The kernel path against a foreign TLS server (`openssl s_server -rev`,
# which knows nothing of sipsec and sends TLS 1.3 session tickets): a
# shimmed client on h1 connects to h2:5060 and sipsecd on h1 makes it a
# kTLS connection to h2:5061. For each version x suite: a line goes out
# and comes back reversed (tickets consumed by the shim's read path),
# then "CLOSE" makes the server send close_notify, which the client must
# read as end of file. Last, `ktls = require` with a server that offers
# only a suite the kernel cannot offload (TLS 1.2 AES128-SHA): the
# program's connect() is refused and sipsecd logs why.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$repo/scripts/lab.sh
shim=$repo/build/libsipsec.so
lab=vkpeer

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ktls-peers.XXXXXX")
lab() { timeout 120 "$lab_sh" --lab "$lab" "$@"; }
in_host() { local h=$1; shift; lab exec "$h" -- "$@"; }
srv=""
cleanup() {
	local rc=$?
	trap - EXIT
	[[ -n $srv ]] && { kill "$srv" 2>/dev/null || true; }
	if ((rc != 0)); then
		tail -n 20 "$(lab dir)/h1.log" 2>/dev/null || true
		tail -n 5 "$work"/srv.out 2>/dev/null || true
	fi
	lab down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

cat >"$work/client.py" <<'PY'
import socket, sys
s = socket.create_connection(("198.18.0.2", 5060), timeout=30)
s.sendall(b"OPTIONS sip:kernel-path SIP/2.0\n")
d = b""
while not d.endswith(b"\n"):
    r = s.recv(200)
    if not r:
        sys.exit("early end of file")
    d += r
assert d == b"0.2/PIS htap-lenrek:pis SNOITPO\n", d
s.sendall(b"CLOSE\n")
while True:
    r = s.recv(200)          # close_notify must end as b"", not an error
    if not r:
        break
print("echo ok, close_notify read as end of file")
s.close()
PY

lab down >/dev/null 2>&1 || true
lab up >/dev/null
# The programs here exchange lines, not SIP: the identity check (draft
# 4.5, which frames SIP requests) is off; tests/integration/identity.sh
# tests it.
printf 'tls_min_version = 1.2\nidentity_check = off\n' >"$work/tls12.ini"
lab daemon h1 --conf-append "$work/tls12.ini" >/dev/null
certs="$(lab dir)/certs"

serve() {
	in_host h2 openssl s_server -accept 5061 -rev -naccept 1 -quiet \
		-cert "$certs/h2.sipsec.test.pem" -key "$certs/h2.sipsec.test.key" \
		-CAfile "$certs/ca.pem" -Verify 1 "$@" >"$work/srv.out" 2>&1 &
	srv=$!
	for _ in $(seq 50); do
		in_host h2 ss -ltn | grep -q ':5061 ' && return 0
		sleep 0.2
	done
	return 1
}

fails=0
for v in 1.3 1.2; do
	for suite in AES128GCM AES256GCM CHACHA20; do
		if [[ $v == 1.3 ]]; then
			case $suite in
			AES128GCM) arg=(-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256) ;;
			AES256GCM) arg=(-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384) ;;
			CHACHA20) arg=(-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256) ;;
			esac
		else
			case $suite in
			AES128GCM) arg=(-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256) ;;
			AES256GCM) arg=(-tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384) ;;
			CHACHA20) arg=(-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-CHACHA20-POLY1305) ;;
			esac
		fi
		serve "${arg[@]}"
		if out=$(in_host h1 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
			timeout 60 python3 "$work/client.py" 2>&1); then
			line=$(grep -o 'to 198.18.0.2:5061: .*kernel TLS (TX on, RX on)' \
				"$(lab dir)/h1.log" | tail -n 1)
			echo "TLS $v $suite: $out; ${line#*verified, }"
			[[ -n $line ]] || { echo "  not on the kernel path"; fails=$((fails + 1)); }
		else
			echo "TLS $v $suite: FAIL: $out"
			fails=$((fails + 1))
		fi
		wait "$srv" 2>/dev/null || true
		srv=""
	done
done

# require: a server with nothing the kernel can offload.
printf 'ktls = require\ntls_min_version = 1.2\nidentity_check = off\n' >"$work/require.ini"
lab stop h1 >/dev/null
lab daemon h1 --conf-append "$work/require.ini" >/dev/null
serve -tls1_2 -cipher AES128-SHA
if in_host h1 env LD_PRELOAD="$shim" SIPSEC_LOG=stderr \
	timeout 60 python3 "$work/client.py" >"$work/req.out" 2>&1; then
	echo "require: FAIL: the connection was made"
	fails=$((fails + 1))
else
	grep -q "Connection refused" "$work/req.out" &&
		echo "require: connect() refused (ECONNREFUSED)" ||
		{ echo "require: FAIL: $(tail -n 1 "$work/req.out")"; fails=$((fails + 1)); }
	grep "to 198.18.0.2:5061" "$(lab dir)/h1.log" | tail -n 1 |
		sed 's/^/  sipsecd: /' || true
fi
exit $((fails > 0))
