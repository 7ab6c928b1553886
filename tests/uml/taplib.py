"""taplib.py: what the Python test clients run inside UML share (stdlib only).

Imported by tests/uml/tapclient.py (same directory, so on sys.path already) and
tests/uml/bsd/bsd_client.py (which puts this directory on sys.path first).

Checks print "PASS name" or "FAIL name: detail" through report(); `taplib.failures` counts the
failed ones, for the client's exit status.

Nothing here sleeps in place of a condition. Waiting is on observable state, with a deadline that is
only waited out on failure: wait_until() polls a predicate; blocked_in() says whether a thread IS asleep
in a given system call (so "the reader is blocked" cannot pass vacuously); Stats.wait() polls tapd's
counters; round_trip() returns once tapd has answered every earlier request on a device.
"""
import errno
import fcntl
import os
import platform
import signal
import struct
import time

# <linux/if_tun.h>, <linux/sockios.h>
TUNSETIFF = 0x400454CA
TUNGETIFF = 0x800454D2
TUNGETVNETHDRSZ = 0x800454D7
SIOCGIFHWADDR = 0x8927
IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFREQ_SIZE = 40

# Our side of the wire: a made-up locally administered MAC and an address in the device's /24.
PEER_MAC = bytes.fromhex("020000000002")
PEER_IP = bytes([10, 0, 0, 2])
LOCAL_IP = bytes([10, 0, 0, 1])
ETH_P_ARP = 0x0806
ETH_P_TEST = 0x88B5  # IEEE "local experimental": no kernel protocol handler will react to it

failures = 0


def report(name, ok, detail=""):
    global failures
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {detail}", flush=True)
    return ok


def check_eq(name, got, want, fmt=repr):
    return report(name, got == want, f"got {fmt(got)}, want {fmt(want)}")


def errname(e):
    return errno.errorcode.get(e, str(e)) if e else "success"


def ioctl_buf(fd, req, arg):
    """Run an ioctl; return (errno or 0, result bytes)."""
    buf = bytearray(arg)
    try:
        fcntl.ioctl(fd, req, buf)
        return 0, bytes(buf)
    except OSError as e:
        return e.errno, bytes(buf)


# --------------------------------------------------------------------------------------------------
# Waiting on observable state

def wait_until(pred, timeout=10.0, step=0.01):
    """Polls pred() until it returns something true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


# x86_64 system call numbers (asm/unistd_64.h), as /proc/PID/task/TID/syscall shows them.
SYSCALL_NR = {"read": 0, "poll": 7, "epoll_wait": 232}


def task_state(tid):
    """The scheduler state letter of thread `tid` of this process ('R', 'S', 'D', ...), '?' if unknown."""
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def blocked_in(tid, syscall, fd=None):
    """True when thread `tid` of this process is asleep (state S) inside system call `syscall` ("read",
    "poll", ...), with `fd` as its first argument when given and the kernel says.

    /proc/self/task/TID/syscall gives the number and arguments where the kernel has it; user-mode Linux
    does not (no CONFIG_HAVE_ARCH_TRACEHOOK), so there the kernel stack /proc/self/task/TID/stack (root)
    is read instead, whose entry frame is named after the call ("sys_read+0x10/0x12"); it has no
    arguments, so `fd` is not checked there. The C++ twin: tests/common/task_state.h."""
    if task_state(tid) != "S":
        return False
    try:
        with open(f"/proc/self/task/{tid}/syscall") as f:
            words = f.read().split()
    except FileNotFoundError:
        try:
            with open(f"/proc/self/task/{tid}/stack") as f:
                stack = f.read()
        except OSError:
            return False
        return f"sys_{syscall}+" in stack and task_state(tid) == "S"
    except OSError:
        return False
    assert platform.machine() == "x86_64", "SYSCALL_NR holds x86_64 numbers"
    if not words or words[0] != str(SYSCALL_NR[syscall]):
        return False
    return fd is None or (len(words) > 1 and int(words[1], 16) == fd)


def wait_blocked_in(tid, syscall, fd=None, timeout=10.0):
    """Waits until thread `tid` is blocked in `syscall` (see blocked_in); False after `timeout` s."""
    return wait_until(lambda: blocked_in(tid, syscall, fd), timeout, step=0.002)


def round_trip(fd):
    """One request tapd must answer on fd's device (TUNGETIFF, which both personalities serve). tapd
    reads a device's requests in order from its one CUSE channel and answers them from one thread, so
    when this returns it has handled every request made on that device before: e.g. taken the read a
    thread is blocked in, and parked it. Returns the ioctl's errno (0)."""
    return ioctl_buf(fd, TUNGETIFF, ifreq())[0]


def ifreq(name=b"", flags=0):
    return struct.pack("16sH22x", name, flags)


def ifr_name(buf):
    return buf[:16].split(b"\0", 1)[0].decode(errors="replace")


def arp_request(sender_ip=PEER_IP):
    """Who has 10.0.0.1? tell <sender_ip> (PEER_MAC), broadcast: 42 bytes."""
    return (b"\xff" * 6 + PEER_MAC + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
            + PEER_MAC + sender_ip + b"\0" * 6 + LOCAL_IP)


class Stats:
    """tapd's per-device counters: SIGUSR1, then parse the 'stats IFNAME:' line it logs."""

    def __init__(self, pid, log):
        self.pid, self.log = pid, log

    def _lines(self, ifname):
        with open(self.log, errors="replace") as f:
            return [ln for ln in f if f"stats {ifname}:" in ln]

    def get(self, ifname, timeout=10.0):
        """SIGUSR1, then the counters of the stats line it made tapd log; None after `timeout` s."""
        before = len(self._lines(ifname))
        os.kill(self.pid, signal.SIGUSR1)
        def more():
            lines = self._lines(ifname)
            return lines if len(lines) > before else None
        lines = wait_until(more, timeout)
        if not lines:
            return None
        return {k: int(v) for k, v in (kv.split("=") for kv in lines[-1].split(":", 2)[-1].split())}

    def wait(self, ifname, pred, timeout=10.0):
        """Asks for the counters until pred(counters) holds or `timeout` s pass; returns the last ones
        (None: tapd never answered)."""
        last = [None]

        def ok():
            last[0] = self.get(ifname)
            return last[0] is not None and pred(last[0])
        wait_until(ok, timeout, step=0.02)
        return last[0]
