#!/usr/bin/env bash
# The event loop is io_uring: strace -f of a running tapd (FUSE-mount mode, with traffic both ways and a
# poll() from a client) shows io_uring_enter and no epoll_wait / poll / ppoll / select / pselect6.
set -u
tapd=$1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v strace >/dev/null || { echo "SKIP: strace not installed"; exit 77; }
[ -e /dev/fuse ] && [ -e /dev/net/tun ] || { echo "SKIP: needs /dev/fuse and /dev/net/tun"; exit 77; }
dir=$(mktemp -d /tmp/tapd-strace.XXXXXX)
trap 'umount -l "$dir/mnt" 2>/dev/null; rm -rf "$dir"' EXIT
mkdir "$dir/mnt"
exec unshare -n bash -c '
  dir=$1; tapd=$2
  strace -f -qq -o "$dir/trace" "$tapd" --fuse-mount "$dir/mnt" --device tap0 2>"$dir/log" &
  strace_pid=$!
  for _ in $(seq 200); do grep -q ready "$dir/log" 2>/dev/null && break; sleep 0.05; done
  grep -q ready "$dir/log" || { echo "FAIL: tapd not ready within 10 s"; cat "$dir/log"; pkill -TERM -P "$strace_pid"; exit 1; }
  sysctl -qw net.ipv6.conf.tap0.disable_ipv6=1 2>/dev/null
  ip addr add 10.0.0.1/24 dev tap0; ip link set tap0 up
  python3 - "$dir/mnt/tap0" <<PY
import os, select, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
me = bytes.fromhex("020000000002")
arp = b"\xff"*6 + me + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + me + bytes([10,0,0,2]) + b"\0"*6 + bytes([10,0,0,1])
for _ in range(3):
    os.write(fd, b"\0"*10 + arp)
    p = select.poll(); p.register(fd, select.POLLIN)
    if p.poll(2000):
        os.read(fd, 2048)
PY
  # SIGTERM to tapd itself (strace would only detach): the shutdown path is traced too.
  pkill -TERM -P "$strace_pid"
  timeout 10 tail --pid="$strace_pid" -f /dev/null
  fail=0
  n_uring=$(grep -c "io_uring_enter" "$dir/trace")
  bad=$(grep -E "^[0-9]+ +(epoll_wait|epoll_pwait|epoll_pwait2|poll|ppoll|select|pselect6)\(" "$dir/trace" | head -5)
  echo "io_uring_enter calls: $n_uring"
  [ "$n_uring" -gt 0 ] || { echo "FAIL: no io_uring_enter in the trace"; fail=1; }
  [ -z "$bad" ] || { echo "FAIL: tapd waited outside io_uring:"; echo "$bad"; fail=1; }
  [ $fail -eq 0 ] && echo "PASS: the loop waits only in io_uring_enter"
  exit $fail
' bash "$dir" "$tapd"
