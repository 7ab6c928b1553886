#!/usr/bin/env python3
"""Type=notify contract: tapd sends READY=1 only once its device is being served, and STOPPING=1 on
SIGTERM. Runs tapd in FUSE-mount mode in a throwaway network namespace with NOTIFY_SOCKET pointing at a
socket of ours, as systemd would."""
import os, shutil, socket, subprocess, sys, tempfile

tapd = sys.argv[1]
if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or not os.path.exists("/dev/net/tun"):
    print("SKIP: needs root, /dev/fuse and /dev/net/tun"); sys.exit(77)

tmp = tempfile.mkdtemp(prefix="tapd-notify-")
sock_path = os.path.join(tmp, "notify")
mnt = os.path.join(tmp, "mnt"); os.mkdir(mnt)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sock_path); s.settimeout(10)
env = dict(os.environ, NOTIFY_SOCKET=sock_path)
p = subprocess.Popen(["unshare", "-n", tapd, "--fuse-mount", mnt, "--device", "tap0"], env=env,
                     stderr=subprocess.PIPE, text=True)
failed = False
try:
    msg = s.recv(4096).decode()
    if "READY=1" not in msg:
        print(f"FAIL: first notification is not READY=1: {msg!r}"); failed = True
    elif not os.path.exists(os.path.join(mnt, "tap0")):
        print("FAIL: READY=1 sent before the device was served"); failed = True
    else:
        print(f"PASS: READY=1 after the device exists ({msg.strip()!r})")
    p.terminate()
    msg = s.recv(4096).decode()
    if "STOPPING=1" not in msg:
        print(f"FAIL: no STOPPING=1 on SIGTERM: {msg!r}"); failed = True
    else:
        print("PASS: STOPPING=1 on SIGTERM")
    rc = p.wait(10)
    if rc != 0:
        print(f"FAIL: tapd exited {rc}"); failed = True
except socket.timeout:
    print("FAIL: no notification within 10 s"); failed = True
finally:
    if p.poll() is None:
        p.kill(); p.wait()
    err = p.stderr.read()
    if failed: print(err)
    subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failed else 0)
