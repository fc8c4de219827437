#!/usr/bin/env bash
# SIP over UDP on the user-space path, case by case, in a three-host lab:
#   semantics   an unbound client and a server registered in epoll before
#               bind(), both under the shim (udpprobe.c checks): datagram
#               boundaries from 1 to 60000 bytes, the real source address,
#               truncation, MSG_PEEK, non-blocking, epoll and poll,
#               several iovecs, connect/getpeername/getsockname; IPv4 and
#               IPv6. The link carries no UDP to or from the SIP port,
#               only TLS.
#   network     cleartext to the shimmed server's SIP port from a host
#               without sipsec never reaches the program
#   no daemon   bind() to a SIP port fails with EACCES, the shim says why
#   identity    under identity_check = enforce, a request whose
#               Request-URI is not the peer's authenticated identity is
#               dropped by the sending daemon (logged); a good one passes
# Exit 0 pass, 1 fail, 77 skip ("SKIP: reason").
set -euo pipefail

. "$(dirname "$0")/lib.bash"
PROBE=$repo/build/tests/integration/udpprobe
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
for t in tshark tcpdump; do
	command -v "$t" >/dev/null || skip "$t is missing (scripts/deps.sh)"
done
[[ -x $PROBE && -x $SHIM ]] || { echo "build first (make)"; exit 1; }

lab_begin udp
plain() { local h=$1; shift; lab exec "$h" -- timeout 30 "$@"; }

# udpserve HOST ADDR: udpprobe echoes on ADDR:5060 in HOST.
udpserve() {
	local host=$1 addr=$2
	shimmed "$host" "$PROBE" server "$addr" 5060 >"$work/server.out" 2>&1 &
	server_pid=$!
	for _ in $(seq 50); do
		grep -q '^listening' "$work/server.out" 2>/dev/null && return 0
		sleep 0.1
	done
	bad "the server in $host did not start"; cat "$work/server.out"
}

# udpprobe's datagrams are not SIP: no identity check on h1 and h2
# (daemon(), lib.bash); the identity case below runs it on h3.
lab up --hosts 3 >/dev/null
daemon h1 >/dev/null
daemon h2 >/dev/null

echo "semantics"
for fam in 4 6; do
	a1=$(lab addr h1 $fam)
	a2=$(lab addr h2 $fam)
	lab capture start --file "$work/link$fam.pcap" >/dev/null
	udpserve h2 "$a2"
	if shimmed h1 "$PROBE" client "$a2" 5060 >"$work/client$fam.out" 2>&1; then
		ok "IPv$fam client: $(tr '\n' ' ' <"$work/client$fam.out")"
	else
		bad "IPv$fam client:"; sed 's/^/        /' "$work/client$fam.out"
	fi
	if wait "$server_pid"; then
		ok "IPv$fam server: $(grep -c '^from' "$work/server.out") datagrams echoed"
	else
		bad "IPv$fam server:"; sed 's/^/        /' "$work/server.out"
	fi
	lab capture stop >/dev/null 2>&1
	# The server saw the client's real address, with the client's port.
	port=$(awk '/^local/ { print $3 }' "$work/client$fam.out")
	grep -q "^from $a1 $port " "$work/server.out" ||
		bad "IPv$fam: the server did not see the client as $a1 $port"
	udp=$(tshark -r "$work/link$fam.pcap" -Y "udp.port == 5060 || udp.port == $port" 2>/dev/null | wc -l)
	tls=$(python3 "$repo/scripts/capcount.py" --json "$work/link$fam.pcap" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["tls"]["records"]["application_data"])')
	if ((udp == 0 && tls > 0)); then
		ok "IPv$fam wire: 0 UDP frames on the SIP ports, $tls TLS application-data records"
	else
		bad "IPv$fam wire: $udp UDP frames on the SIP ports, $tls TLS application-data records"
	fi
done

echo "network"
a2=$(lab addr h2)
a3=$(lab addr h3)
udpserve h2 "$a2"
plain h3 "$PROBE" send "$a2" 5060 "OPTIONS sip:h2 SIP/2.0" || bad "plain send from h3"
sleep 0.5
shimmed h1 "$PROBE" client "$a2" 5060 >/dev/null 2>&1 || bad "client after the cleartext datagram"
wait "$server_pid" || bad "server after the cleartext datagram"
if grep -q "^from $a3 " "$work/server.out"; then
	bad "cleartext from h3 reached the program"
else
	ok "cleartext from h3 to the shimmed SIP port did not reach the program"
fi
grep -q "not from sipsecd" "$work/server.out" &&
	ok "the shim logged: $(grep -m1 'not from sipsecd' "$work/server.out" | cut -d" " -f2-)" ||
	bad "the shim did not log the dropped datagram"

echo "no daemon"
if out=$(shimmed h3 "$PROBE" expect-errno "$a3" 5060 EACCES 2>&1); then
	ok "bind on h3: $(echo "$out" | tr '\n' ' ')"
else
	bad "bind on h3: $out"
fi

echo "identity"
lab daemon h3 >/dev/null
sip() { # Request-URI host, Call-ID
	printf 'OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%s\r\nFrom: <sip:probe@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' \
		"$1" "$a3" "$2" "$a3" "$1" "$2"
}
udpserve h2 "$a2"
sip "$a2" good1 | shimmed h3 "$PROBE" send "$a2" 5060 - || bad "send good request"
sip evil.example bad1 | shimmed h3 "$PROBE" send "$a2" 5060 - || bad "send bad request"
sleep 1
shimmed h1 "$PROBE" client "$a2" 5060 >/dev/null 2>&1 || bad "client after the identity case"
wait "$server_pid" || bad "server after the identity case"
good=$(sip "$a2" good1 | wc -c)
n=$(grep -c "^from $a3 " "$work/server.out" || true)
if ((n == 1)) && grep -q "^from $a3 [0-9]* $good\$" "$work/server.out"; then
	ok "the request to $a2 arrived, the one to evil.example did not"
else
	bad "identity: $n datagrams from h3 arrived (expected the good one only)"
	sed 's/^/        /' "$work/server.out"
fi
if grep -q "evil.example.*datagram dropped" "$(lab dir)/h3.log"; then
	ok "h3's daemon: $(grep -m1 'evil.example.*datagram dropped' "$(lab dir)/h3.log" | cut -d' ' -f3-)"
else
	bad "h3's daemon did not log the dropped request"
fi

lab_finish
