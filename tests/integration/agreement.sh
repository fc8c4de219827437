#!/usr/bin/env bash
# The agreement between two sipsec daemons inside TLS, in a two-host lab,
# with a careful legacy-style program (shimprobe) under the shim on each
# side:
#   agreed      the first connection: both daemons select ALPN sipsec/1,
#               exchange Security-Client / -Server / -Verify and the
#               X-SIP-SECURE-* headers, and agree on tls; h1's credential
#               cache then holds the next hop with a TLS session issued
#               after the agreement
#   cached      the next connections resume that session and skip the
#               agreement on both sides (the cache counts the hits)
#   refused     h2's policy for h1 changes to "ipsec only": the agreement
#               fails (488 from h2, with its reason), the program's
#               connect() gets ECONNREFUSED, nothing is sent in cleartext
# Exit 0 pass, 1 fail, 77 skip ("SKIP: reason").
set -euo pipefail

. "$(dirname "$0")/lib.bash"
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
command -v python3 >/dev/null || skip "python3 is missing"
[[ -x $PROBE && -x $SHIM && -x $CTL ]] || { echo "build first (make)"; exit 1; }

lab_begin agree

# A field of h1's credential cache entry for h2 (JSON).
cache_field() {
	lab exec h1 -- "$CTL" --json status |
		python3 -c 'import json,sys; c=json.load(sys.stdin)["cache"]; print(c[0][sys.argv[1]] if c else "none")' "$1"
}

lab up --hosts 2 >/dev/null
a1=$(lab addr h1)
a2=$(lab addr h2)
daemon h1 >/dev/null
daemon h2 >/dev/null

echo "agreed, then cached"
serve h2 3
for i in 1 2 3; do
	if shimmed h1 "$PROBE" client "$a2" 5060 >"$work/client$i.out" 2>&1; then
		ok "connection $i: the program's checks passed"
	else
		bad "connection $i:"; sed 's/^/        /' "$work/client$i.out"
	fi
	if ((i == 1)); then
		if log_of h1 | grep -q "tls agreed with the peer's sipsecd" &&
			log_of h2 | grep -q "tls agreed with the peer's sipsecd"; then
			ok "both daemons agreed on tls inside TLS (sipsec/1)"
		else
			bad "no agreement logged:"; log_of h1 | tail -5; log_of h2 | tail -5
		fi
		session=$(cache_field agreed_session)
		[[ $session == True ]] && ok "h1 caches h2 with a session issued after the agreement" ||
			bad "h1's cache entry for h2: agreed_session=$session"
	fi
done
wait "$server_pid" || bad "server: $(cat "$work/server-h2.out")"
resumed1=$(log_of h1 | grep -c "agreement resumed from the cache" || true)
resumed2=$(log_of h2 | grep -c "agreement resumed from the cache" || true)
hits=$(cache_field hits)
if ((resumed1 == 2 && resumed2 == 2)) && [[ $hits == 2 ]]; then
	ok "connections 2 and 3 resumed: no agreement exchanged (cache hits $hits)"
else
	bad "resumed: h1 $resumed1, h2 $resumed2, cache hits $hits (want 2, 2, 2)"
fi

echo "refused by policy"
lab stop h2 >/dev/null
cat >"$work/h2-ipsec-only.conf" <<EOF
[peer h1]
address = $a1
require = ipsec
allow = ipsec
EOF
daemon h2 "$work/h2-ipsec-only.conf" >/dev/null
serve h2 1
if shimmed h1 "$PROBE" expect-errno "$a2" 5060 ECONNREFUSED >"$work/refused.out" 2>&1; then
	ok "the program's connect() failed with ECONNREFUSED"
else
	bad "connect():"; sed 's/^/        /' "$work/refused.out"
fi
if log_of h1 | grep -q "the peer refused: 488" &&
	log_of h2 | grep -q "agreement with .*policy"; then
	ok "h1: $(log_of h1 | grep -o 'the peer refused: 488.*' | head -1)"
else
	bad "the refusal is not logged as expected:"; log_of h1 | tail -3; log_of h2 | tail -3
fi
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true

lab_finish
