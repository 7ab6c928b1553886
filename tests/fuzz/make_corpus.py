#!/usr/bin/env python3
"""Writes the small seed corpora in corpus/<fuzzer>/ (valid inputs the fuzzers start from).

Run from anywhere: python3 tests/fuzz/make_corpus.py. Output is deterministic; commit the result.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def eth(ethertype, vlans=()):
    f = bytes.fromhex("020000000001") + bytes.fromhex("525400000002")
    types = [v[0] for v in vlans] + [ethertype]
    f += struct.pack(">H", types[0])
    for i, (_, tci) in enumerate(vlans):
        f += struct.pack(">HH", tci, types[i + 1])
    return f


def ipv4(proto=6, sport=40000, dport=80, frag=0, payload=b"", ihl=5):
    l4 = struct.pack(">HH", sport, dport) + bytes(16) + payload
    hdr = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(l4), 0x1234, frag, 64, proto, 0,
                      bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    hdr += bytes((ihl - 5) * 4)
    return hdr + l4


def ipv6(nxt=6, sport=40000, dport=443, payload=b""):
    l4 = struct.pack(">HH", sport, dport) + bytes(16) + payload
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    return struct.pack(">IHBB", 0x60000000, len(l4), nxt, 64) + src + dst + l4


FRAMES = {
    "tcp4": eth(0x0800) + ipv4(),
    "udp4": eth(0x0800) + ipv4(proto=17, sport=5353, dport=5353),
    "tcp4_opts": eth(0x0800) + ipv4(ihl=6),
    "frag4": eth(0x0800) + ipv4(frag=0x2000 | 185),
    "vlan_tcp4": eth(0x0800, [(0x8100, 100)]) + ipv4(),
    "qinq_udp4": eth(0x0800, [(0x88A8, 10), (0x8100, 20)]) + ipv4(proto=17),
    "tcp6": eth(0x86DD) + ipv6(),
    "frag6": eth(0x86DD) + ipv6(nxt=44),
    "arp": eth(0x0806) + bytes(28),
}


def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    return struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, csum_start, csum_offset)


def write(name, files):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


# fuzz_vnet_hdr: [mode][hdr_sz-10][read size LE16][10-byte vnet hdr][frame]
def vcase(mode, hdr_sz, read_size, hdr, frame):
    return bytes([mode, hdr_sz - 10]) + struct.pack("<H", read_size) + hdr + frame


tcp4 = FRAMES["tcp4"]
write("fuzz_vnet_hdr", {
    "plain_vnet10": vcase(1, 10, 2048, vnet(), tcp4),
    "csum_fixup": vcase(3, 10, 2048, vnet(flags=1, csum_start=34, csum_offset=16), tcp4),
    "tso4": vcase(1, 12, 65535, vnet(flags=1, gso=1, hdr_len=54, gso_size=1448, csum_start=34, csum_offset=16),
                  tcp4 + bytes(1400)),
    "tso6_ecn": vcase(1, 10, 2048, vnet(flags=1, gso=0x84, hdr_len=74, gso_size=1428, csum_start=54, csum_offset=16),
                      FRAMES["tcp6"] + bytes(200)),
    "uso": vcase(1, 10, 2048, vnet(flags=1, gso=5, hdr_len=42, gso_size=1000, csum_start=34, csum_offset=6),
                 FRAMES["udp4"] + bytes(100)),
    "short_read": vcase(1, 12, 30, vnet(), tcp4),
    "no_vnet": vcase(0, 10, 20, vnet(), tcp4),
    "big_hdr": vcase(1, 73, 4096, vnet(), tcp4),
})

write("fuzz_flow_hash", dict(FRAMES))

# fuzz_l2: the frames above, plus the link headers' edge cases: three tags (the third is not skipped), a
# tag cut short, and a bare 14-byte header.
write("fuzz_l2", dict(FRAMES, **{
    "three_tags": eth(0x0800, [(0x88A8, 1), (0x8100, 2), (0x8100, 3)]) + ipv4(),
    "cut_tag": eth(0x0800, [(0x8100, 100)])[:16],
    "bare_header": eth(0x86DD),
}))

write("fuzz_options", {
    "one": b"--device\0tap0",
    "many": b"--device\0tap0,node=@ifindex,txqueuelen=64\0-d\0tap1\0--fuse-mount\0/run/tapd\0-f\0--txqueuelen\0500",
    "eq_form": b"--device=tap0,node=macvtap3",
    "help": b"--help",
    "dup": b"--device\0tap0\0--device\0tap0",
})
