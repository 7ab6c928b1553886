#!/usr/bin/python3
"""arp_probe.py NODE --src-mac MAC --src-ip IP --dst-ip IP [--vnet-hdr N] [--timeout S]

Traffic through a tapd device as a client sees it: write a broadcast ARP request "who has DST-IP? tell
SRC-IP (SRC-MAC)" to NODE (a CUSE /dev/tapN or a FUSE-mount file), then read frames from it until the
kernel's ARP reply to SRC-MAC arrives (exit 0, "PASS ...") or the deadline passes (exit 1, "FAIL ...").
The device's interface must own DST-IP (or, for a macvlan, reach a neighbour that does). NODE is used as
the Linux personality opens it by default: every frame carries a virtio_net_hdr (--vnet-hdr, 10 bytes).
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("node")
ap.add_argument("--src-mac", required=True)
ap.add_argument("--src-ip", required=True)
ap.add_argument("--dst-ip", required=True)
ap.add_argument("--vnet-hdr", type=int, default=10)
ap.add_argument("--timeout", type=float, default=5.0)
a = ap.parse_args()

mac = bytes.fromhex(a.src_mac.replace(":", ""))
sip, dip = socket.inet_aton(a.src_ip), socket.inet_aton(a.dst_ip)
arp = (b"\xff" * 6 + mac + struct.pack("!H", 0x0806) + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
       + mac + sip + b"\0" * 6 + dip)
hdr = b"\0" * a.vnet_hdr

fd = os.open(a.node, os.O_RDWR | os.O_NONBLOCK)
os.write(fd, hdr + arp)
deadline = time.monotonic() + a.timeout
p = select.poll()
p.register(fd, select.POLLIN)
seen = 0
while (left := deadline - time.monotonic()) > 0:
    if not p.poll(int(left * 1000) + 1):
        continue
    try:
        f = os.read(fd, 65536)[a.vnet_hdr:]
    except BlockingIOError:
        continue
    seen += 1
    # Ethernet to us, ARP, opcode 2 (reply), sender DST-IP, target SRC-IP.
    if (len(f) >= 42 and f[0:6] == mac and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02"
            and f[28:32] == dip and f[38:42] == sip):
        print(f"PASS arp {a.node}: {a.dst_ip} is at {f[22:28].hex(':')} (after {seen} frame(s))")
        sys.exit(0)
print(f"FAIL arp {a.node}: no ARP reply from {a.dst_ip} within {a.timeout} s ({seen} other frame(s) read)")
sys.exit(1)
