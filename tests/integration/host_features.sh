#!/usr/bin/env bash
# What this machine's own kernel offers sipsec, found by trying each feature
# for real, not by reading the kernel configuration:
#   ktls    setsockopt(TCP_ULP, "tls") on a loopback TCP pair
#           (build/tests/vm/ktls_probe --report)
#   esp     an ESP transport SA with rfc4106(gcm(aes)) in a throwaway netns;
#           when refused, a cbc(aes)+hmac(sha256) SA tells whether ESP
#           itself or only the AEAD is missing
#   tc-bpf  the VM suite's TC classifier test (tests/vm/test_tc_bpf.sh),
#           which works only inside throwaway network namespaces
# Prints one line per feature ("ktls: absent (ENOENT)", ...).
# Exit 0 when every feature was determined (absent is a result), 77 with
# "SKIP: <reason>" when not root, 1 on an error (including a TC BPF test
# that fails: every supported kernel has TC BPF).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
probe=$repo/build/tests/vm/ktls_probe
tc_test=$repo/tests/vm/test_tc_bpf.sh
ns=sipsec-hf-$$
aead_key=0x0102030405060708090a0b0c0d0e0f1011121314
cbc_key=0x00112233445566778899aabbccddeeff
hmac_key=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff

cleanup() {
	local status=$?
	trap - EXIT
	ip netns del "$ns" 2>/dev/null || true
	exit "$status"
}

fail() {
	echo "host_features: $*" >&2
	exit 1
}

check_prerequisites() {
	local tool
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP: needs root (netns, xfrm, bpf())"
		exit 77
	fi
	for tool in ip tc bpftool nsenter; do
		command -v "$tool" >/dev/null || fail "$tool is missing (scripts/deps.sh)"
	done
	[[ -x $probe ]] || fail "$probe is not built (make build/tests/vm/ktls_probe)"
}

probe_ktls() {
	local out status=0
	out=$(timeout 60 "$probe" --report) || status=$?
	[[ $status -eq 0 ]] || fail "ktls_probe could not tell (exit $status): $out"
	# Absent: one line. Present: the probe's per-cipher report follows.
	echo "$out"
}

# Prints the kernel's message for a refused SA, or nothing when accepted.
try_sa() {
	local out
	if out=$(timeout 20 ip -n "$ns" xfrm state add src 192.0.2.1 dst 192.0.2.2 \
		proto esp spi 0x100 mode transport "$@" 2>&1); then
		timeout 20 ip -n "$ns" xfrm state flush
		return 0
	fi
	echo "${out:-ip xfrm failed without a message}" | tr '\n' ' ' |
		sed -e 's/^Error: //' -e 's/[. ]*$//'
}

probe_esp() {
	local aead_err cbc_err
	timeout 20 ip netns add "$ns" || fail "cannot create netns $ns"
	aead_err=$(try_sa aead 'rfc4106(gcm(aes))' "$aead_key" 128)
	if [[ -z $aead_err ]]; then
		echo "esp: present (rfc4106(gcm(aes)) transport SA accepted)"
		return 0
	fi
	cbc_err=$(try_sa enc 'cbc(aes)' "$cbc_key" auth 'hmac(sha256)' "$hmac_key")
	if [[ -z $cbc_err ]]; then
		echo "esp: absent for rfc4106(gcm(aes)) ($aead_err); cbc(aes)+hmac(sha256) SA accepted"
	else
		echo "esp: absent (rfc4106(gcm(aes)): $aead_err; cbc(aes)+hmac(sha256): $cbc_err)"
	fi
	timeout 20 ip netns del "$ns"
}

probe_tc_bpf() {
	local out status=0
	out=$(timeout 120 "$tc_test" 2>&1) || status=$?
	case $status in
	0) grep '^tc-bpf:' <<<"$out" ;;
	*)
		echo "$out" >&2
		fail "tc-bpf: the TC classifier test failed (exit $status)"
		;;
	esac
}

main() {
	check_prerequisites
	trap cleanup EXIT
	# Without these, a timeout's SIGTERM would skip the EXIT trap.
	trap 'exit 143' TERM
	trap 'exit 130' INT
	echo "kernel: $(uname -r)"
	probe_ktls
	probe_esp
	probe_tc_bpf
}

main "$@"
