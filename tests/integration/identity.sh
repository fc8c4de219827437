#!/usr/bin/env bash
# The identity cross-check (draft 4.5) in the shim, in a two-host lab with
# sipsecd on each and shimmed python3 programs: a client on h1, a server
# on h2:5060.
#   pass        a request to h2's address goes out and is received
#   sent        under enforce, a request whose Request-URI names another
#               domain fails with EACCES; the server receives none of it
#   received    h1's policy for h2 says identity_check = off, so h1 lets a
#               request with a foreign From out; h2's enforce refuses it:
#               the server's recv() fails with ECONNRESET, no request
#   log         the same with identity_check = log on h2: delivered, and
#               h2's shim logs the mismatch
# Exit 0 pass, 1 fail, 77 skip ("SKIP: reason").
set -euo pipefail

. "$(dirname "$0")/lib.bash"
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
command -v python3 >/dev/null || skip "python3 is missing"
[[ -x $SHIM ]] || { echo "build first (make)"; exit 1; }

lab_begin identity

# The server: one connection; prints each request line it receives, and
# how the connection ended.
cat >"$work/server.py" <<'EOF'
import errno, re, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5060))
s.listen(4)
print("listening", flush=True)
c, peer = s.accept()
data = b""
try:
    while True:
        b = c.recv(65536)
        if not b:
            end = "eof"
            break
        data += b
except OSError as e:
    end = errno.errorcode.get(e.errno, e.errno)
for m in re.finditer(rb"MESSAGE sip:\S+ SIP/2\.0", data):
    print("got", m.group(0).decode(), flush=True)
print("end:", end, flush=True)
EOF
# The client: sends each request given as "RURI-HOST FROM-HOST", one by
# one, and prints what send() said.
cat >"$work/client.py" <<'EOF'
import errno, socket, sys, time
c = socket.create_connection((sys.argv[1], 5060), timeout=10)
for i, spec in enumerate(sys.argv[2:]):
    ruri, frm = spec.split()
    body = b"hello"
    msg = ("MESSAGE sip:bob@%s SIP/2.0\r\n"
           "Via: SIP/2.0/TLS %s:5060;branch=z9hG4bK%d\r\n"
           "From: <sip:alice@%s>;tag=%d\r\nTo: <sip:bob@%s>\r\n"
           "Call-ID: %d@probe\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
           "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
           % (ruri, sys.argv[1], i, frm, i, ruri, i, len(body))).encode() + body
    try:
        c.sendall(msg)
        print("sent", ruri, frm, flush=True)
    except OSError as e:
        print("send", ruri, frm, errno.errorcode.get(e.errno, e.errno), flush=True)
        break
    time.sleep(0.3)
c.close()
EOF

serve() {
	rm -f "$work/server.out" "$work/server.err"
	shimmed h2 python3 "$work/server.py" "$a2" >"$work/server.out" 2>"$work/server.err" &
	server_pid=$!
	for _ in $(seq 50); do
		# the redirection may come after us: the file may be old
		sleep 0.1
		grep -q '^listening' "$work/server.out" 2>/dev/null && return 0
		sleep 0.1
	done
	bad "the server in h2 did not start"; cat "$work/server.err"
}
finish() {
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}
client() { shimmed h1 python3 "$work/client.py" "$a2" "$@" >"$work/client.out" 2>"$work/client.err" || true; }

lab up --hosts 2 >/dev/null
a1=$(lab addr h1)
a2=$(lab addr h2)
lab daemon h1 >/dev/null
lab daemon h2 >/dev/null

echo "pass, then a sent request for another domain (enforce on both)"
serve
client "$a2 $a1" "evil.example $a1" "$a2 $a1"
finish
if grep -q "^sent $a2 $a1" "$work/client.out" &&
	grep -q "^got MESSAGE sip:bob@$a2 SIP/2.0" "$work/server.out"; then
	ok "request to $a2 from $a1: sent and received"
else
	bad "a request to h2's address:"; cat "$work/client.out" "$work/server.out" "$work/client.err"
fi
if grep -q "^send evil.example $a1 EACCES" "$work/client.out" &&
	! grep -q "evil" "$work/server.out" &&
	! grep -q "^sent $a2 $a1.*" <(sed -n 3p "$work/client.out"); then
	ok "request to evil.example: EACCES, nothing of it received (server: $(grep '^end' "$work/server.out"))"
	ok "h1 shim: $(grep -m1 -o 'identity check.*' "$work/client.err")"
else
	bad "a request to another domain:"; cat "$work/client.out" "$work/server.out" "$work/client.err"
fi

echo "a received request from another domain (h1: off for h2, h2: enforce)"
printf '[peer h2]\naddress = %s\nidentity_check = off\n' "$a2" >"$work/h1-off.conf"
lab stop h1 >/dev/null
lab daemon h1 --conf-append "$work/h1-off.conf" >/dev/null
serve
client "$a2 $a1" "$a2 evil.example"
finish
if grep -q "^got MESSAGE sip:bob@$a2" "$work/server.out" &&
	grep -q "^end: ECONNRESET" "$work/server.out" &&
	[[ $(grep -c '^got' "$work/server.out") -eq 1 ]]; then
	ok "h2's program: the first request, then ECONNRESET instead of the one from evil.example"
	ok "h2 shim: $(grep -m1 -o 'identity check.*' "$work/server.err")"
else
	bad "a received request from another domain:"; cat "$work/client.out" "$work/server.out" "$work/server.err"
fi

echo "the same with identity_check = log on h2"
printf '[peer h1]\naddress = %s\nidentity_check = log\n' "$a1" >"$work/h2-log.conf"
lab stop h2 >/dev/null
lab daemon h2 --conf-append "$work/h2-log.conf" >/dev/null
serve
client "$a2 evil.example" "$a2 evil.example" "$a2 $a1"
finish
if [[ $(grep -c '^got MESSAGE' "$work/server.out") -eq 3 ]] &&
	[[ $(grep -c 'identity check (log only).*From host .evil.example.' "$work/server.err") -eq 1 ]]; then
	ok "all 3 requests delivered; logged once: $(grep -m1 -o 'identity check.*' "$work/server.err")"
else
	bad "log mode:"; cat "$work/server.out" "$work/server.err"
fi

lab_finish
