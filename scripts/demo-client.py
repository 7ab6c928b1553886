#!/usr/bin/env python3
"""A legacy-style tap client for the demo: opens /dev/tap0, TUNSETIFF, asks the kernel who has 10.0.0.1
with an ARP request written to the device, and prints the reply it reads back."""
import fcntl, os, select, struct, subprocess, sys

TUNSETIFF, TUNGETFEATURES = 0x400454CA, 0x800454CF
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
path = sys.argv[1] if len(sys.argv) > 1 else "/dev/tap0"

fd = os.open(path, os.O_RDWR)
ifr = bytearray(struct.pack("16sH22x", b"", IFF_TAP | IFF_NO_PI))
fcntl.ioctl(fd, TUNSETIFF, ifr)
name = bytes(ifr[:16]).rstrip(b"\0").decode()
feat = bytearray(4)
fcntl.ioctl(fd, TUNGETFEATURES, feat)
print(f"opened {path}: TUNSETIFF says interface {name!r}, TUNGETFEATURES 0x{struct.unpack('I', feat)[0]:x}")

subprocess.run(["ip", "addr", "add", "10.0.0.1/24", "dev", name], check=True)
subprocess.run(["ip", "link", "set", name, "up"], check=True)
subprocess.run(["ip", "-br", "link", "show", name], check=True)

me = bytes.fromhex("020000000002")
arp = (b"\xff" * 6 + me + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + me
       + bytes([10, 0, 0, 2]) + b"\0" * 6 + bytes([10, 0, 0, 1]))
os.write(fd, arp)
print("wrote ARP request: who has 10.0.0.1? tell 10.0.0.2")
for _ in range(20):
    r, _, _ = select.select([fd], [], [], 2)
    if not r:
        break
    f = os.read(fd, 2048)
    if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02":
        print(f"read ARP reply: 10.0.0.1 is at {f[22:28].hex(':')} (the kernel's {name})")
        sys.exit(0)
print("no ARP reply")
sys.exit(1)
