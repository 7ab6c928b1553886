#!/usr/bin/env bash
# gso_test.sh (uml.gso): TCP super-frames (GSO) end to end through two tapd devices and a userspace
# forwarder, inside UML (run by uml-run with TAPD, OUTDIR, SRCDIR set; GSO_FORWARD optional).
#
#   netns A                                                                      netns B
#   10.0.3.1/24 tapX ── tapd ── /dev/tapX ── gso_forward ── /dev/tapY ── tapd ── tapY 10.0.3.2/24
#
# One tapd serves both devices; the interfaces are moved into their own namespaces after tapd
# created them (a TUN interface keeps its fds across the move). gso_forward opens both nodes with
# IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and copies frames, vnet header included, both ways. Two runs of a
# 4 MiB TCP transfer A → B:
#   offload on  (TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6 on both fds): the forwarder must see
#               frames longer than 1514 bytes, i.e. TCP super-frames read from tapX and written to tapY
#               as they are (GSO vnet header intact), and the data must arrive intact;
#   offload off (TUNSETOFFLOAD 0): tapd segments in software; no frame may exceed 1514 bytes + the
#               10-byte vnet header, and the data must still arrive intact (complete checksums).
set -uo pipefail

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
. "$SRCDIR/lib.sh"
NBYTES=${NBYTES:-4194304}
logs=("$log")
fresh "${logs[@]}"

cleanup() {
  stop_pid "${fwd_pid:-}" 20
  stop_pid "${recv_pid:-}" 5
  stop_pid "${tapd_pid:-}" 50
}
trap cleanup EXIT

# The forwarder: prebuilt by CMake (GSO_FORWARD), else compiled here (a few seconds in UML).
fwd=${GSO_FORWARD:-}
if [[ -z $fwd || ! -x $fwd || $fwd -ot $SRCDIR/gso_forward.c ]]; then
  fwd=$OUTDIR/gso_forward
  if [[ ! -x $fwd || $fwd -ot $SRCDIR/gso_forward.c ]]; then
    cc -O2 -Wall -o "$fwd" "$SRCDIR/gso_forward.c" || { fail build_forwarder "cc failed"; finish gso_test; }
  fi
fi

"$TAPD" --device tapX --device tapY >"$log" 2>&1 &
tapd_pid=$!
tapd_started gso_test tapX tapY

ip netns add A
ip netns add B
ip link set tapX netns A && ip link set tapY netns B \
  && pass move_to_netns || fail move_to_netns "ip link set tapX/tapY netns failed"
ip -n A -batch - <<'B'
link set lo up
addr add 10.0.3.1/24 dev tapX
link set tapX up
B
ip -n B -batch - <<'B'
link set lo up
addr add 10.0.3.2/24 dev tapY
link set tapY up
B
# tapd must have kept both devices across the move (it watches RTM_DELLINK, which a move also sends):
# once it has logged handling each move, it is alive and both nodes are there.
for d in tapX tapY; do
  wait_for 100 log_has "$log" "interface $d left this network namespace" \
    || fail "move_seen_$d" "tapd did not log handling the move of $d within 10 s"
done
kill -0 "$tapd_pid" 2>/dev/null && [[ -c /dev/tapX && -c /dev/tapY ]] \
  && pass devices_survive_move || fail devices_survive_move "tapd or its nodes gone after the netns move"

# run MODE OFFLOAD: one forwarder lifetime, one transfer. Sets max_xy, max_yx, over_xy, gso_xy.
run() {
  local mode=$1 offload=$2 flog=$OUTDIR/forward-$1.log rlog=$OUTDIR/recv-$1.log slog=$OUTDIR/send-$1.log
  local ready=$OUTDIR/recv-$1.ready l line send recv
  logs+=("$flog" "$slog" "$rlog")
  fresh "$flog" "$slog" "$rlog"
  rm -f "$ready"
  "$fwd" /dev/tapX /dev/tapY "$offload" >"$flog" 2>&1 &
  fwd_pid=$!
  wait_for 50 log_has "$flog" "gso_forward: ready" \
    || { fail "forwarder_$mode" "gso_forward did not set up both devices"; stop_pid "$fwd_pid"; fwd_pid=; return; }
  pass "forwarder_$mode"
  ip netns exec B python3 "$SRCDIR/tcp_xfer.py" recv 10.0.3.2 5001 "$ready" "$OUTDIR/recv-$mode.bin" \
    >"$rlog" 2>&1 &
  recv_pid=$!
  wait_for 100 test -e "$ready" || fail "receiver_$mode" "receiver not listening after 10 s"
  local t0=$EPOCHREALTIME
  ip netns exec A timeout 120 python3 "$SRCDIR/tcp_xfer.py" send 10.0.3.2 5001 "$NBYTES" >"$slog" 2>&1
  local src=$?
  local dt=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
  wait_for 50 eval '! kill -0 "$recv_pid" 2>/dev/null'
  stop_pid "$recv_pid" 5; recv_pid=
  stop_pid "$fwd_pid" 50; fwd_pid=
  send=$(<"$slog") recv=$(<"$rlog")
  echo "[$mode] sender (exit $src, ${dt} ms): $send"
  echo "[$mode] receiver: $recv"
  mapfile -t l <"$flog"
  for line in "${l[@]}"; do [[ $line == "gso_forward: "*"frames="* ]] && echo "[$mode] $line"; done
  send=${send#send } recv=${recv#recv }
  if ((src == 0)) && [[ $send == bytes=$NBYTES\ sha256=* && ${recv%% seconds=*} == "${send%% seconds=*}" ]]; then
    pass "data_intact_$mode"
    rm -f "$OUTDIR/recv-$mode.bin"
  else
    fail "data_intact_$mode" "sender exit $src: '$send', receiver: '$recv'"
    python3 "$SRCDIR/tcp_xfer.py" diff "$OUTDIR/recv-$mode.bin" "$NBYTES" | sed "s/^/[$mode] /"
  fi
  max_xy=-1 max_yx=-1 over_xy=-1 gso_xy=-1 werr=-1
  for line in "${l[@]}"; do
    if [[ $line =~ ^gso_forward:\ X-\>Y\ .*max_read=([0-9]+).*gso_frames=([0-9]+)\ over_mtu=([0-9]+).*write_errors=([0-9]+) ]]; then
      max_xy=${BASH_REMATCH[1]} gso_xy=${BASH_REMATCH[2]} over_xy=${BASH_REMATCH[3]} werr=${BASH_REMATCH[4]}
    elif [[ $line =~ ^gso_forward:\ Y-\>X\ .*max_read=([0-9]+).*write_errors=([0-9]+) ]]; then
      max_yx=${BASH_REMATCH[1]} werr=$((werr + BASH_REMATCH[2]))
    fi
  done
  echo "[$mode] largest read incl. 10-byte vnet header: A->B (tapX->tapY) $max_xy, B->A (tapY->tapX) $max_yx"
  ((werr == 0)) && pass "no_write_errors_$mode" || fail "no_write_errors_$mode" "forwarder writes refused ($werr)"
}

run on 0x7
if ((max_xy > 1514 + 10 && over_xy > 0 && gso_xy > 0)); then
  pass superframes_cross_with_offload
else
  fail superframes_cross_with_offload "want frames > 1514 with GSO headers A->B: max_read=$max_xy over_mtu=$over_xy gso_frames=$gso_xy"
fi
on_max_xy=$max_xy on_max_yx=$max_yx

run off 0
if ((max_xy > 0 && max_xy <= 1514 + 10 && max_yx <= 1514 + 10 && over_xy == 0 && gso_xy == 0)); then
  pass no_superframes_without_offload
else
  fail no_superframes_without_offload "want every frame <= 1524 incl. header: A->B max_read=$max_xy B->A $max_yx gso_frames=$gso_xy"
fi
echo "maxima (read length incl. vnet header): offload on A->B=$on_max_xy B->A=$on_max_yx; offload off A->B=$max_xy B->A=$max_yx"

for d in tapX tapY; do tapd_stats "$tapd_pid" "$log" "$d" && echo "$stats"; done
stop_tapd
finish gso_test
