#!/usr/bin/env bash
# openvpn_test.sh (uml.openvpn): OpenVPN, unmodified, in tap mode on tapd's /dev/tap0, inside UML
# (run by uml-run with TAPD and OUTDIR set; SRCDIR optional).
#
#   root netns                                                              netns "peer"
#   10.0.2.1/24 tapA ─ tapd ─ /dev/tap0 ═ OpenVPN A          OpenVPN B ═ /dev/net/tun ─ tapB 10.0.2.2/24
#                                          └─ UDP 192.168.79.1:1194 ⇄ 192.168.79.2:1194 ─┘ (static key)
#
# tapd names the interface tapA (--device tapA,node=tap0), as OpenVPN's --dev does: OpenVPN opens
# --dev-node /dev/tap0, sends TUNSETIFF with IFF_TAP|IFF_NO_PI|IFF_ONE_QUEUE and name "tapA", then
# configures the interface by the name TUNSETIFF wrote back (MTU, up, address: over netlink). The
# frames it reads carry no vnet header (TUNSETIFF without IFF_VNET_HDR turns it off). OpenVPN B is the
# reference: the same program on the kernel's TUN driver. Pings of 56 and 1472 bytes (a 1500-byte IP
# packet: OpenVPN's default tun-mtu 1500, 1514-byte frames) must cross both ways.
#
# OpenVPN 2.6 still runs static-key (--secret) mode, with a deprecation warning; its default cipher
# there, BF-CBC, is absent from OpenSSL 3, hence --cipher AES-256-CBC. DCO does not do static keys.
set -uo pipefail

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
. "$SRCDIR/lib.sh"
olog_a=$OUTDIR/openvpn-tapd.log
olog_b=$OUTDIR/openvpn-peer.log
key=$OUTDIR/static.key
logs=("$log" "$olog_a" "$olog_b")
fresh "${logs[@]}"
cleanup() {
  stop_pid "${ovpn_a:-}" 30
  stop_pid "${ovpn_b:-}" 30
  stop_pid "${tapd_pid:-}" 50
}
trap cleanup EXIT

command -v openvpn >/dev/null || { echo "SKIP: openvpn not installed"; exit 77; }

"$TAPD" --device tapA,node=tap0 >"$log" 2>&1 &
tapd_pid=$!

peer_netns 192.168.79

rm -f "$key"
openvpn --genkey secret "$key" || { fail genkey "openvpn --genkey secret failed"; finish openvpn_test; }
common=(--dev-type tap --proto udp --port 1194 --cipher AES-256-CBC --disable-dco --verb 3 --ping 1)
ip netns exec peer openvpn --dev tapB "${common[@]}" --secret "$key" 1 \
  --local 192.168.79.2 --remote 192.168.79.1 --ifconfig 10.0.2.2 255.255.255.0 >"$olog_b" 2>&1 &
ovpn_b=$!

tapd_started openvpn_test tap0

openvpn --dev tapA --dev-node /dev/tap0 "${common[@]}" --secret "$key" 0 \
  --local 192.168.79.1 --remote 192.168.79.2 --ifconfig 10.0.2.1 255.255.255.0 >"$olog_a" 2>&1 &
ovpn_a=$!

# "Initialization Sequence Completed": the device is open and configured (static-key mode does
# not wait for the peer; the pings below prove the tunnel).
wait_for 300 log_has "$olog_a" "Initialization Sequence Completed" && pass openvpn_tapd_up \
  || fail openvpn_tapd_up "OpenVPN A on /dev/tap0 did not complete initialization within 30 s"
wait_for 100 log_has "$olog_b" "Initialization Sequence Completed" && pass openvpn_peer_up \
  || fail openvpn_peer_up "OpenVPN B on /dev/net/tun did not complete initialization"
log_has "$olog_a" "TUN/TAP device tapA opened" && pass openvpn_opened_tapA \
  || fail openvpn_opened_tapA "OpenVPN A did not report 'TUN/TAP device tapA opened'"

# What OpenVPN configured on tapA, seen from the kernel.
addr=$(ip -o -4 addr show dev tapA)
[[ $addr == *" 10.0.2.1/24 "* ]] && pass tapA_address || fail tapA_address "ip addr: '$addr'"
link=$(ip -o link show tapA)
[[ $link == *"<"*",UP,LOWER_UP>"*" mtu 1500 "* ]] && pass tapA_up_mtu1500 || fail tapA_up_mtu1500 "$link"

pings_ok ping_root_to_peer 3 "$(ping -c 3 -i 0.3 -W 3 10.0.2.2 2>&1)"
pings_ok ping_peer_to_root 3 "$(ip netns exec peer ping -c 3 -i 0.3 -W 3 10.0.2.1 2>&1)"
# 1472 + 8 (ICMP) + 20 (IP) = 1500 = tapA's MTU: full-size frames, not fragmented on tapA (-M do);
# the encrypted UDP datagrams that carry them exceed veth's 1500 and are fragmented there.
pings_ok ping_1472_root_to_peer 3 "$(ping -c 3 -i 0.3 -W 3 -s 1472 -M do 10.0.2.2 2>&1)"
pings_ok ping_1472_peer_to_root 3 "$(ip netns exec peer ping -c 3 -i 0.3 -W 3 -s 1472 -M do 10.0.2.1 2>&1)"

if tapd_stats "$tapd_pid" "$log" tapA && [[ $stats =~ rx_frames=([0-9]+).*tx_frames=([0-9]+) ]] \
  && ((BASH_REMATCH[1] >= 12 && BASH_REMATCH[2] >= 12)); then
  pass tapd_carried_traffic
else
  fail tapd_carried_traffic "want rx,tx >= 12: '$stats'"
fi
kill -0 "$ovpn_a" 2>/dev/null && pass openvpn_still_running || fail openvpn_still_running "OpenVPN A died"
# OpenVPN logs device errors as "read from TUN/TAP ... failed" / "write to TUN/TAP ... failed".
mapfile -t l <"$olog_a"
bad=()
for x in "${l[@]}"; do [[ $x == *"TUN/TAP"*"fail"* || $x == *"ERROR"* || $x == *"Exiting due to fatal error"* ]] && bad+=("$x"); done
((${#bad[@]} == 0)) && pass no_openvpn_tap_errors || fail no_openvpn_tap_errors "${bad[*]}"

stop_pid "$ovpn_a" 50; ovpn_a=
stop_pid "$ovpn_b" 50; ovpn_b=
stop_tapd
finish openvpn_test
