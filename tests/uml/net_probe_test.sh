#!/usr/bin/env bash
# net_probe_test.sh: prove the UML guest has what tapd's functional tests need besides CUSE:
# veth pairs, the kernel's macvtap (/dev/tap<ifindex>, a reference to compare tapd with),
# /dev/net/tun, `ip netns` and `unshare -n`. Run it inside UML:
#
#   tests/uml/uml-run /tmp/uml-net -- tests/uml/net_probe_test.sh
set -euo pipefail

fail() { echo "FAIL: $*"; exit 1; }

[[ -c /dev/net/tun ]] || fail "/dev/net/tun missing"

ip link add veth0 type veth peer name veth1
ip link add link veth0 name mvt0 type macvtap mode bridge
ip link set veth0 up
ip link set veth1 up
ip link set mvt0 up
idx=$(</sys/class/net/mvt0/ifindex)
for _ in $(seq 100); do [[ -c /dev/tap$idx ]] && break; sleep 0.1; done
ls -l /dev/tap*
[[ -c /dev/tap$idx ]] || fail "/dev/tap$idx (macvtap mvt0) did not appear"
# Opening it proves the char device is live, not just a stale node.
exec 3<>"/dev/tap$idx" || fail "cannot open /dev/tap$idx"
exec 3>&-
echo "macvtap: mvt0 is ifindex $idx, /dev/tap$idx opens: OK"
ip link del mvt0
ip link del veth0

# ip netns keeps its handles under /run/netns (a tmpfs private to the guest).
ip netns add ns1
ip netns exec ns1 ip link set lo up
links=$(ip netns exec ns1 ip -o link show | wc -l)
[[ $links == 1 ]] || fail "ns1 should hold only lo, has $links links"
ip netns del ns1
echo "ip netns: OK"

# shellcheck disable=SC2016  # expanded by the inner shell
out=$(unshare -n sh -c 'ip -o link show | wc -l')
[[ $out == 1 ]] || fail "unshare -n should see only lo, saw $out links"
echo "unshare -n: OK"
echo "PASS: veth, macvtap, netns, unshare work"
