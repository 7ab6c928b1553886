#!/usr/bin/env bash
# cuse_probe_test.sh: prove that a libfuse3 CUSE device works in the UML guest.
# Run it inside UML (as root, with cuse.ko loaded), e.g. from the repository root:
#
#   tests/uml/uml-run /tmp/uml-probe -- tests/uml/cuse_probe_test.sh /tmp/uml-probe
#
# WORKDIR (default: a fresh directory under /tmp) receives the cuse_probe binary; it is
# built here unless an up-to-date one is already there. Compiling inside UML works but is
# slow (every fork costs ~50 ms), so building it on the host first saves seconds:
#   cc -o /tmp/uml-probe/cuse_probe tests/uml/cuse_probe.c $(pkg-config --cflags --libs fuse3)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
workdir=${1:-$(mktemp -d /tmp/cuse_probe.XXXXXX)}
mkdir -p "$workdir"
probe=$workdir/cuse_probe
dev=/dev/probe0

fail() { echo "FAIL: $*"; exit 1; }

[[ -c /dev/cuse ]] || fail "/dev/cuse missing: not in UML, or cuse.ko not loaded"

if [[ ! -x $probe || $here/cuse_probe.c -nt $probe ]]; then
  echo "building $probe"
  # shellcheck disable=SC2046  # pkg-config prints several words on purpose
  cc -Wall -o "$probe" "$here/cuse_probe.c" $(pkg-config --cflags --libs fuse3)
fi

"$probe" probe0 &
probe_pid=$!
trap 'kill "$probe_pid" 2>/dev/null || true' EXIT

# The node appears once the kernel has processed CUSE_INIT (devtmpfs creates it).
for _ in $(seq 50); do
  [[ -c $dev ]] && break
  kill -0 "$probe_pid" 2>/dev/null || fail "cuse_probe exited early"
  sleep 0.1
done
[[ -c $dev ]] || fail "$dev did not appear within 5 s"
ls -l "$dev"

# One process does write, FIONREAD (the unrestricted-ioctl retry path) and read-back.
/usr/bin/python3 - "$dev" <<'EOF'
import fcntl, os, struct, sys, termios
dev = sys.argv[1]
msg = b"hello from inside UML through CUSE\n" * 3
fd = os.open(dev, os.O_RDWR)
assert os.write(fd, msg) == len(msg), "short write"
n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0)))[0]
assert n == len(msg), f"FIONREAD says {n}, expected {len(msg)}"
back = os.read(fd, 4096)
assert back == msg, f"read back {back!r}"
assert os.read(fd, 4096) == b"", "device not empty after read"
os.close(fd)
print(f"python: wrote/read {len(msg)} bytes, FIONREAD={n}: OK")
EOF

# And plain tools, through separate opens.
printf 'dd-check-%s' "$$" | dd of="$dev" bs=4096 status=none
got=$(dd if="$dev" bs=4096 count=1 status=none)
[[ $got == "dd-check-$$" ]] || fail "dd read back '$got'"
echo "dd: OK"

kill "$probe_pid"
wait "$probe_pid" 2>/dev/null || true
trap - EXIT
for _ in $(seq 100); do [[ -e $dev ]] || break; sleep 0.1; done
[[ ! -e $dev ]] || fail "$dev still present after the probe exited"
echo "PASS: CUSE echo device works"
