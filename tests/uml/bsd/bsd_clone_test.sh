#!/usr/bin/env bash
# bsd_clone_test.sh: tapd's cloning /dev/tap (NetBSD tap_dev_cloner, seed 001) through real CUSE, inside
# UML (run by uml-run; see CMakeLists.txt). bsd_client.py checks the cloning rules (lowest free tapN
# per open, bound to the file, destroyed on close, concurrent opens never collide); then BSD_CLIENT
# (bsd_tap_client.c, a NetBSD-style client built against <tapd/if_tap.h>) configures its clone with
# socket ioctls and answers the kernel's ARP request, and the kernel's neighbour table must show it.
# Output: PASS/FAIL lines; exit 1 if any failed.
# shellcheck disable=SC2015
set -uo pipefail
source "${BASH_SOURCE[0]%/*}/lib.sh"
: "${BSD_CLIENT:?BSD_CLIENT must name the bsd_tap_client binary}"
quiet_ipv6
start_tapd tap -- --clone || finish bsd_clone_test
pass startup

/usr/bin/python3 "$here/bsd_client.py" clone /dev/tap --tapd-pid "$tapd_pid" --tapd-log "$log" \
  || fail client_clone "bsd_client.py clone failed (see FAIL lines above)"

# The C client. ping makes the kernel ask for 10.0.9.2 once the client has configured 10.0.9.1/24
# (before that it fails at once: no route); -W1 bounds each try.
hold=$OUTDIR/hold
out=$OUTDIR/bsd_tap_client.out
rm -f "$hold"
# Truncate here, not only by the `>` of the background job: that runs in the child, possibly after the
# loop below has already read a "done" line left by an earlier run in the same OUTDIR.
: >"$out"
"$BSD_CLIENT" /dev/tap "$hold" >"$out" 2>&1 &
client=$!
# The pinger lives as long as the client (bounded): a fixed number of tries could all fail fast (no route
# yet) on a slow guest before the client has configured its address.
(for _ in {1..150}; do kill -0 "$client" 2>/dev/null || break; ping -n -q -c1 -W1 10.0.9.2 >/dev/null 2>&1; sleep 0.2; done) &
pinger=$!
ifname=
for _ in {1..250}; do
  mapfile -t lines <"$out"
  for l in "${lines[@]}"; do [[ $l == "done "* ]] && ifname=${l#done }; done
  [[ -n $ifname ]] && break
  kill -0 "$client" 2>/dev/null || break
  sleep 0.1
done
kill "$pinger" 2>/dev/null
sed 's/^/  client| /' "$out"
if [[ -n $ifname ]]; then
  pass client_arp_exchange
  addr=$(ip -o -4 addr show dev "$ifname")
  [[ $addr == *"inet 10.0.9.1/24"* ]] && pass client_configured_10.0.9.1/24 || fail client_configured_10.0.9.1/24 "$addr"
  neigh=$(ip neigh show 10.0.9.2)
  [[ $neigh == *"dev $ifname lladdr 02:00:00:00:09:02 "* && $neigh =~ (REACHABLE|STALE|DELAY|PROBE) ]] \
    && pass "neighbour_10.0.9.2_learned ($neigh)" || fail neighbour_10.0.9.2_learned "ip neigh: '$neigh'"
  touch "$hold"
  wait "$client"
  check client_exit_status $? 0
  for _ in {1..100}; do [[ -e /sys/class/net/$ifname ]] || break; sleep 0.1; done
  [[ ! -e /sys/class/net/$ifname ]] && pass client_interface_gone_after_exit || fail client_interface_gone_after_exit "$ifname still exists"
else
  fail client_arp_exchange "bsd_tap_client did not finish (output above)"
  ip -s link; ip neigh; ip route
  touch "$hold"
  kill "$client" 2>/dev/null
fi
rm -f "$hold"
finish bsd_clone_test
