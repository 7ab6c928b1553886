#!/usr/bin/env bash
# e2e_test.sh: tapd end to end through a real CUSE /dev/tapN, inside UML (run by uml-run):
#
#   tests/uml/uml-run --env TAPD=build/daemon/tapd --env OUTDIR=/abs/out /abs/out -- tests/uml/e2e_test.sh
#
# One guest boot covers it all (a boot costs ~4 s): one tapd serving two devices, tap0 for the
# ioctl/data-path checks (tapclient.py e2e) and tap1 with a tiny txqueuelen for the queue
# overflow (tapclient.py overflow: 16 frames fill it, instead of 1000), then a clean shutdown.
# Every fork/exec costs ~50 ms in UML, hence builtins wherever they do (read, [[ ]], mapfile).
#
# Output: "PASS name" / "FAIL name: detail" lines; exit 1 if any check failed, and then tapd's
# log (OUTDIR/tapd.log) is printed too.
# pass/fail always succeed, so `cond && pass || fail` is a correct if-then-else here.
# shellcheck disable=SC2015
set -uo pipefail

: "${TAPD:?TAPD must name the tapd binary}" "${OUTDIR:?OUTDIR must name a host directory for logs}"
here=${BASH_SOURCE[0]%/*}
client=$here/tapclient.py
log=$OUTDIR/tapd.log
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
check() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
finish() {
  echo "e2e_test: ${SECONDS}s in the guest"
  if ((failed)); then
    echo "e2e_test: $failed check(s) failed; tapd log ($log):"
    sed 's/^/  | /' "$log"
    exit 1
  fi
  echo "e2e_test: all checks passed"
  exit 0
}
# First line of a (sysfs) file, without cat.
rd() { local v; read -r v <"$1" 2>/dev/null && echo "$v"; }

# IPv6 off before the links exist: no DAD/router solicitations/MLD reports, so a queue that the
# client expects idle really is idle, and every frame read is one the client asked for. (UML's
# IPv6 is a module that uml-run does not load, but a kernel with it built in must not break this.)
for f in /proc/sys/net/ipv6/conf/{all,default}/disable_ipv6; do
  [[ -e $f ]] && echo 1 >"$f"
done

: >"$log"  # now, not in the child: see the wait below
"$TAPD" --device tap0 --device tap1,txqueuelen=16 >"$log" 2>&1 &
tapd_pid=$!

for _ in {1..100}; do
  [[ -c /dev/tap0 && -c /dev/tap1 ]] && break
  kill -0 "$tapd_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -c /dev/tap0 || ! -c /dev/tap1 ]]; then
  fail startup "/dev/tap0 and /dev/tap1 did not both appear within 10 s"
  kill "$tapd_pid" 2>/dev/null
  finish
fi
pass startup_nodes
mapfile -t lines <"$log"
[[ " ${lines[*]} " == *"tapd: ready"* ]] && pass startup_ready || fail startup_ready "no 'tapd: ready' in the log"

# The node is the interface: its txqueuelen is what tapd was asked for (1000 by default).
check txqueuelen_tap0 "$(rd /sys/class/net/tap0/tx_queue_len)" 1000
check txqueuelen_tap1 "$(rd /sys/class/net/tap1/tx_queue_len)" 16

ip -batch - <<'EOF'
addr add 10.0.0.1/24 dev tap0
link set tap0 up
link set tap1 up
EOF
# UP: admin state set above. LOWER_UP: carrier, which the TUN backend has while tapd holds it.
link=$(ip -o link show tap0)
[[ $link == *"tap0:"*"<"*",UP,LOWER_UP>"* ]] && pass ip_link_show_tap0 || fail ip_link_show_tap0 "$link"
check tap0_mac_matches_sysfs "${link##*link/ether }" "$(rd /sys/class/net/tap0/address) brd ff:ff:ff:ff:ff:ff"

/usr/bin/python3 "$client" e2e /dev/tap0 tap0 --tapd-pid "$tapd_pid" --tapd-log "$log" \
  || fail client_e2e "tapclient.py e2e failed (see FAIL lines above)"
/usr/bin/python3 "$client" overflow /dev/tap1 tap1 --frames 200 --tapd-pid "$tapd_pid" --tapd-log "$log" \
  || fail client_overflow "tapclient.py overflow failed (see FAIL lines above)"

# Clean shutdown: SIGTERM → exit status 0, nodes and interfaces gone. A watchdog turns a hang
# into a failure (exit by SIGKILL = 137) instead of a guest timeout.
kill -TERM "$tapd_pid"
(sleep 10 && kill -KILL "$tapd_pid" 2>/dev/null) &
watchdog=$!
wait "$tapd_pid"
check tapd_exit_status $? 0
kill "$watchdog" 2>/dev/null
for _ in {1..100}; do
  [[ -e /dev/tap0 || -e /dev/tap1 ]] || break
  sleep 0.1
done
[[ ! -e /dev/tap0 && ! -e /dev/tap1 ]] && pass nodes_removed || fail nodes_removed "$(ls -l /dev/tap0 /dev/tap1 2>&1)"
# The whole list, not `ip link show tap0`: looking up a missing name makes the kernel try
# request_module("netdev-tap0"), a usermode helper that costs seconds in UML.
links=$(ip -o link show)
[[ $links != *" tap0:"* ]] && pass tap0_deleted || fail tap0_deleted "tap0 still listed: $links"
[[ ! -e /sys/class/net/tap1 ]] && pass tap1_deleted || fail tap1_deleted "/sys/class/net/tap1 still exists"
mapfile -t lines <"$log"
[[ ${lines[-1]} == "tapd: stopped" ]] && pass log_stopped || fail log_stopped "last log line: ${lines[-1]}"
finish
