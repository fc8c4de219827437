#!/usr/bin/env bash
# `sipsecctl sip-parse` as a user runs it: the seed messages of the SIP
# fuzz target are accepted (exit 0) with their headers listed, a stream
# cut short is "incomplete" (exit 1), garbage is rejected with its reason
# (exit 1), security-agreement headers are read with their grammars (and
# one that does not parse rejects the message), input past the limits is refused without being read whole,
# --json is valid JSON, and a stray argument is a usage error (exit 2).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
ctl=${B:-$repo/build}/sipsecctl
seeds=$repo/tests/fuzz/corpus/sip
[[ -x "$ctl" ]] || { echo "SKIP: $ctl is not built (make)"; exit 77; }
bad=0
check() { # what, want-exit, want-substring, command...
	local what=$1 want=$2 sub=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -ne $want || "$out" != *"$sub"* ]]; then
		echo "FAIL $what: exit $rc (want $want), output lacks '$sub':"
		echo "$out" | head -20 | sed 's/^/    /'
		bad=1
	else
		echo "ok   $what"
	fi
}
for f in "$seeds"/*; do
	check "$(basename "$f") as a datagram" 0 "headers" \
		sh -c '"$0" sip-parse --dgram < "$1"' "$ctl" "$f"
done
check "invite on a stream" 0 "Content-Length         Content-Length: 4" \
	sh -c '"$0" sip-parse < "$1"' "$ctl" "$seeds/invite"
check "multipart parts" 0 "part 2: 2 headers" \
	sh -c '"$0" sip-parse < "$1"' "$ctl" "$seeds/multipart"
check "security headers, both grammars" 0 "= ipsec     ipsec-ike k:ike q=100" \
	sh -c 'printf "OPTIONS sip:p2@mtcc.com SIP/2.0\r\nX-SIP-SECURE-SUPPORTS: tls.sec.sip.iana; ipsec.sec.sip.iana=(r:mtcc.com, k:IKE)\r\nSecurity-Client: tls;q=0.5, ipsec-ike;q=0.1\r\nContent-Length: 0\r\n\r\n" | "$0" sip-parse' "$ctl"
check "a Requires with two methods" 1 "takes exactly one method" \
	sh -c 'printf "SIP/2.0 494 Security Agreement Required\r\nX-SIP-SECURE-REQUIRES: tls.sec.sip.iana; ipsec.sec.sip.iana\r\nContent-Length: 0\r\n\r\n" | "$0" sip-parse' "$ctl"
check "a cut stream" 1 "rejected: incomplete: the body has" \
	sh -c 'head -c -2 "$1" | "$0" sip-parse' "$ctl" "$seeds/invite"
check "no Content-Length on a stream" 1 "no Content-Length" \
	sh -c '"$0" sip-parse < "$1"' "$ctl" "$seeds/draft-options"
check "garbage" 1 "rejected: line 1: start line 'GET /' is neither" \
	sh -c 'printf "GET /\r\n\r\n" | "$0" sip-parse' "$ctl"
check "too much input" 1 "input longer than 81920 bytes" \
	sh -c 'head -c 1000000 /dev/zero | "$0" sip-parse' "$ctl"
check "json" 0 '"accepted": true' \
	sh -c '"$0" --json sip-parse < "$1" | python3 -m json.tool' "$ctl" \
	"$seeds/response"
check "json rejection" 1 '"reason":"line 1: ' \
	sh -c 'printf "x\r\n\r\n" | "$0" sip-parse --json' "$ctl"
check "stray argument" 2 "unexpected 'x'" "$ctl" sip-parse x
check "help" 0 "EXIT STATUS" "$ctl" sip-parse --help
exit $bad
