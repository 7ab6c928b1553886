#!/usr/bin/env bash
# Without /dev/cuse, tapd must exit non-zero with a message naming the fix (modprobe cuse, --fuse-mount),
# and leave no interface behind. Runs on every kernel, with or without CUSE: tapd runs in a private mount
# namespace whose /dev is a fresh tmpfs holding only what it needs besides CUSE (/dev/null, /dev/net/tun),
# and in a fresh network namespace.
set -u
tapd=$1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mount and network namespaces, a TAP interface)"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: needs /dev/net/tun"; exit 77; }
dev=$(mktemp -d /tmp/tapd-no-cuse.XXXXXX) || exit 1
trap 'rmdir "$dev" 2>/dev/null' EXIT
# unshare -m makes every mount private to the new namespace (util-linux's default propagation).
unshare -m -n bash -c '
  tapd=$1 dev=$2
  fail=0
  mount -t tmpfs -o mode=755 tapd-no-cuse "$dev" || { echo "FAIL: tmpfs for a private /dev"; exit 1; }
  mkdir "$dev/net"
  touch "$dev/null" "$dev/net/tun"
  mount --bind /dev/null "$dev/null" && mount --bind /dev/net/tun "$dev/net/tun" \
    || { echo "FAIL: bind-mounting /dev/null and /dev/net/tun"; exit 1; }
  mount --move "$dev" /dev || { echo "FAIL: moving the private /dev into place"; exit 1; }
  # The precondition is asserted, never assumed: the test below means nothing with /dev/cuse present.
  [ ! -e /dev/cuse ] || { echo "FAIL: /dev/cuse still visible in the private mount namespace"; exit 1; }
  [ -c /dev/net/tun ] || { echo "FAIL: /dev/net/tun missing in the private /dev"; exit 1; }
  out=$("$tapd" --device tap0 2>&1); rc=$?
  echo "$out"
  [ $rc -ne 0 ] || { echo "FAIL: exit status 0 without /dev/cuse"; fail=1; }
  grep -q "modprobe cuse" <<<"$out" || { echo "FAIL: message does not name modprobe cuse"; fail=1; }
  grep -q -- "--fuse-mount" <<<"$out" || { echo "FAIL: message does not name --fuse-mount"; fail=1; }
  ip link show tap0 >/dev/null 2>&1 && { echo "FAIL: tap0 left behind"; fail=1; }
  [ $fail -eq 0 ] && echo "PASS: exit $rc with a message naming the fix, nothing left behind"
  exit $fail
' bash "$tapd" "$dev"
