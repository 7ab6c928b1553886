#!/usr/bin/python3
"""tcp_xfer.py: move a known byte stream over one TCP connection and report its digest.

  tcp_xfer.py recv BIND_ADDR PORT READY_FILE [SAVE_FILE]  accept one connection, read to EOF, print
                                                         the result (and keep the bytes in SAVE_FILE)
  tcp_xfer.py send ADDR PORT NBYTES            send NBYTES of seeded pseudo-random data, print the result
  tcp_xfer.py diff SAVE_FILE NBYTES            explain how SAVE_FILE differs from what send sends

Both sides print "bytes=N sha256=HEX"; the sender's digest is of what it meant to send, so equal lines
mean the data arrived intact. The receiver writes READY_FILE once it listens.
"""
import hashlib
import random
import socket
import sys
import time


def payload(nbytes):
    return random.Random(20240607).randbytes(nbytes)


def diff(got, want):
    """Where the received stream first differs, how much differs, and where the wrong bytes came from."""
    print(f"diff: received {len(got)} bytes, expected {len(want)}")
    n = min(len(got), len(want))
    bad = [i for i in range(0, n, 64) if got[i:i + 64] != want[i:i + 64]]
    if not bad:
        print("diff: common prefix identical")
        return
    first = next(i for i in range(bad[0], n) if got[i] != want[i])
    end = first
    while end < n and got[end] != want[end]:
        end += 1
    print(f"diff: first wrong byte at offset {first}; {len(bad)} of {(n + 63) // 64} 64-byte blocks differ; "
          f"first wrong run is {end - first} bytes [{first}, {end})")
    # Wrong bytes that are right bytes from elsewhere in the stream: report the distance back.
    for off in bad[:5]:
        start = max(off, first)
        chunk = got[start:start + 32]
        where = want.find(chunk)
        src = f"equal to expected bytes at offset {where} ({where - start:+d})" if where >= 0 else "not found in the stream"
        print(f"diff:   received [{start}, {start + 32}) {src}")


def main():
    mode = sys.argv[1]
    if mode == "recv":
        addr, port, ready = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(1)
        open(ready, "w").close()
        s, peer = ls.accept()
        save = open(sys.argv[5], "wb") if len(sys.argv) > 5 else None
        h, n, t0 = hashlib.sha256(), 0, time.monotonic()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
            if save:
                save.write(b)
        if save:
            save.close()
        print(f"recv bytes={n} sha256={h.hexdigest()} seconds={time.monotonic() - t0:.2f}", flush=True)
    elif mode == "send":
        addr, port, nbytes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        data = payload(nbytes)
        s = socket.create_connection((addr, port), timeout=60)
        t0 = time.monotonic()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)  # wait for the receiver to close: everything was read
        print(f"send bytes={nbytes} sha256={hashlib.sha256(data).hexdigest()} seconds={time.monotonic() - t0:.2f}",
              flush=True)
    elif mode == "diff":
        got, want = open(sys.argv[2], "rb").read(), payload(int(sys.argv[3]))
        diff(got, want)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
