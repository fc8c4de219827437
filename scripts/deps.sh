#!/usr/bin/env bash
# Installs the Debian packages that sipsec's build, demo and tests need.
# A no-op when everything is present; otherwise one noninteractive
# apt-get install of exactly what is missing. libclang-rt-dev is clang's
# libFuzzer and sanitizer runtime (only recommended by clang, and
# recommendations are not installed here): make fuzzers needs it.
#
#   scripts/deps.sh [build|test|demo|vm|bench|all]...   (default: all)
set -euo pipefail

build=(build-essential pkg-config clang llvm libelf-dev zlib1g-dev
       libssl-dev openssl liburing-dev libbpf-dev bpftool libinih-dev
       libmnl-dev libcriterion-dev libclang-rt-dev)
lab=(iproute2 util-linux procps psmisc tcpdump tshark sip-tester python3 kamailio kamailio-tls-modules)
# The VM suite runs the host's own tools inside the guest (tcpdump, ip, tc).
bench=(stunnel4 gnuplot-nox time linux-perf)
vm=(qemu-system-x86 linux-image-amd64 busybox-static cpio kmod iproute2 tcpdump)

want=()
for group in "${@:-all}"; do
	case "$group" in
	build) want+=("${build[@]}") ;;
	demo) want+=("${build[@]}" "${lab[@]}") ;;
	vm) want+=("${vm[@]}") ;;
	bench) want+=("${build[@]}" "${lab[@]}" "${bench[@]}") ;;
	test) want+=("${build[@]}" "${lab[@]}" "${vm[@]}") ;;
	all) want+=("${build[@]}" "${lab[@]}" "${vm[@]}" "${bench[@]}") ;;
	-h | --help)
		sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "deps.sh: unknown group '$group' (build, test, demo, vm, bench, all)" >&2
		exit 2
		;;
	esac
done

missing=()
for pkg in $(printf '%s\n' "${want[@]}" | sort -u); do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the answer does not matter
# here (captures run as root), but the question must not block.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	$sudo debconf-set-selections
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
