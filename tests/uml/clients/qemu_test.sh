#!/usr/bin/env bash
# qemu_test.sh (uml.qemu): QEMU, unmodified, uses tapd's /dev/tap0 as its tap backend, inside UML
# (run by uml-run with TAPD and OUTDIR set; SRCDIR optional).
#
#   root netns                                                            netns "peer"
#   10.0.1.1/24 tap0 ─ tapd ─ /dev/tap0 ═ QEMU A                QEMU B ═ /dev/net/tun ─ qtap1 10.0.1.2/24
#                          (fd=3)  hub 0 ─ socket netdev ── UDP ── socket netdev ─ hub 0
#                                       192.168.78.1:5001 ⇄ 192.168.78.2:5002 over veth0 ⇄ veth1
#
# Each QEMU is a pure forwarder: no machine (-M none), no guest NIC, a hub joining its tap netdev to
# a UDP socket netdev. QEMU A gets /dev/tap0 as an inherited fd (-netdev tap,fd=3), the way libvirt
# hands a macvtap node to QEMU: it issues TUNGETIFF (must succeed, or QEMU refuses the fd),
# TUNSETOFFLOAD probes, TUN[GS]ETVNETHDRSZ and TUNSETSNDBUF on it, and must not complain about any.
# QEMU B is the reference: the same program on the kernel's own TUN driver.
set -uo pipefail

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
. "$SRCDIR/lib.sh"
qlog_a=$OUTDIR/qemu-tapd.log
qlog_b=$OUTDIR/qemu-peer.log
logs=("$log" "$qlog_a" "$qlog_b")
fresh "${logs[@]}"
QEMU=${QEMU:-qemu-system-x86_64}
cleanup() {
  stop_pid "${qemu_a:-}" 30
  stop_pid "${qemu_b:-}" 30
  stop_pid "${tapd_pid:-}" 50
}
trap cleanup EXIT

command -v "$QEMU" >/dev/null || { echo "SKIP: $QEMU not installed"; exit 77; }

"$TAPD" --device tap0 >"$log" 2>&1 &
tapd_pid=$!

peer_netns 192.168.78

# A hubport must name a netdev defined before it on the command line.
machine=(-M none -nodefaults -display none)
hub=(-netdev hubport,id=h0,hubid=0,netdev=t -netdev hubport,id=h1,hubid=0,netdev=s)
ip netns exec peer "$QEMU" "${machine[@]}" -netdev tap,id=t,ifname=qtap1,script=no,downscript=no \
  -netdev socket,id=s,udp=192.168.78.1:5001,localaddr=192.168.78.2:5002 "${hub[@]}" >"$qlog_b" 2>&1 &
qemu_b=$!

tapd_started qemu_test tap0

qmp_a=$OUTDIR/qemu-tapd.qmp
rm -f "$qmp_a"
"$QEMU" "${machine[@]}" -netdev tap,id=t,fd=3 \
  -netdev socket,id=s,udp=192.168.78.2:5002,localaddr=192.168.78.1:5001 "${hub[@]}" \
  -qmp "unix:$qmp_a,server=on,wait=off" 3<>/dev/tap0 >"$qlog_a" 2>&1 &
qemu_a=$!

wait_for 150 ip -n peer link show qtap1 >/dev/null 2>&1 && pass qemu_peer_tap \
  || fail qemu_peer_tap "QEMU B did not create qtap1 in netns peer"
ip -n peer -batch - <<'B'
addr add 10.0.1.2/24 dev qtap1
link set qtap1 up
B
ip -batch - <<'B'
addr add 10.0.1.1/24 dev tap0
link set tap0 up
B
# QEMU A opens nothing and prints nothing when all goes well. It answers on its monitor (QMP) only from
# its main loop, i.e. once every -netdev is set up: wait for that answer (or for QEMU to exit).
qmp() {  # socket, HMP command: prints what the command prints; fails while QEMU does not answer
  python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())  # the greeting, sent from QEMU's main loop
for cmd in ({"execute": "qmp_capabilities"},
            {"execute": "human-monitor-command", "arguments": {"command-line": sys.argv[2]}}):
    f.write(json.dumps(cmd) + "\n")
    f.flush()
    while "return" not in (r := json.loads(f.readline())):
        if "error" in r:
            sys.exit(r["error"]["desc"])
print(r["return"])
PY
}
# shellcheck disable=SC2016  # expanded by eval, each time round
wait_for 300 eval '! kill -0 "$qemu_a" 2>/dev/null || network=$(qmp "$qmp_a" "info network" 2>/dev/null)'
if kill -0 "$qemu_a" 2>/dev/null && [[ -n ${network:-} ]]; then
  pass qemu_accepts_tap_fd
  # Its tap netdev is the inherited fd 3, /dev/tap0.
  [[ $network == *"t: index=0,type=tap,fd=3"* ]] && pass qemu_tap_netdev_fd3 || fail qemu_tap_netdev_fd3 "$network"
elif kill -0 "$qemu_a" 2>/dev/null; then
  fail qemu_accepts_tap_fd "QEMU A did not answer on its monitor within 30 s"
else
  wait "$qemu_a"
  fail qemu_accepts_tap_fd "QEMU A exited (status $?) instead of running on /dev/tap0"
  qemu_a=
fi

pings_ok ping_root_to_peer 3 "$(ping -c 3 -W 3 10.0.1.2 2>&1)"
pings_ok ping_peer_to_root 3 "$(ip netns exec peer ping -c 3 -i 0.2 -W 3 10.0.1.1 2>&1)"
pings_ok ping_large 2 "$(ping -c 2 -i 0.2 -W 3 -s 1472 10.0.1.2 2>&1)"

# The pings went through tapd.
if tapd_stats "$tapd_pid" "$log" tap0 && [[ $stats =~ rx_frames=([0-9]+).*tx_frames=([0-9]+) ]] \
  && ((BASH_REMATCH[1] >= 8 && BASH_REMATCH[2] >= 8)); then
  pass tapd_carried_traffic
else
  fail tapd_carried_traffic "want rx,tx >= 8: '$stats'"
fi
kill -0 "$qemu_a" 2>/dev/null && pass qemu_still_running || fail qemu_still_running "QEMU A died"

stop_pid "$qemu_a" 30; qemu_a=
stop_pid "$qemu_b" 30; qemu_b=
# QEMU complains about a tap fd it cannot use ("could not ...", "TUNGETIFF ioctl() failed", "vnet_hdr"...)
# on stderr. With no NIC on the hub it warns "hub 0 with no nics", and it reports the SIGTERM: both
# expected. Anything else is a complaint.
for q in "$qlog_a" "$qlog_b"; do
  mapfile -t l <"$q"
  bad=()
  for x in "${l[@]}"; do
    [[ -z $x || $x == *"warning: hub 0 with no nics"* || $x == *"terminating on signal"* ]] || bad+=("$x")
  done
  ((${#bad[@]} == 0)) && pass "no_qemu_errors_${q##*/}" || fail "no_qemu_errors_${q##*/}" "${bad[*]}"
done

stop_tapd
finish qemu_test
