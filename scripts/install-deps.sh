#!/usr/bin/env bash
# Installs every Debian 12 package tapd needs to build, run, test and benchmark.
# Idempotent: packages already present are left alone, and apt-get update runs only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config g++
  libfuse3-dev fuse3 libnl-3-dev libnl-route-3-dev liburing-dev
  libsystemd-dev catch2 libexpected-dev
  # the fuzz build: clang with its sanitizer and libFuzzer runtimes
  clang libclang-rt-14-dev
  # run and test on the host
  iproute2 iputils-ping kmod strace systemd python3 util-linux procps coreutils
  # real CUSE inside user-mode-linux, and the real clients
  user-mode-linux socat qemu-system-x86 openvpn
  # benchmarks (bench/forwarder.sh)
  iperf3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
