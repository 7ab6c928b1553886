#!/usr/bin/env bash
# Without /dev/cuse, tapd must exit non-zero with a message naming the fix (modprobe cuse, --fuse-mount),
# and leave no interface behind. On a host that has CUSE this cannot be shown: SKIP.
set -u
tapd=$1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (creates a TAP interface)"; exit 77; }
[ -e /dev/cuse ] && { echo "SKIP: this kernel has CUSE; the missing-CUSE path cannot be exercised"; exit 77; }
exec unshare -n bash -c '
  out=$("$0" --device tap0 2>&1); rc=$?
  echo "$out"
  fail=0
  [ $rc -ne 0 ] || { echo "FAIL: exit status 0 without /dev/cuse"; fail=1; }
  grep -q "modprobe cuse" <<<"$out" || { echo "FAIL: message does not name modprobe cuse"; fail=1; }
  grep -q -- "--fuse-mount" <<<"$out" || { echo "FAIL: message does not name --fuse-mount"; fail=1; }
  ip link show tap0 >/dev/null 2>&1 && { echo "FAIL: tap0 left behind"; fail=1; }
  [ $fail -eq 0 ] && echo "PASS: exit $rc with a message naming the fix, nothing left behind"
  exit $fail
' "$tapd"
