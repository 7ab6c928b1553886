#!/usr/bin/env bash
# The demo, as root on a kernel with CUSE (the host, or user-mode-linux): tapd serves /dev/tap0 and a
# legacy client exchanges frames with the kernel through it.
set -u
cd "$(dirname "$0")/.."
tapd=${TAPD:-build/daemon/tapd}
log=$(mktemp)
"$tapd" --device tap0 2>"$log" &
pid=$!
for _ in $(seq 100); do grep -q ready "$log" && break; sleep 0.05; done
cat "$log"
ls -l /dev/tap0
python3 scripts/demo-client.py /dev/tap0; rc=$?
kill -TERM "$pid"; wait "$pid"
cat "$log"
ip link show tap0 >/dev/null 2>&1 && { echo "tap0 still exists after tapd stopped"; rc=1; }
[ -e /dev/tap0 ] && { echo "/dev/tap0 still exists after tapd stopped"; rc=1; }
[ $rc -eq 0 ] && echo "demo: OK"
exit $rc
