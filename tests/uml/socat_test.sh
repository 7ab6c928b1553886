#!/usr/bin/env bash
# socat_test.sh: an unmodified real client (socat) drives tapd's /dev/tap0, inside UML (run by
# uml-run with TAPD and OUTDIR set, as e2e_test.sh).
#
#   root netns                                              netns "peer"
#   10.0.0.1/24 tap0 ── tapd ── /dev/tap0 ── socat A        socat B ── /dev/net/tun ── peer0 10.0.0.2/24
#                                               └─ UDP 192.168.77.1:9001 ⇄ 192.168.77.2:9000 ─┘
#                                                  over veth0 ⇄ veth1
#
# socat A configures tap0 the way it would a kernel tap: TUNSETIFF on the fd, then SIOCSIFADDR /
# SIOCSIFFLAGS on a socket, by the name TUNSETIFF wrote back. socat B is the reference: the same
# program on the kernel's own TUN driver. Pings in both directions must cross both. socat A runs
# under strace so that any ioctl tapd refuses is named in the output, not guessed at.
# UDP-DATAGRAM (unconnected sockets): a connected UDP socket would die of ECONNREFUSED on an ICMP
# port-unreachable if it sent before the other side was bound.
# pass/fail always succeed, so `cond && pass || fail` is a correct if-then-else here. Functions
# called through wait_for/trap look unreachable to shellcheck (SC2317).
# shellcheck disable=SC2015,SC2317
set -uo pipefail

# pass, fail, dump, wait_for, log_has, pings_ok, peer_netns, fresh, tapd_stats; $log (needs TAPD and OUTDIR).
. "${BASH_SOURCE[0]%/*}/clients/lib.sh"
slog_a=$OUTDIR/socat-tapd.log
slog_b=$OUTDIR/socat-peer.log
strace_a=$OUTDIR/socat-tapd.strace
# In place of lib.sh's finish: the time in the guest, and every log of this test.
finish() {
  echo "socat_test: ${SECONDS}s in the guest"
  if ((failed)); then
    echo "socat_test: $failed check(s) failed"
    dump "$log"; dump "$slog_a"; dump "$slog_b"; dump "$strace_a"
    exit 1
  fi
  echo "socat_test: all checks passed"
  exit 0
}
cleanup() {
  kill "${socat_b:-}" "${strace_pid:-}" "${tapd_pid:-}" 2>/dev/null
}
trap cleanup EXIT
# Truncate the logs here, not only by the `2>` of the background jobs below: those run in the
# child, possibly after this shell has already looked for a line the previous run left behind.
fresh "$log" "$slog_a" "$slog_b" "$strace_a"

"$TAPD" --device tap0 >"$log" 2>&1 &
tapd_pid=$!

# The UDP carrier between the namespaces.
peer_netns 192.168.77

ip netns exec peer socat -d -d TUN:10.0.0.2/24,tun-type=tap,iff-no-pi,iff-up,tun-name=peer0 \
  UDP-DATAGRAM:192.168.77.1:9001,bind=192.168.77.2:9000 2>"$slog_b" &
socat_b=$!

if ! wait_for 100 test -c /dev/tap0; then
  fail startup "/dev/tap0 did not appear within 10 s"
  finish
fi
pass startup_node

strace -f --seccomp-bpf -e trace=ioctl -o "$strace_a" \
  socat -d -d TUN:10.0.0.1/24,tun-device=/dev/tap0,tun-type=tap,iff-no-pi,iff-up \
  UDP-DATAGRAM:192.168.77.2:9000,bind=192.168.77.1:9001 2>"$slog_a" &
strace_pid=$!

# socat -d -d logs "starting data transfer loop" once its two addresses are set up.
wait_for 100 log_has "$slog_a" "starting data transfer loop" && pass socat_tapd_started \
  || fail socat_tapd_started "socat on /dev/tap0 did not reach its transfer loop"
wait_for 100 log_has "$slog_b" "starting data transfer loop" && pass socat_peer_started \
  || fail socat_peer_started "socat on peer0 (kernel TUN) did not reach its transfer loop"

# What socat configured, seen from the kernel.
addr=$(ip -o -4 addr show dev tap0)
[[ $addr == *" 10.0.0.1/24 "* ]] && pass tap0_address || fail tap0_address "ip addr: '$addr'"
link=$(ip -o link show tap0)
[[ $link == *"<"*",UP,LOWER_UP>"* ]] && pass tap0_up || fail tap0_up "$link"

# Traffic, both ways; the first probe also resolves ARP through the whole chain. A full-size
# probe (1400 + 28 bytes of IP/ICMP, 1442 on the wire) checks that frames are not cut.
pings_ok ping_root_to_peer 3 "$(ping -c 3 -i 0.2 -W 2 10.0.0.2 2>&1)"
pings_ok ping_peer_to_root 3 "$(ip netns exec peer ping -c 3 -i 0.2 -W 2 10.0.0.1 2>&1)"
pings_ok ping_large 2 "$(ping -c 2 -i 0.2 -W 2 -s 1400 10.0.0.2 2>&1)"

# The pings went through tapd (10.0.0.0/24 has no other way out of the root netns).
tapd_stats "$tapd_pid" "$log" tap0
[[ $stats =~ rx_frames=([0-9]+).*tx_frames=([0-9]+).*queues=([0-9]+) ]] \
  && ((BASH_REMATCH[1] >= 8 && BASH_REMATCH[2] >= 8 && BASH_REMATCH[3] == 1)) \
  && pass tapd_carried_traffic || fail tapd_carried_traffic "want rx,tx >= 8, queues=1: '$stats'"

# Shutdown while a client still holds /dev/tap0 open: tapd must still exit 0 and remove node and
# interface; socat sees its device fail and exits.
kill -TERM "$tapd_pid"
(sleep 10 && kill -KILL "$tapd_pid" 2>/dev/null) &
watchdog=$!
wait "$tapd_pid"
rc=$?
tapd_pid=
((rc == 0)) && pass tapd_exit_status || fail tapd_exit_status "exit status $rc (137: hung, killed)"
kill "$watchdog" 2>/dev/null
wait_for 20 test ! -e /dev/tap0 && pass node_removed || fail node_removed "/dev/tap0 still exists"
# The whole list, not `ip link show tap0`: looking up a missing name makes the kernel try
# request_module("netdev-tap0"), a usermode helper that costs seconds in UML.
links=$(ip -o link show)
[[ $links != *" tap0:"* ]] && pass tap0_deleted || fail tap0_deleted "tap0 still listed: $links"
# shellcheck disable=SC2016  # expanded by eval, each time round
if wait_for 50 eval '! kill -0 "$strace_pid" 2>/dev/null'; then
  pass socat_exits_after_tapd
else
  fail socat_exits_after_tapd "socat on /dev/tap0 still running 5 s after tapd exited"
fi
wait "$strace_pid" 2>/dev/null
strace_pid=

# socat's ioctls against tapd, from strace's log (complete only once strace has exited). strace
# shows the fd of /dev/tap0 through TUNSETIFF; any ioctl that failed on it is what tapd refused.
# Socket ioctls (SIOCSIFADDR...) are the kernel's business, but must name tap0: socat A was
# given no tun-name, so it can only have learnt "tap0" from TUNSETIFF writing the name back
# (strace does not decode TUNSETIFF's struct ifreq itself).
mapfile -t st <"$strace_a"
tunsetiff='' tapfd='' refused=() named=()
for l in "${st[@]}"; do
  if [[ $l == *"ioctl("*", TUNSETIFF,"* ]]; then
    tunsetiff=$l; tapfd=${l#*ioctl(}; tapfd=${tapfd%%,*}
  elif [[ -n $tapfd && $l == *"ioctl($tapfd, "*"= -1 "* ]]; then
    refused+=("$l")
  elif [[ $l == *"ioctl("*"SIOCSIF"* ]]; then
    named+=("$l")
  fi
done
[[ $tunsetiff == *") = 0" ]] && pass socat_tunsetiff \
  || fail socat_tunsetiff "want TUNSETIFF on /dev/tap0 = 0: '${tunsetiff:-not called}'"
((${#refused[@]} == 0)) && pass socat_no_refused_ioctl \
  || fail socat_no_refused_ioctl "tapd refused: ${refused[*]}"
ok=1
for l in "${named[@]}"; do [[ $l == *'ifr_name="tap0"'*"= 0"* ]] || ok=0; done
((${#named[@]} >= 3 && ok)) && pass socat_configured_tap0_by_written_back_name \
  || fail socat_configured_tap0_by_written_back_name "want SIOCSIFADDR/NETMASK/FLAGS on tap0 = 0: ${named[*]:-none}"

finish
