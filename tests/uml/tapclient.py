#!/usr/bin/python3
"""tapclient.py: a test client for tapd's /dev/tapN nodes, run inside UML (stdlib only).

    tapclient.py e2e      DEV IFNAME --tapd-pid PID --tapd-log FILE
    tapclient.py overflow DEV IFNAME --tapd-pid PID --tapd-log FILE [--frames N]

Every check prints "PASS name" or "FAIL name: detail"; the exit status is 1 if any check failed
(2 for a usage error). Checks go on after a failure where that makes sense, so one run shows
everything that is wrong, but a hung device must not hang the test: every wait has a deadline.
No wait is a bare sleep: a reader is "blocked" when seen asleep in read() (taplib.blocked_in), a frame
"taken" when the kernel or tapd counted it.

Why one process runs many checks: each fork/exec in UML costs ~50 ms and Python's start-up much
more, so the shell script around this starts it as rarely as possible.

The expectations are macvtap's (drivers/net/tap.c) plus tapd's documented differences; they are
spelled out next to each check, with the values asserted, so a wrong value is a failure, not a
printout. e2e expects IFNAME to be up with 10.0.0.1/24 and IPv6 off (no unsolicited frames).
"""
import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

import taplib
from taplib import (ETH_P_ARP, ETH_P_TEST, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, LOCAL_IP,
                    PEER_IP, PEER_MAC, SIOCGIFHWADDR, TUNGETIFF, TUNSETIFF, Stats, arp_request, check_eq,
                    errname, ifr_name, ifreq, ioctl_buf, report, round_trip, wait_blocked_in, wait_until)

# <linux/if_tun.h> (the rest: taplib)
TUNGETFEATURES = 0x800454CF
TUNGETVNETHDRSZ = 0x800454D7
IFF_TUN = 0x0001
IFF_ONE_QUEUE = 0x2000
VNET_HDR_LEN = 10  # struct virtio_net_hdr, macvtap's default vnet_hdr_sz


def ifr_flags(buf):
    return struct.unpack_from("H", buf, 16)[0]


def sys_mac(ifname):
    with open(f"/sys/class/net/{ifname}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def arp_reply_problem(frame, tap_mac, sender_ip=PEER_IP):
    """None if frame is the kernel's ARP reply to arp_request(); else what is wrong with it."""
    if len(frame) < 42:
        return f"short frame ({len(frame)} bytes): {frame.hex()}"
    if struct.unpack_from("!H", frame, 12)[0] != ETH_P_ARP:
        return f"not ARP: ethertype {frame[12:14].hex()}"
    want = {
        "eth dst": (frame[0:6], PEER_MAC), "eth src": (frame[6:12], tap_mac),
        "op": (frame[20:22], b"\x00\x02"),
        "sender MAC": (frame[22:28], tap_mac), "sender IP": (frame[28:32], LOCAL_IP),
        "target MAC": (frame[32:38], PEER_MAC), "target IP": (frame[38:42], sender_ip),
    }
    bad = [f"{k} {g.hex()} != {w.hex()}" for k, (g, w) in want.items() if g != w]
    return "; ".join(bad) or None


def read_with_deadline(fd, timeout, size=65536):
    """poll() then read(): bytes, or None when nothing arrived in time."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    if not p.poll(int(timeout * 1000)):
        return None
    return os.read(fd, size)


def arp_exchange(name, fd, tap_mac, hdr=b"", timeout=3.0):
    """Write an ARP request (after `hdr`, the vnet header to prepend), read until the reply.

    Returns (vnet header read, reply frame) or None; reports PASS/FAIL under `name`."""
    req = hdr + arp_request()
    try:
        n = os.write(fd, req)
    except OSError as e:
        return report(name, False, f"write: {errname(e.errno)}") and None
    if n != len(req):
        return report(name, False, f"write returned {n}, want {len(req)}") and None
    deadline = time.monotonic() + timeout
    others = []
    while (left := deadline - time.monotonic()) > 0:
        d = read_with_deadline(fd, left)
        if d is None:
            break
        got_hdr, frame = d[:len(hdr)], d[len(hdr):]
        problem = arp_reply_problem(frame, tap_mac)
        if problem is None:
            report(name, True)
            return got_hdr, frame
        others.append(problem)
    report(name, False, f"no ARP reply within {timeout}s; other frames read: {others or 'none'}")
    return None


# ------------------------------------------------------------------------------------------
def e2e(dev, ifname, stats):
    tap_mac = sys_mac(ifname)
    want_features = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
    check_eq("features_value", want_features, 0x5102, hex)  # guards the constants themselves

    # --- A fresh open with no TUNSETIFF: macvtap's defaults, i.e. a 10-byte vnet header. ---
    fd = os.open(dev, os.O_RDWR)
    e, b = ioctl_buf(fd, TUNGETIFF, ifreq())
    if report("default_tungetiff", e == 0, errname(e)):
        check_eq("default_tungetiff_name", ifr_name(b), ifname)
        check_eq("default_flags", ifr_flags(b), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, hex)
    e, b = ioctl_buf(fd, TUNGETVNETHDRSZ, bytes(4))
    if report("default_vnet_hdr_sz", e == 0, errname(e)):
        check_eq("default_vnet_hdr_sz_value", struct.unpack("i", b)[0], VNET_HDR_LEN)
    r = arp_exchange("arp_vnet_hdr", fd, tap_mac, hdr=bytes(VNET_HDR_LEN))
    if r:
        # A locally generated ARP reply has no offloads: flags, gso_type, lengths are all zero.
        check_eq("arp_vnet_hdr_zero", r[0].hex(), bytes(VNET_HDR_LEN).hex(), str)
    # The header is part of the minimum: 10 + 13 bytes is still a runt frame.
    try:
        n = os.write(fd, bytes(VNET_HDR_LEN) + arp_request()[:13])
        report("vnet_write_13_einval", False, f"write returned {n}")
    except OSError as ex:
        check_eq("vnet_write_13_einval", errname(ex.errno), "EINVAL", str)
    os.close(fd)

    # --- TUNSETIFF and friends on a new open. ---
    fd = os.open(dev, os.O_RDWR)
    e, b = ioctl_buf(fd, TUNGETFEATURES, bytes(4))
    if report("tungetfeatures", e == 0, errname(e)):
        check_eq("tungetfeatures_value", struct.unpack("I", b)[0], want_features, hex)

    # Rejected flags leave the file as it was (checked via TUNGETIFF below).
    for label, flags in (("tun", IFF_TUN | IFF_NO_PI), ("tap_with_pi", IFF_TAP),
                         ("tun_and_tap", IFF_TUN | IFF_TAP | IFF_NO_PI)):
        e, _ = ioctl_buf(fd, TUNSETIFF, ifreq(b"", flags))
        check_eq(f"tunsetiff_{label}_einval", errname(e), "EINVAL", str)
    e, b = ioctl_buf(fd, TUNGETIFF, ifreq())
    check_eq("tunsetiff_rejected_flags_unchanged", (errname(e), ifr_flags(b)),
             ("success", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))

    # Accepted flag sets; tapd writes the real name back even when the caller passed none
    # (tun does; socat and OpenVPN rely on it). IFF_ONE_QUEUE is accepted and ignored.
    for label, flags, name in (("vnet_mq", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, b""),
                               ("one_queue", IFF_TAP | IFF_NO_PI | IFF_ONE_QUEUE, ifname.encode()),
                               ("bare", IFF_TAP | IFF_NO_PI, b"")):
        e, b = ioctl_buf(fd, TUNSETIFF, ifreq(name, flags))
        if not report(f"tunsetiff_{label}", e == 0, errname(e)):
            continue
        check_eq(f"tunsetiff_{label}_name_written_back", ifr_name(b), ifname)
        e, b = ioctl_buf(fd, TUNGETIFF, ifreq())
        if report(f"tungetiff_{label}", e == 0, errname(e)):
            check_eq(f"tungetiff_{label}_name", ifr_name(b), ifname)
            check_eq(f"tungetiff_{label}_flags", ifr_flags(b) & ~IFF_ONE_QUEUE, flags & ~IFF_ONE_QUEUE, hex)

    # SIOCGIFHWADDR on the tap fd (macvtap serves it): sa_family ARPHRD_ETHER + the link's MAC.
    e, b = ioctl_buf(fd, SIOCGIFHWADDR, ifreq())
    if report("siocgifhwaddr", e == 0, errname(e)):
        check_eq("siocgifhwaddr_mac", b[18:24].hex(), tap_mac.hex(), str)
        check_eq("siocgifhwaddr_family", ifr_flags(b), 1)  # ARPHRD_ETHER

    # Unknown ioctls: macvtap's default branch answers EINVAL. One with no argument, one whose
    # number claims an output buffer (must not trigger a retry loop), and TCGETS (isatty()).
    for label, req in (("io", 0x54FF), ("ior", 0x800454FE), ("tcgets", 0x5401)):
        e, _ = ioctl_buf(fd, req, bytes(64))
        check_eq(f"unknown_ioctl_{label}_einval", errname(e), "EINVAL", str)

    # --- Data path on the bare fd: poll, ARP, non-blocking and blocking reads. ---
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    ev = dict(p.poll(0)).get(fd, 0)
    report("poll_idle", ev & select.POLLOUT and not ev & select.POLLIN,
           f"revents {ev:#x}: want POLLOUT, no POLLIN (a frame queued on an idle link?)")

    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    try:
        d = os.read(fd, 2000)
        report("nonblock_read_eagain", False, f"read returned {len(d)} bytes: {d[:64].hex()}")
    except OSError as ex:
        check_eq("nonblock_read_eagain", errname(ex.errno), "EAGAIN", str)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl)

    if arp_exchange("arp_bare", fd, tap_mac):
        ev = dict(p.poll(0)).get(fd, 0)
        report("poll_drained", ev & select.POLLOUT and not ev & select.POLLIN,
               f"revents {ev:#x} after reading the only frame")

    # POLLIN must come from the frame arriving while poll() sleeps (the notify path), not from a frame
    # already queued: the request is written once the polling thread is seen asleep in poll(). The
    # write reaches tapd after the poll on the same channel, so tapd answered the poll before any reply
    # existed. (Ask for POLLIN only: POLLOUT is always set and would end the wait at once.) No timeout
    # on the poll: one that runs out polls the file once more and would find the frame, notification or
    # not; a poller never woken stays asleep (a daemon thread, gone with the process).
    polled = {}

    def poller():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        p_in = select.poll()
        p_in.register(fd, select.POLLIN)
        polled["ev"] = dict(p_in.poll(-1)).get(fd, 0)
    th = threading.Thread(target=poller, daemon=True)
    th.start()
    seen = wait_blocked_in(th.native_id, "poll")
    os.write(fd, arp_request())
    th.join(20.0)
    ev = polled.get("ev", 0)
    report("poll_pollin_on_reply", seen and not th.is_alive() and ev & select.POLLIN,
           f"seen asleep in poll() before the write: {seen}; woken within 20 s: {not th.is_alive()}; "
           f"revents {ev:#x}")
    if ev & select.POLLIN:
        d = os.read(fd, 2000)
        report("poll_pollin_frame", arp_reply_problem(d, tap_mac) is None, arp_reply_problem(d, tap_mac))

    # A blocking read parked in tapd, completed by a frame arriving later: another thread writes the
    # request once this thread is seen asleep in read(), so the reply cannot have been there first.
    tid, seen = threading.get_native_id(), []

    def write_when_blocked():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        seen.append(wait_blocked_in(tid, "read"))
        os.write(fd, arp_request())
    th = threading.Thread(target=write_when_blocked)
    th.start()
    d = os.read(fd, 2000)  # bounded: the thread's request always draws a reply
    th.join()
    report("blocking_read_waits", seen == [True] and arp_reply_problem(d, tap_mac) is None,
           f"seen asleep in read() before the write: {seen}; reply: {arp_reply_problem(d, tap_mac)}")

    eintr_check(fd, tap_mac)

    # --- Write validation: < 14 bytes is a runt, > MTU + 18 (Ethernet + VLAN tag) is too big. ---
    with open(f"/sys/class/net/{ifname}/mtu") as f:
        mtu = int(f.read())
    test_frame = lambda n: (b"\xff" * 6 + PEER_MAC + struct.pack("!H", ETH_P_TEST)).ljust(n, b"\0")[:n]
    for label, size, want in (("13", 13, "EINVAL"), ("14", 14, None), ("mtu_plus_18", mtu + 18, None),
                              ("mtu_plus_19", mtu + 19, "EMSGSIZE"), ("2000", 2000, "EMSGSIZE")):
        try:
            n = os.write(fd, test_frame(size))
            res = None if n == size else f"short write {n}"
        except OSError as ex:
            res = errname(ex.errno)
        check_eq(f"write_{label}_{want or 'ok'}", res, want)

    # --- Two opens = two queues: the kernel's reply lands on exactly one of them. ---
    fd2 = os.open(dev, os.O_RDWR)
    ioctl_buf(fd2, TUNSETIFF, ifreq(b"", IFF_TAP | IFF_NO_PI))
    s = stats.get(ifname)
    check_eq("stats_queues_2", s and s.get("queues"), 2)
    os.write(fd2, arp_request())
    # tapd counts the reply (rx_frames) as it steers it to a queue: then count where it went.
    rx0 = s["rx_frames"] if s else 0
    s1 = stats.wait(ifname, lambda c: c["rx_frames"] > rx0)
    report("multiqueue_reply_taken", s1 is not None and s1["rx_frames"] == rx0 + 1, f"stats {s1}, rx_frames before {rx0}")
    got = []
    for f in (fd, fd2):
        fcntl.fcntl(f, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        try:
            while True:
                got.append((f, os.read(f, 2000)))
        except BlockingIOError:
            pass
        fcntl.fcntl(f, fcntl.F_SETFL, fl)
    report("multiqueue_one_copy", len(got) == 1 and arp_reply_problem(got[0][1], tap_mac) is None,
           f"frames read from the two fds: {[(f, d[:42].hex()) for f, d in got]}")
    os.close(fd2)
    s = stats.get(ifname)
    check_eq("stats_queues_1_after_close", s and s.get("queues"), 1)
    os.close(fd)
    s = stats.get(ifname)
    if report("stats_readable", s is not None, "no stats line after SIGUSR1"):
        check_eq("stats_queues_0", s["queues"], 0)
        # Nothing in this run overflowed, failed, or arrived with no queue open.
        check_eq("stats_no_drops", (s["rx_dropped_full"], s["rx_dropped_no_queue"], s["rx_errors"]), (0, 0, 0))


def eintr_check(fd, tap_mac):
    """A blocking read interrupted by a signal ends with EINTR, and the file keeps working.

    Python retries os.read on EINTR (PEP 475) unless the handler raises, so it raises. A helper
    thread sends the signal once this thread is seen asleep in read() and tapd has taken the request
    (round_trip), so what is interrupted is a read parked in tapd, never one not yet made. If tapd
    ignored FUSE_INTERRUPT the read would hang for ever (FUSE waits killably after sending the
    interrupt): the helper then writes an ARP request whose reply completes the read, which turns the
    hang into a FAIL."""
    class Alarm(Exception):
        pass

    armed = [True]

    def on_alarm(signum, frame):
        if armed[0]:
            raise Alarm()
    old = signal.signal(signal.SIGALRM, on_alarm)
    done = threading.Event()
    me, tid, seen = threading.get_ident(), threading.get_native_id(), []

    def interrupter():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        seen.append(wait_blocked_in(tid, "read") and round_trip(fd) == 0)
        signal.pthread_kill(me, signal.SIGALRM)
        if not done.wait(10.0):
            os.write(fd, arp_request())
    th = threading.Thread(target=interrupter)
    th.start()
    outcome = None
    try:
        try:
            d = os.read(fd, 2000)
            outcome = f"read returned {len(d)} bytes (not interrupted)"
        except Alarm:
            outcome = "interrupted"
        except OSError as ex:
            outcome = f"read failed with {errname(ex.errno)}"
        armed[0] = False
    except Alarm:  # the signal landed after the read had ended; the outcome above stands
        armed[0] = False
    finally:
        done.set()
        th.join()
        signal.signal(signal.SIGALRM, old)
    report("eintr_blocking_read", outcome == "interrupted" and seen == [True],
           f"{outcome}; seen asleep in read() and parked in tapd before the signal: {seen}")
    # tapd must have dropped the interrupted read: a stale parked read would swallow this reply.
    arp_exchange("arp_after_eintr", fd, tap_mac)


# ------------------------------------------------------------------------------------------
def overflow(dev, ifname, stats, frames):
    """The per-open queue is bounded by txqueuelen; overflow is dropped and counted.

    One open only, so every frame is steered to it. The frames come from an AF_PACKET socket
    sending out of IFNAME: the kernel hands each to tapd, which queues it for the unread fd."""
    with open(f"/sys/class/net/{ifname}/tx_queue_len") as f:
        qlen = int(f.read())
    kstat = lambda k: int(open(f"/sys/class/net/{ifname}/statistics/{k}").read())
    fd = os.open(dev, os.O_RDWR)
    e, _ = ioctl_buf(fd, TUNSETIFF, ifreq(b"", IFF_TAP | IFF_NO_PI))
    report("overflow_tunsetiff", e == 0, errname(e))
    s0 = stats.get(ifname)
    kdrop0, taken0 = kstat("tx_dropped"), kstat("tx_packets")

    sk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sk.bind((ifname, 0))
    hdr = b"\xff" * 6 + PEER_MAC + struct.pack("!H", ETH_P_TEST)
    sent = 0
    for i in range(frames):
        # The kernel's own TUN queue is txqueuelen long too: send a frame only while at most 4 are in it
        # (tx_packets counts the frames tapd has taken off the TUN fd), so the overflow happens in
        # tapd's per-open queue, which is under test.
        if not wait_until(lambda: kstat("tx_packets") - taken0 >= sent - 4, step=0.001):
            report("overflow_tapd_takes_frames", False, f"tapd took {kstat('tx_packets') - taken0} of {sent}")
            break
        sk.send(hdr + struct.pack("!I", i).ljust(46, b"\0"))
        sent += 1
    sk.close()
    # Every frame sent has left the TUN (taken by tapd, or dropped by the kernel), and tapd has counted
    # each it took.
    wait_until(lambda: kstat("tx_packets") - taken0 + kstat("tx_dropped") - kdrop0 >= sent, step=0.001)
    taken = kstat("tx_packets") - taken0
    stats.wait(ifname, lambda c: s0 is not None and c["rx_frames"] - s0["rx_frames"] >= taken)

    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    seqs, last_err = [], None
    while len(seqs) <= frames:
        try:
            d = os.read(fd, 2000)
        except OSError as ex:
            last_err = errname(ex.errno)
            break
        seqs.append(struct.unpack_from("!I", d, 14)[0] if d[12:14] == hdr[12:14] else -1)
    check_eq("overflow_reads_exactly_txqueuelen", len(seqs), qlen)
    check_eq("overflow_then_eagain", last_err, "EAGAIN")
    report("overflow_frames_in_order", -1 not in seqs and seqs == sorted(seqs), f"sequence numbers read: {seqs}")

    s1 = stats.get(ifname)
    kdrop = kstat("tx_dropped") - kdrop0
    if not report("overflow_stats", s0 is not None and s1 is not None, "no stats line after SIGUSR1"):
        return
    d = {k: s1[k] - s0[k] for k in s1}
    print(f"  sent={sent} tapd: {d} kernel tx_dropped: {kdrop}", flush=True)
    # Frames the kernel's TUN queue dropped never reached tapd; all others must be accounted for.
    check_eq("overflow_rx_frames_accounted", d["rx_frames"] + kdrop, sent)
    check_eq("overflow_rx_dropped_full_is_excess", d["rx_dropped_full"], d["rx_frames"] - qlen)
    report("overflow_happened", d["rx_dropped_full"] >= sent - qlen - kdrop > 0,
           f"rx_dropped_full {d['rx_dropped_full']}, sent {sent}, txqueuelen {qlen}, kernel drops {kdrop}")
    check_eq("overflow_no_queue_drops", d["rx_dropped_no_queue"], 0)
    os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("e2e", "overflow"))
    ap.add_argument("dev")
    ap.add_argument("ifname")
    ap.add_argument("--tapd-pid", type=int, required=True)
    ap.add_argument("--tapd-log", required=True)
    ap.add_argument("--frames", type=int, default=100)
    a = ap.parse_args()
    stats = Stats(a.tapd_pid, a.tapd_log)
    try:
        if a.mode == "e2e":
            e2e(a.dev, a.ifname, stats)
        else:
            overflow(a.dev, a.ifname, stats, a.frames)
    except Exception as ex:  # an unexpected error is a failure, with its traceback for diagnosis
        import traceback
        traceback.print_exc()
        report(f"{a.mode}_completed", False, repr(ex))
    print(f"{a.mode}: {taplib.failures} check(s) failed", flush=True)
    return 1 if taplib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
