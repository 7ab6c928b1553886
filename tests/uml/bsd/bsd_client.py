#!/usr/bin/python3
"""bsd_client.py: checks of tapd's BSD personality (NetBSD tap(4), seed 001, sys/net/if_tap.c) through
the real CUSE nodes, run inside UML by bsd_device_test.sh / bsd_clone_test.sh (stdlib only).

    bsd_client.py device DEV IFNAME --tapd-pid PID --tapd-log FILE
    bsd_client.py clone  DEV --tapd-pid PID --tapd-log FILE

`device` expects IFNAME (served by `tapd --device IFNAME,personality=bsd`) up, with 10.0.0.1/24, IPv6
off and nobody holding DEV open. `clone` expects DEV to be tapd's cloning node (`tapd --clone`) and no
tapN interface to exist yet.

Every check prints "PASS name" or "FAIL name: detail"; exit status 1 if any check failed. Each check
names the if_tap.c function whose behaviour it asserts. Every wait has a deadline: a hung device fails
a check, it does not hang the guest. No wait is a bare sleep: a reader is "blocked" when seen asleep in
read() (taplib.blocked_in), a frame "queued" when tapd counted it, "no SIGIO" a fact about the pending
set (SIGIO is blocked in every thread and taken with sigtimedwait). One process runs everything because
Python's start-up costs about a second in UML.
"""
import argparse
import errno
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

# tests/uml/taplib.py, shared with tapclient.py (one directory up; python3 puts only ours on sys.path).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import taplib  # noqa: E402
from taplib import (ETH_P_TEST, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFREQ_SIZE, LOCAL_IP,  # noqa: E402
                    PEER_MAC, SIOCGIFHWADDR, TUNGETIFF, TUNSETIFF, Stats, arp_request, blocked_in, check_eq,
                    errname, ifr_name, ifreq, ioctl_buf, report, round_trip, wait_until)

# <asm/ioctls.h>, <linux/sockios.h>, <linux/if_tun.h>, <tapd/if_tap.h> (the rest: taplib)
FIONREAD = 0x541B
FIONBIO = 0x5421
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
FIOSETOWN = 0x8901
FIOGETOWN = 0x8903
SIOCSIFHWADDR = 0x8924
TUNSETQUEUE = 0x400454D9  # served by the linux personality, not by tap(4)


def _ioc(d, t, nr, size):
    return (d << 30) | (size << 16) | (ord(t) << 8) | nr


TAPGIFNAME = _ioc(2, "e", 0, IFREQ_SIZE)      # _IOR('e', 0, struct ifreq)
TAPD_FIOASYNC = _ioc(1, "e", 1, 4)            # _IOW('e', 1, int)
UNKNOWN_IOCTL = _ioc(2, "e", 42, 4)           # _IOR('e', 42, int): nothing answers it


def check_errno(name, fn, want):
    """fn() must raise OSError with errno `want`."""
    try:
        r = fn()
    except OSError as e:
        return report(name, e.errno == want, f"got {errname(e.errno)}, want {errname(want)}")
    return report(name, False, f"succeeded ({r!r}), want {errname(want)}")


def ioctl_get_int(fd, req):
    e, b = ioctl_buf(fd, req, b"\0" * 4)
    return (e, struct.unpack("i", b)[0])


def ioctl_set_int(fd, req, v):
    e, _ = ioctl_buf(fd, req, struct.pack("i", v))
    return e


def tapgifname(fd):
    e, b = ioctl_buf(fd, TAPGIFNAME, b"\0" * IFREQ_SIZE)
    return None if e else ifr_name(b)


def rd(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return f"<{errname(e.errno)}>"


def sys_mac(ifname):
    return bytes.fromhex(rd(f"/sys/class/net/{ifname}/address").replace(":", ""))


def ip_link(ifname=None):
    """`ip -o link show` (all links: naming a missing one makes the kernel run modprobe, slow in UML)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    if ifname is None:
        return out
    for line in out.splitlines():
        if f": {ifname}:" in line or f": {ifname}@" in line:
            return line
    return ""


def ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode:
        print(f"  ip {' '.join(args)}: {r.stderr.strip()}", flush=True)
    return r.returncode


def arp_reply_problem(frame, tap_mac, sender_ip):
    """None if frame is the kernel's ARP reply to arp_request(sender_ip); else what is wrong."""
    if len(frame) < 42:
        return f"short frame ({len(frame)} bytes): {frame.hex()}"
    want = {
        "eth dst": (frame[0:6], PEER_MAC), "eth src": (frame[6:12], tap_mac),
        "ethertype": (frame[12:14], b"\x08\x06"), "op": (frame[20:22], b"\x00\x02"),
        "sender IP": (frame[28:32], LOCAL_IP), "target IP": (frame[38:42], sender_ip),
    }
    bad = [f"{k} {g.hex()} != {w.hex()}" for k, (g, w) in want.items() if g != w]
    return "; ".join(bad) or None


def poll_mask(fd, events=select.POLLIN | select.POLLOUT, timeout_ms=0):
    p = select.poll()
    p.register(fd, events)
    r = p.poll(timeout_ms)
    return r[0][1] if r else 0


def wait_readable(fd, timeout=3.0):
    return bool(poll_mask(fd, select.POLLIN, int(timeout * 1000)) & select.POLLIN)


def set_nonblock(fd, on):
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, (fl | os.O_NONBLOCK) if on else (fl & ~os.O_NONBLOCK))


def read_nb(fd, size=65536):
    """A non-blocking read: bytes, or the errno."""
    set_nonblock(fd, True)
    try:
        return os.read(fd, size)
    except OSError as e:
        return e.errno
    finally:
        set_nonblock(fd, False)


def drain(fd):
    """Reads (non-blocking) until EAGAIN or an error; returns the frames read."""
    frames = []
    while isinstance(d := read_nb(fd), bytes):
        frames.append(d)
    return frames


def carrier_is(ifname, want, timeout=10.0):
    """Waits (linkwatch may take up to a second) for /sys carrier == want; returns the last value."""
    w = "1" if want else "0"
    wait_until(lambda: rd(f"/sys/class/net/{ifname}/carrier") == w, timeout)
    return rd(f"/sys/class/net/{ifname}/carrier")


def check_carrier(tag, ifname, on):
    check_eq(f"{tag}_sys_carrier_{int(on)}", carrier_is(ifname, on), "1" if on else "0")

    def flags():
        return ip_link(ifname).split("<", 1)[-1].split(">", 1)[0].split(",")

    # `ip` prints NO-CARRIER for UP without IFF_RUNNING, and IFF_RUNNING follows the operstate, which
    # linkwatch updates up to a second after the carrier changes: wait for it.
    if on:
        ok = wait_until(lambda: "LOWER_UP" in (f := flags()) and "NO-CARRIER" not in f)
        report(f"{tag}_ip_link_LOWER_UP", ok, ip_link(ifname))
    else:
        ok = wait_until(lambda: "NO-CARRIER" in (f := flags()) and "LOWER_UP" not in f)
        report(f"{tag}_ip_link_NO-CARRIER", ok, ip_link(ifname))


def read_nb_once_up(fd):
    """read_nb() once tapd has seen the link come up: it learns that from netlink, and until then its
    reads say EHOSTDOWN (tap_dev_read). The result once they stop saying so (EHOSTDOWN after 10 s)."""
    last = [None]

    def not_down():
        last[0] = read_nb(fd)
        return last[0] != errno.EHOSTDOWN
    wait_until(not_down)
    return last[0]


def take_sigio(timeout=10.0):
    """Takes a pending SIGIO (blocked in every thread: see main()), waiting up to `timeout` s for one."""
    return signal.sigtimedwait({signal.SIGIO}, timeout) is not None


def clear_sigio():
    while take_sigio(0):
        pass


def send_arp(name, fd, sender_ip):
    req = arp_request(sender_ip)
    try:
        n = os.write(fd, req)
    except OSError as e:
        return report(name, False, f"write: {errname(e.errno)}")
    return check_eq(name, n, len(req))


# ------------------------------------------------------------------------------------------
def device(dev, ifname, stats):
    tap_mac = sys_mac(ifname)
    ip_a, ip_b, ip_c = bytes([10, 0, 0, 2]), bytes([10, 0, 0, 3]), bytes([10, 0, 0, 4])

    # tap_attach: closed at start → no carrier (tapd sets it off when it creates the device).
    check_carrier("closed_at_start", ifname, False)

    # tap_cdev_open: the first open succeeds and brings the link state up; a second gets EBUSY.
    fd = os.open(dev, os.O_RDWR)
    report("open", True)
    check_carrier("open", ifname, True)
    check_errno("second_open_EBUSY", lambda: os.close(os.open(dev, os.O_RDWR)), errno.EBUSY)
    check_errno("second_open_rdonly_EBUSY", lambda: os.close(os.open(dev, os.O_RDONLY)), errno.EBUSY)

    # tap_dev_ioctl: TAPGIFNAME, FIONREAD (0 when empty), unknown → ENOTTY.
    check_eq("TAPGIFNAME", tapgifname(fd), ifname)
    check_eq("FIONREAD_empty", ioctl_get_int(fd, FIONREAD), (0, 0))
    check_eq("unknown_ioctl_ENOTTY", ioctl_buf(fd, UNKNOWN_IOCTL, b"\0" * 4)[0], errno.ENOTTY)
    check_eq("TUNSETQUEUE_ENOTTY", ioctl_buf(fd, TUNSETQUEUE, ifreq())[0], errno.ENOTTY)
    # The Linux ioctls tapd answers too (tapd's addition): per-open default is bare frames.
    e, b = ioctl_buf(fd, TUNGETIFF, ifreq())
    check_eq("TUNGETIFF_bare_frames", (e, struct.unpack_from("H", b, 16)[0]), (0, IFF_TAP | IFF_NO_PI))
    check_eq("TUNSETIFF_multi_queue_EINVAL",
             ioctl_buf(fd, TUNSETIFF, ifreq(b"", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE))[0], errno.EINVAL)
    e, b = ioctl_buf(fd, SIOCGIFHWADDR, ifreq())
    check_eq("SIOCGIFHWADDR", (e, b[18:24]), (0, tap_mac))

    # tap_dev_read, non-blocking (TAP_NBIO / O_NONBLOCK): EWOULDBLOCK on an empty queue.
    check_eq("O_NONBLOCK_empty_EAGAIN", read_nb(fd), errno.EAGAIN)
    check_eq("FIONBIO_on", ioctl_set_int(fd, FIONBIO, 1), 0)
    check_errno("FIONBIO_empty_EAGAIN", lambda: os.read(fd, 2048), errno.EAGAIN)
    ioctl_set_int(fd, FIONBIO, 0)

    # tap_dev_poll: always writable; readable only when a frame waits.
    check_eq("poll_empty", poll_mask(fd), select.POLLOUT)

    # tap_dev_write: one write, one frame. The kernel answers with a 42-byte ARP reply.
    send_arp("write_arp_request", fd, ip_a)
    if report("poll_POLLIN_after_frame", wait_readable(fd, 10.0), "no POLLIN within 10 s"):
        check_eq("poll_mask_with_frame", poll_mask(fd), select.POLLIN | select.POLLOUT)
        e, n = ioctl_get_int(fd, FIONREAD)
        frame = read_nb(fd)
        if report("read_arp_reply", isinstance(frame, bytes), f"read: {errname(frame)}"):
            # tap_dev_ioctl FIONREAD: m_pkthdr.len of the next frame; bare frame: starts with eth dst.
            check_eq("FIONREAD_eq_frame_len", (e, n), (0, len(frame)))
            check_eq("arp_reply_len_42", len(frame), 42)
            p = arp_reply_problem(frame, tap_mac, ip_a)
            report("arp_reply_bare_frame", p is None, p)
        check_eq("FIONREAD_after_read", ioctl_get_int(fd, FIONREAD), (0, 0))

    # tap_dev_read: one read is one packet; a short buffer truncates it and the rest is discarded.
    s0 = stats.get(ifname)
    send_arp("write_arp_request_b", fd, ip_b)
    send_arp("write_arp_request_c", fd, ip_c)
    # Both replies queued: tapd counts each (rx_frames) as it queues it.
    s1 = stats.wait(ifname, lambda s: s0 is not None and s["rx_frames"] >= s0["rx_frames"] + 2)
    two = s0 is not None and s1 is not None and s1["rx_frames"] == s0["rx_frames"] + 2
    if report("two_replies_queued", two, f"rx_frames before {s0}, after {s1}: want +2"):
        check_eq("FIONREAD_first_of_two", ioctl_get_int(fd, FIONREAD), (0, 42))
        part = os.read(fd, 20)
        check_eq("truncated_read_len_20", len(part), 20)
        rest = read_nb(fd, 2048)
        if report("read_after_truncation", isinstance(rest, bytes), f"read: {errname(rest)}"):
            check_eq("truncated_read_rest_discarded_next_frame_len", len(rest), 42)
            p = arp_reply_problem(rest, tap_mac, ip_c)
            report("truncated_read_next_is_second_frame", p is None, p)
        check_eq("truncated_read_nothing_left", read_nb(fd), errno.EAGAIN)

    # SIGIO owner: fsetown/fgetown. FIOSETOWN takes a pid (> 0) or -pgrp; TIOCSPGRP a pgrp.
    pid, pgrp = os.getpid(), os.getpgrp()
    check_eq("FIOGETOWN_default_0", ioctl_get_int(fd, FIOGETOWN), (0, 0))
    check_eq("TIOCSPGRP", ioctl_set_int(fd, TIOCSPGRP, pgrp), 0)
    check_eq("TIOCGPGRP_after_TIOCSPGRP", ioctl_get_int(fd, TIOCGPGRP), (0, pgrp))
    check_eq("FIOGETOWN_after_TIOCSPGRP", ioctl_get_int(fd, FIOGETOWN), (0, -pgrp))
    check_eq("FIOSETOWN_pid", ioctl_set_int(fd, FIOSETOWN, pid), 0)
    check_eq("FIOGETOWN_after_FIOSETOWN", ioctl_get_int(fd, FIOGETOWN), (0, pid))
    check_eq("TIOCGPGRP_after_FIOSETOWN", ioctl_get_int(fd, TIOCGPGRP), (0, -pid))

    # tap_start → tap_softintr: SIGIO to the owner for each frame while async (FIOASYNC, here
    # TAPD_FIOASYNC, since Linux's VFS keeps FIOASYNC from a CUSE driver).
    clear_sigio()
    check_eq("TAPD_FIOASYNC_on", ioctl_set_int(fd, TAPD_FIOASYNC, 1), 0)
    send_arp("write_arp_request_sigio", fd, ip_a)
    report("SIGIO_on_frame", take_sigio(), "no SIGIO within 10 s")
    got = wait_readable(fd) and read_nb(fd)
    report("SIGIO_frame_readable", isinstance(got, bytes) and arp_reply_problem(got, tap_mac, ip_a) is None,
           repr(got))

    # tap_stop (interface down): sleeping readers wake with EHOSTDOWN; async owners get SIGIO (POLL_HUP).
    result = {}

    def reader():
        t0 = time.monotonic()
        try:
            result["data"] = os.read(fd, 2048)
        except OSError as e:
            result["errno"] = e.errno
        result["t"] = time.monotonic() - t0

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    # Seen asleep in read(), and parked in tapd (the round trip on the device comes after it).
    blocked = wait_until(lambda: blocked_in(th.native_id, "read")) and round_trip(fd) == 0
    report("reader_blocked_while_up", blocked and th.is_alive(), f"reader not seen asleep in read(): {result}")
    clear_sigio()
    ip("link", "set", ifname, "down")
    th.join(10.0)
    if report("blocked_reader_woken_by_down", not th.is_alive(), "reader still blocked 10 s after down"):
        check_eq("blocked_reader_EHOSTDOWN", result.get("errno"), errno.EHOSTDOWN)
    report("SIGIO_on_down", take_sigio(), "no SIGIO within 10 s")

    # tap_dev_read: EHOSTDOWN first thing while !IFF_UP, blocking or not.
    check_errno("read_while_down_EHOSTDOWN", lambda: os.read(fd, 2048), errno.EHOSTDOWN)
    check_eq("nonblocking_read_while_down_EHOSTDOWN", read_nb(fd), errno.EHOSTDOWN)
    # tap_dev_write does not look at IFF_UP: the frame is taken (and dropped by the stack).
    try:
        n = os.write(fd, arp_request(ip_a))
        check_eq("write_while_down_accepted", n, 42)
    except OSError as e:
        report("write_while_down_accepted", False, f"write: {errname(e.errno)}")
    ip("link", "set", ifname, "up")
    check_eq("read_after_up_EAGAIN", read_nb_once_up(fd), errno.EAGAIN)

    # Async off: no more SIGIO. Once the reply is readable and a later request on the device answered,
    # tapd is done with that frame: a SIGIO it sent would be pending now.
    check_eq("TAPD_FIOASYNC_off", ioctl_set_int(fd, TAPD_FIOASYNC, 0), 0)
    clear_sigio()
    send_arp("write_arp_request_no_sigio", fd, ip_a)
    if report("reply_with_async_off", wait_readable(fd, 10.0) and round_trip(fd) == 0, "no reply within 10 s"):
        check_eq("no_SIGIO_when_async_off", signal.SIGIO in signal.sigpending(), False)
        drain(fd)

    # SIOCSIFHWADDR on the device (tapd's addition): the interface's MAC changes.
    new_mac = bytes.fromhex("021122334455")
    e, _ = ioctl_buf(fd, SIOCSIFHWADDR, struct.pack("16sH6s16x", b"", 1, new_mac))
    check_eq("SIOCSIFHWADDR", e, 0)
    check_eq("SIOCSIFHWADDR_ip_link", "link/ether 02:11:22:33:44:55" in ip_link(ifname), True)
    e, b = ioctl_buf(fd, SIOCGIFHWADDR, ifreq())
    check_eq("SIOCGIFHWADDR_after_set", (e, b[18:24]), (0, new_mac))
    tap_mac = sys_mac(ifname)

    # TAPGIFNAME names the interface as it is now (tap_dev_ioctl: strlcpy of if_xname): follows a rename.
    ip("link", "set", ifname, "down")
    if ip("link", "set", ifname, "name", "bsdtap9") == 0:
        check_eq("TAPGIFNAME_after_rename", wait_until(lambda: tapgifname(fd) == "bsdtap9" and "bsdtap9")
                 or tapgifname(fd), "bsdtap9")
        ip("link", "set", "bsdtap9", "name", ifname)
        wait_until(lambda: tapgifname(fd) == ifname)
    ip("link", "set", ifname, "up")

    # if_down (sys/net/if.c) purges if_snd: a frame queued before `ip link set down` is gone after `up`.
    send_arp("write_arp_request_before_down", fd, ip_a)
    report("frame_queued_before_down", wait_readable(fd, 10.0), "no reply within 10 s")
    ip("link", "set", ifname, "down")
    # tapd purges the queue when netlink tells it of the down: wait for that (10 s at most).
    fionread = [None]

    def purged():
        fionread[0] = ioctl_get_int(fd, FIONREAD)
        return fionread[0] == (0, 0)
    wait_until(purged)
    check_eq("FIONREAD_after_down_purge", fionread[0], (0, 0))
    ip("link", "set", ifname, "up")
    got = read_nb_once_up(fd)
    check_eq("queued_frame_purged_by_down", got if not isinstance(got, bytes) else f"{len(got)} bytes", errno.EAGAIN)
    drain(fd)

    # tap_dev_close: purges the queue; the next open starts empty. Carrier follows.
    send_arp("write_arp_request_before_close", fd, ip_a)
    report("frame_queued_before_close", wait_readable(fd, 10.0), "no reply within 10 s")
    os.close(fd)
    check_carrier("closed", ifname, False)
    fd = os.open(dev, os.O_RDWR)
    report("reopen_after_close", True)
    check_carrier("reopened", ifname, True)
    check_eq("reopen_FIONREAD_0_queue_purged", ioctl_get_int(fd, FIONREAD), (0, 0))
    check_eq("reopen_read_EAGAIN_queue_purged", read_nb(fd), errno.EAGAIN)
    check_eq("reopen_FIOGETOWN_fresh", ioctl_get_int(fd, FIOGETOWN), (0, 0))

    # Frames the kernel sends while nobody has the device open: tap_start drops them when !TAP_INUSE;
    # tapd drops them too and counts rx_dropped_no_queue. Linux itself stops handing the TUN frames
    # once linkwatch has acted on the carrier-off (noop qdisc), so they reach tapd only in the window
    # right after a close; linkwatch delays non-urgent events to one a second, so a second close soon
    # after a first one keeps the window open long enough. Retried: the window is timing.
    os.close(fd)
    s0 = stats.get(ifname)
    tx0 = int(rd(f"/sys/class/net/{ifname}/statistics/tx_packets"))

    def handed_now():  # frames tapd has taken off the TUN since (the kernel counts them as tx_packets)
        return int(rd(f"/sys/class/net/{ifname}/statistics/tx_packets")) - tx0

    def all_counted(s):  # tapd has counted every frame it took (nothing still between TUN and counter)
        return s0 is not None and s["rx_dropped_no_queue"] - s0["rx_dropped_no_queue"] == handed_now()
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x09" + struct.pack("!H", ETH_P_TEST) + b"closed" * 10
    sent = handed = 0
    s1 = None
    for _ in range(5):
        os.close(os.open(dev, os.O_RDWR))
        os.close(os.open(dev, os.O_RDWR))
        sk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        sk.bind((ifname, 0))
        for _ in range(5):
            try:
                sent += sk.send(frame) > 0
            except OSError:
                pass
        sk.close()
        s1 = stats.wait(ifname, all_counted)
        handed = handed_now()
        if handed:
            break
    if report("stats_readable", s0 is not None and s1 is not None, "no stats line after SIGUSR1"):
        dropped = s1["rx_dropped_no_queue"] - s0["rx_dropped_no_queue"]
        print(f"  closed: sent {sent}, the TUN handed tapd {handed}, rx_dropped_no_queue +{dropped}", flush=True)
        if not handed:
            print("NOTE frames_while_closed: the kernel handed tapd no frame in 5 tries (carrier off dropped "
                  "them first): the counter was not exercised", flush=True)
        # Every frame tapd took from the TUN while closed is counted, none lost or kept.
        check_eq("frames_while_closed_counted_rx_dropped_no_queue", dropped, handed)
        check_eq("stats_queues_0_when_closed", s1["queues"], 0)
    fd = os.open(dev, os.O_RDWR)
    frames = [f for f in drain(fd) if f[12:14] == struct.pack("!H", ETH_P_TEST)]
    check_eq("frames_while_closed_not_delivered_later", len(frames), 0)
    os.close(fd)
    check_carrier("final_close", ifname, False)


# ------------------------------------------------------------------------------------------
def clone(dev, stats):
    # tap_dev_cloner: each open of /dev/tap creates the lowest free tapN, bound to that file.
    a = os.open(dev, os.O_RDWR)
    b = os.open(dev, os.O_RDWR)
    na, nb = tapgifname(a), tapgifname(b)
    check_eq("clone_two_opens_names", (na, nb), ("tap0", "tap1"))
    links = ip_link()
    report("clone_both_in_ip_link", f": {na}:" in links and f": {nb}:" in links, links)
    # A cloned device is a BSD device: f2:0b:a4 MAC, carrier while open, EBUSY on its own node if any.
    for n in (na, nb):
        if n:
            mac = rd(f"/sys/class/net/{n}/address")
            report(f"clone_{n}_mac_f2:0b:a4", mac.startswith("f2:0b:a4:"), mac)
    ip("link", "set", na, "up")
    check_eq("clone_carrier_while_open", carrier_is(na, True), "1")
    check_eq("clone_unknown_ioctl_ENOTTY", ioctl_buf(a, UNKNOWN_IOCTL, b"\0" * 4)[0], errno.ENOTTY)

    # tap_fops_close: closing the cloning file destroys its interface.
    os.close(a)
    gone = wait_until(lambda: f": {na}:" not in ip_link())
    report("clone_close_destroys_interface", gone, ip_link())
    report("clone_other_survives", f": {nb}:" in ip_link(), ip_link())
    # The lowest free unit again.
    c = os.open(dev, os.O_RDWR)
    check_eq("clone_reuses_lowest_free", tapgifname(c), "tap0")
    os.close(c)
    os.close(b)
    gone = wait_until(lambda: not any(f": tap{i}:" in ip_link() for i in range(4)))
    report("clone_all_gone_after_close", gone, ip_link())

    # Concurrent opens never collide: N threads open at once.
    n = 6
    fds, names, errs = [None] * n, [None] * n, []
    barrier = threading.Barrier(n)

    def opener(i):
        try:
            barrier.wait(3)
            fds[i] = os.open(dev, os.O_RDWR)
            names[i] = tapgifname(fds[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(repr(e))

    ths = [threading.Thread(target=opener, args=(i,), daemon=True) for i in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(10)
    report("clone_concurrent_opens_ok", not errs and all(fds), f"errors: {errs}")
    check_eq("clone_concurrent_names_distinct", sorted(names, key=str), [f"tap{i}" for i in range(n)])
    links = ip_link()
    report("clone_concurrent_all_in_ip_link", all(f": tap{i}:" in links for i in range(n)), links)
    for f in fds:
        if f is not None:
            os.close(f)
    gone = wait_until(lambda: not any(f": tap{i}:" in ip_link() for i in range(n)))
    report("clone_concurrent_all_gone", gone, ip_link())


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("device")
    d.add_argument("dev")
    d.add_argument("ifname")
    c = sub.add_parser("clone")
    c.add_argument("dev")
    for p in (d, c):
        p.add_argument("--tapd-pid", type=int, required=True)
        p.add_argument("--tapd-log", required=True)
    a = ap.parse_args()
    stats = Stats(a.tapd_pid, a.tapd_log)
    # SIGIO stays pending until taken (take_sigio): blocked here, before any thread exists, so in all.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO})
    # A hung device must fail the run, not hang it.
    threading.Timer(120, lambda: (print("FAIL watchdog: bsd_client.py ran over 120 s", flush=True),
                                  os._exit(1))).start()
    try:
        if a.cmd == "device":
            device(a.dev, a.ifname, stats)
        else:
            clone(a.dev, stats)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        report("client_exception", False, repr(e))
    print(f"bsd_client {a.cmd}: {taplib.failures} failure(s)", flush=True)
    sys.stdout.flush()
    os._exit(1 if taplib.failures else 0)


if __name__ == "__main__":
    main()
