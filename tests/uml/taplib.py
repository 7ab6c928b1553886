"""taplib.py: what the Python test clients run inside UML share (stdlib only).

Imported by tests/uml/tapclient.py (same directory, so on sys.path already) and
tests/uml/bsd/bsd_client.py (which puts this directory on sys.path first).

Checks print "PASS name" or "FAIL name: detail" through report(); `taplib.failures` counts the
failed ones, for the client's exit status.
"""
import errno
import fcntl
import os
import signal
import struct
import time

# <linux/if_tun.h>, <linux/sockios.h>
TUNSETIFF = 0x400454CA
TUNGETIFF = 0x800454D2
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

    def get(self, ifname, timeout=3.0):
        before = len(self._lines(ifname))
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self._lines(ifname)
            if len(lines) > before:
                return {k: int(v) for k, v in
                        (kv.split("=") for kv in lines[-1].split(":", 2)[-1].split())}
            time.sleep(0.02)
        return None
