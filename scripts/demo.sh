#!/usr/bin/env bash
# The README's first command: install, build, and show tapd serving /dev/tap0 with a default device.
# Where the kernel has no CUSE (as on the machines tapd is developed on), the demo runs inside
# user-mode-linux, whose kernel has it; it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target tapd
[ -e /dev/cuse ] || modprobe cuse 2>/dev/null || true
if [ -e /dev/cuse ]; then
  echo "== this kernel has CUSE: running tapd here, in a throwaway network namespace"
  exec unshare -n bash scripts/demo-guest.sh
fi
echo "== this kernel has no CUSE (/dev/cuse missing, modprobe cuse failed)."
echo "== Showing tapd inside user-mode-linux instead: a real kernel with CUSE, booted as a process."
out=$(pwd)/build/demo.uml-out
exec tests/uml/uml-run "$out" -- "$(pwd)/scripts/demo-guest.sh"
