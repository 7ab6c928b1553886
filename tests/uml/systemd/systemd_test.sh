#!/bin/bash
# systemd_test.sh: tapd as an installed system service, driven through systemctl, with Debian's systemd as
# PID 1 and real CUSE (run in a UML guest by uml-systemd: CTest uml.systemd). tapd was installed by
# `cmake --install --prefix /usr`; its unit is the one that install wrote. One boot covers:
#   install     the unit found is the installed one, ExecStart/Documentation= name installed files
#   tun         8 TUN devices; a consumer unit ordered After=tapd.service opens every node at its start
#               (readiness = every node exists); interfaces exist; an ARP reply read back through /dev/tap0
#   packet      a macvlan on a veth (lower=) and the cloning /dev/tap in one tapd: node, interface, IPv6 off
#               on the macvlan (the one sysctl tapd writes), ARP through it; a clone open creates tap0
#   config      a bad command line (exit 2) fails once and is not retried
#   security    `systemd-analyze security` of the unit, printed (its ✗ lines too)
#   fuse        FUSE-mount mode through the drop-in: the files are visible outside the service, traffic,
#               readiness, and a crash (SIGKILL) is restarted and leaves no dead mount behind; its
#               `systemd-analyze security` printed
#   every stop  leaves nothing behind: no nodes, no interfaces tapd made, no /run/tapd, no mount
# Sections can be picked for a run by hand: uml-systemd --env SECTIONS="tun fuse" ...
. "$HARNESS/lib.sh"
probe=$HARNESS/arp_probe.py
n_tun=8

# tapd-consumer.service (from systemd_prepare.sh, installed before boot): ordered after tapd, it opens every
# node named in /etc/tapd-consumer.env at its start, and fails if one is missing.

start() {  # start [UNIT]: systemctl start, deadline 60 s
  local u=${1:-tapd} rc
  timeout 60 systemctl start "$u"; rc=$?
  check "start_$u" "$rc" 0
  ((rc == 0)) || { systemctl status "$u" --no-pager -l | tail -n 20; journalctl -u tapd -n 20 --no-pager; }
}
consumer() {  # consumer LABEL NODE...: start the consumer on NODEs (which pulls tapd in) and check it
  local label=$1; shift
  printf 'NODES=%s\n' "$*" >/etc/tapd-consumer.env
  start tapd-consumer
  check "ready_$label: the consumer opened every node at its start" "$(prop tapd-consumer Result)" success
}
running() {  # running LABEL: tapd is active, started once
  props tapd ActiveState SubState NRestarts
  check "active_$1" "${P[ActiveState]}/${P[SubState]}" active/running
  check "no_restarts_$1" "${P[NRestarts]}" 0
}
stop_clean() {  # stop_clean LABEL LINK...: stop; tapd exited 0 and left no node, no LINK, no /run/tapd
  local label=$1 l left=(); shift
  timeout 30 systemctl stop tapd
  props tapd ActiveState ExecMainStatus
  check "stopped_$label" "${P[ActiveState]}/${P[ExecMainStatus]}" inactive/0
  shopt -s nullglob
  left=(/dev/tap*)
  for l in "$@"; do link_exists "$l" && left+=("link:$l"); done
  [[ -e /run/tapd ]] && left+=(/run/tapd)
  findmnt -rn -t fuse.tapd >/dev/null && left+=("a tapd FUSE mount")
  shopt -u nullglob
  check "stop_leaves_nothing_$label" "${left[*]}" ""
}

section install
check pid1 "$(</proc/1/comm)" systemd
props tapd FragmentPath ExecStart Documentation
# /lib is /usr/lib on Debian 12; systemd names the unit by the first directory of its search path.
[[ ${P[FragmentPath]} == ?(/usr)/lib/systemd/system/tapd.service ]] && pass "unit_installed (${P[FragmentPath]})" ||
  fail unit_installed "${P[FragmentPath]}"
[[ ${P[ExecStart]} == *"path=/usr/sbin/tapd ;"* ]] && pass exec_start_installed_binary || fail exec_start_installed_binary "${P[ExecStart]}"
docs=${P[Documentation]}
[[ $docs == file:///usr/* && -f ${docs#file://} ]] && pass "documentation_installed ($docs)" || fail documentation_installed "'$docs'"
# IPv6 is a module here: load it, so that the disable_ipv6 sysctl tapd sets exists (built in on most hosts).
modprobe ipv6 && [[ -d /proc/sys/net/ipv6/conf ]] || fail ipv6 "modprobe ipv6 failed"

if want tun; then
section tun
args=() nodes=() links=()
for ((i = 0; i < n_tun; i++)); do args+=(--device "tap$i"); nodes+=("/dev/tap$i"); links+=("tap$i"); done
set_tapd_args "${args[@]}"
consumer tun "${nodes[@]}"
running tun
missing=()
for ((i = 0; i < n_tun; i++)); do [[ -c /dev/tap$i ]] && link_exists "tap$i" || missing+=("tap$i"); done
check "nodes_and_links_tun" "${missing[*]}" ""
ip addr add 10.0.0.1/24 dev tap0 && ip link set tap0 up
python3 "$probe" /dev/tap0 --src-mac 02:00:00:00:00:02 --src-ip 10.0.0.2 --dst-ip 10.0.0.1 || fail arp_tun "see above"
stop_clean tun "${links[@]}"
fi

if want packet; then
section packet
ip link add veth0 type veth peer name veth1 && ip netns add peer && ip link set veth1 netns peer &&
  ip -n peer addr add 10.1.0.1/24 dev veth1 && ip -n peer link set veth1 up && ip link set veth0 up ||
  fail veth "could not build veth0 <-> peer:veth1"
set_tapd_args --device mv0,backend=packet,lower=veth0 --clone
start tapd
running packet
if link_exists mv0; then
  ifindex=$(</sys/class/net/mv0/ifindex)
  mac=$(</sys/class/net/mv0/address)
  [[ $(ip -d -o link show mv0) == *macvlan* ]] && pass macvlan_created || fail macvlan_created "mv0 is not a macvlan"
  [[ -c /dev/tap$ifindex ]] && pass "node_packet (/dev/tap$ifindex)" || fail node_packet "/dev/tap$ifindex missing"
  check ipv6_off_on_macvlan "$(</proc/sys/net/ipv6/conf/mv0/disable_ipv6)" 1
  python3 "$probe" "/dev/tap$ifindex" --src-mac "$mac" --src-ip 10.1.0.2 --dst-ip 10.1.0.1 || fail arp_packet "see above"
else
  fail macvlan_created "no mv0"
fi
[[ -c /dev/tap ]] && pass clone_node || fail clone_node "/dev/tap missing"
# (-c first: where the node is missing, `<>` would create a file of that name.)
if [[ -c /dev/tap ]] && exec 3<>/dev/tap; then
  wait_until 5 link_exists tap0 && pass clone_open_creates_tap0 || fail clone_open_creates_tap0 "no tap0"
  exec 3>&-
  wait_until 5 eval '! link_exists tap0' && pass clone_close_deletes_tap0 || fail clone_close_deletes_tap0 "tap0 stays"
else
  fail clone_open "open /dev/tap failed"
fi
stop_clean packet mv0 tap0
link_exists veth0 && pass lower_link_kept || fail lower_link_kept "tapd deleted veth0, which it did not create"
fi

if want config; then
section config_error
set_tapd_args --device tap0,backend=bogus
mark_journal "$OUTDIR/.cursor"
timeout 60 systemctl start tapd 2>/dev/null && fail config_error_start "systemctl start succeeded"
# With a restart pending the unit would be activating/auto-restart now; refused, it is failed at once.
props tapd ActiveState SubState NRestarts ExecMainStatus
check config_error_not_retried "${P[ActiveState]}/${P[SubState]}/${P[NRestarts]}" failed/failed/0
check config_error_status "${P[ExecMainStatus]}" 2
check config_error_usage_logged_once "$(journal_since "$OUTDIR/.cursor" tapd | grep -c '^usage: tapd')" 1
systemctl reset-failed tapd
fi

if want security; then
section security
systemd-analyze security tapd >"$OUTDIR/security.txt" 2>&1
echo "systemd-analyze security, the unit: $(tail -n 1 "$OUTDIR/security.txt")"
grep '✗' "$OUTDIR/security.txt" | sed 's/  */ /g; s/^/  /'
fi

# Last: FUSE-mount mode stays enabled to the end (taking the drop-in out again costs a daemon-reload).
if want fuse; then
section fuse
mkdir -p /etc/systemd/system/tapd.service.d
ln -sf /usr/share/tapd/fuse-mount.conf /etc/systemd/system/tapd.service.d/
systemctl daemon-reload
set_tapd_args --device tap0 --device tap1
consumer fuse /run/tapd/dev/tap0 /run/tapd/dev/tap1
running fuse
# This script runs outside the service, in the system's mount namespace: what it sees, everybody sees.
check fuse_mount_visible "$(findmnt -rn -o FSTYPE /run/tapd/dev)" fuse.tapd
# A file tapd serves (on a FUSE file system), not one something else made.
check fuse_file_visible "$(stat -f -c %T /run/tapd/dev/tap0 2>&1)" fuseblk
ip addr add 10.0.0.1/24 dev tap0 && ip link set tap0 up
python3 "$probe" /run/tapd/dev/tap0 --src-mac 02:00:00:00:00:02 --src-ip 10.0.0.2 --dst-ip 10.0.0.1 || fail arp_fuse "see above"
# A crash: systemd restarts tapd (Restart=on-failure), which must be able to mount again.
systemctl kill -s KILL tapd
restarted() { props tapd NRestarts ActiveState; [[ ${P[NRestarts]} == 1 && ${P[ActiveState]} == active ]]; }
wait_until 30 restarted && pass fuse_restarted_after_crash ||
  fail fuse_restarted_after_crash "${P[ActiveState]}, NRestarts=${P[NRestarts]}; $(journalctl -u tapd -n 8 -o cat --no-pager)"
wait_until 5 test -e /run/tapd/dev/tap1 && pass fuse_served_after_restart || fail fuse_served_after_restart "no /run/tapd/dev/tap1"
systemd-analyze security tapd >"$OUTDIR/security-fuse.txt" 2>&1
echo "systemd-analyze security, FUSE-mount variant: $(tail -n 1 "$OUTDIR/security-fuse.txt")"
stop_clean fuse tap0 tap1
fi

finish
