#!/usr/bin/env bash
# packet_links_test.sh: tapd's packet backend through a real CUSE node, inside UML (run by uml-run):
#
#   tests/uml/uml-run --env TAPD=/abs/tapd --env OUTDIR=/abs/out /abs/out -- \
#       tests/uml/packet/packet_links_test.sh /abs/build/tests/uml/packet/packet_links
#
# One guest boot: veth0/veth1, one tapd serving a packet device (macvlan mv0 on veth0, node
# /dev/tap<ifindex of mv0>) and a TUN device tun0 (10.0.0.1/24). packet_links (PASS/FAIL lines) checks
# SIOCGIFHWADDR through the node following `ip link set address`, then deletes mv0 under a blocked reader:
# ENODEV on read/write/ioctl/poll, the node unlinked, tun0 still answering ARP. This script checks what
# only it can see: the node appears, tapd survives, SIGTERM exits 0, and the log names the removal.
set -uo pipefail

: "${TAPD:?TAPD must name the tapd binary}" "${OUTDIR:?OUTDIR must name a host directory for logs}"
prog=${1:?usage: packet_links_test.sh PATH-TO-packet_links}
log=$OUTDIR/tapd.log
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
  echo "packet_links_test: ${SECONDS}s in the guest"
  if ((failed)); then
    echo "packet_links_test: $failed check(s) failed; tapd log:"
    sed 's/^/  | /' "$log"
    exit 1
  fi
  echo "packet_links_test: all checks passed"
  exit 0
}

for f in /proc/sys/net/ipv6/conf/{all,default}/disable_ipv6; do
  [[ -e $f ]] && echo 1 >"$f"
done
if ! ip -batch - <<'EOT'
link add veth0 type veth peer name veth1
link set veth0 up
link set veth1 up
EOT
then
  fail setup "cannot create veth0/veth1"
  finish
fi

: >"$log"
"$TAPD" --device mv0,backend=packet,lower=veth0 --device tun0 >"$log" 2>&1 &
tapd_pid=$!
node=
for _ in {1..100}; do
  if [[ -z $node && -r /sys/class/net/mv0/ifindex ]]; then
    read -r idx </sys/class/net/mv0/ifindex
    node=/dev/tap$idx
  fi
  [[ -n $node && -c $node && -c /dev/tun0 ]] && break
  kill -0 "$tapd_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $node || ! -c $node || ! -c /dev/tun0 ]]; then
  fail startup "${node:-/dev/tap<ifindex of mv0>} and /dev/tun0 did not both appear within 10 s"
  kill "$tapd_pid" 2>/dev/null
  finish
fi
pass startup_nodes
ip addr add 10.0.0.1/24 dev tun0
ip link set tun0 up

"$prog" --dev "$node" --ifname mv0 --peer veth1 --other /dev/tun0 --other-if tun0
rc=$?
((rc == 0)) || failed=$((failed + 1))

if kill -0 "$tapd_pid" 2>/dev/null; then pass tapd_alive_after_delete; else fail tapd_alive_after_delete "tapd died"; fi
mapfile -t lines <"$log"
[[ ${lines[*]} == *"removing /dev/${node#/dev/}"* ]] && pass log_names_removal || fail log_names_removal "no 'removing /dev/${node#/dev/}' in the log"
[[ ! -e $node ]] && pass node_still_gone || fail node_still_gone "$node exists again"
kill -TERM "$tapd_pid"
wait "$tapd_pid"
trc=$?
((trc == 0)) && pass sigterm_exit_0 || fail sigterm_exit_0 "exit status $trc"
[[ ! -e /sys/class/net/tun0 && ! -e /dev/tun0 ]] && pass cleaned_up || fail cleaned_up "tun0 or /dev/tun0 left behind"
finish
