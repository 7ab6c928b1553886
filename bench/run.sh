#!/bin/bash
# run.sh — tapd's data-path benchmark: frames/s through a kernel TAP fd, tapd's device file (FUSE-mount
# mode) and the FUSE transport floor, in one run, in a throwaway network namespace. Builds nothing.
#
#   bench/run.sh [BUILD_DIR]          (default: build/ next to bench/, i.e. this checkout's; needs root)
#
# Environment:
#   BENCH_SECONDS    seconds per measurement cell (default 2)
#   BENCH_ROUNDS     measure every cell N times, interleaved, and report the median (default 1)
#   BENCH_SIZES      frame sizes, comma-separated (default 64,1500)
#   BENCH_WORKLOADS  any of write,read,flood,rtt (default all four), and packet_rx (not in the
#                    default): frames/s received through tapd's packet backend (a macvlan on veth0, frames
#                    sent from veth1) versus a plain AF_PACKET recv() reader on that macvlan (packet_bench);
#                    and forwarder (not in the default): iperf3 and ping between two network namespaces
#                    through a userspace forwarder over kernel taps and over tapd (forwarder.sh, which
#                    reads its own BENCH_FWD_* variables)
#   BENCH_WINDOW     frames in flight for the closed-loop read workload (default 256)
#   BENCH_KEEP_LOGS  set to keep the temporary directory with tapd's and floor_fuse's logs
#
# Never touches the host's links: everything happens after `unshare --net --mount`, and the namespace
# (with tap0, ktap0 and both FUSE mounts) disappears when this script ends.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(readlink -f "${1:-$HERE/../build}")
TAPD="$BUILD/daemon/tapd"
TAP_BENCH="$BUILD/bench/tap_bench"
FLOOR="$BUILD/bench/floor_fuse"
PACKET_BENCH="$BUILD/bench/packet_bench"

# Split the workloads: tap_bench's (kernel TAP / tapd tap0 / floor), packet_bench's (packet_rx) and
# forwarder.sh's (forwarder).
TAP_WORKLOADS=""
PACKET_RX=""
FORWARDER=""
IFS=, read -ra _wl <<<"${BENCH_WORKLOADS:-write,read,flood,rtt}"
for w in "${_wl[@]}"; do
    case $w in
        packet_rx) PACKET_RX=1 ;;
        forwarder) FORWARDER=1 ;;
        "") ;;
        *) TAP_WORKLOADS="${TAP_WORKLOADS:+$TAP_WORKLOADS,}$w" ;;
    esac
done

if [ -z "${TAP_BENCH_IN_NETNS:-}" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "run.sh: needs root (network namespace, TAP interfaces, FUSE mounts)" >&2
        exit 77
    fi
    needed=("$TAPD")
    [ -n "$TAP_WORKLOADS" ] && needed+=("$TAP_BENCH" "$FLOOR")
    [ -n "$PACKET_RX" ] && needed+=("$PACKET_BENCH")
    [ -n "$FORWARDER" ] && needed+=("$BUILD/bench/tap_forwarder")
    for b in "${needed[@]}"; do
        [ -x "$b" ] || { echo "run.sh: $b missing: build first (cmake --build $BUILD -j2)" >&2; exit 1; }
    done
    export TAP_BENCH_IN_NETNS=1
    exec unshare --net --mount --propagation private "$HERE/run.sh" "$BUILD"
fi

# ---- inside the throwaway namespaces from here on ----
# No IPv6: no router solicitations, MLD or DAD frames mixed into the read paths.
sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true

WORK=$(mktemp -d -t tap_bench.XXXXXX)
mkdir "$WORK/tapd" "$WORK/floor" "$WORK/ptapd"
TAPD_PID=""
FLOOR_PID=""
PTAPD_PID=""

cleanup() {
    local rc=$?
    set +e
    if [ -n "$TAPD_PID" ] && kill -0 "$TAPD_PID" 2>/dev/null; then
        kill -TERM "$TAPD_PID"
        wait "$TAPD_PID"
        local trc=$?
        [ "$trc" = 0 ] || echo "run.sh: tapd exited with status $trc on SIGTERM" >&2
    fi
    if [ -n "$FLOOR_PID" ] && kill -0 "$FLOOR_PID" 2>/dev/null; then
        kill -TERM "$FLOOR_PID"
        wait "$FLOOR_PID"
    fi
    if [ -n "$PTAPD_PID" ] && kill -0 "$PTAPD_PID" 2>/dev/null; then
        kill -CONT "$PTAPD_PID"  # packet_bench may have died with it stopped
        kill -TERM "$PTAPD_PID"
        wait "$PTAPD_PID"
        local prc=$?
        [ "$prc" = 0 ] || echo "run.sh: tapd (packet backend) exited with status $prc on SIGTERM" >&2
    fi
    for m in "$WORK/tapd" "$WORK/floor" "$WORK/ptapd"; do
        mountpoint -q "$m" && umount -l "$m"
    done
    if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
        echo "run.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ready() {  # LOGFILE PID WHAT
    for _ in $(seq 100); do
        grep -q ": ready" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "run.sh: $3 died:" >&2; cat "$1" >&2; return 1; }
        sleep 0.05
    done
    echo "run.sh: $3 not ready after 5 s:" >&2
    cat "$1" >&2
    return 1
}

echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC')  $(uname -r)  $(nproc) CPUs  load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -n "$TAP_WORKLOADS" ]; then
    "$TAPD" --fuse-mount "$WORK/tapd" --device tap0 2>"$WORK/tapd.log" &
    TAPD_PID=$!
    "$FLOOR" "$WORK/floor" 2>"$WORK/floor.log" &
    FLOOR_PID=$!
    wait_ready "$WORK/tapd.log" "$TAPD_PID" tapd
    wait_ready "$WORK/floor.log" "$FLOOR_PID" floor_fuse
    echo "# tapd pid $TAPD_PID, floor_fuse pid $FLOOR_PID"

    "$TAP_BENCH" --tapd "$WORK/tapd/tap0" --tapd-if tap0 --kernel-if ktap0 --floor "$WORK/floor/echo" \
        --seconds "${BENCH_SECONDS:-2}" --rounds "${BENCH_ROUNDS:-1}" \
        --sizes "${BENCH_SIZES:-64,1500}" --workloads "$TAP_WORKLOADS" --window "${BENCH_WINDOW:-256}"

    # tapd's own counters (its queue drops show up here as rx_dropped_full).
    kill -USR1 "$TAPD_PID"
    sleep 0.2
    echo
    echo "tapd's counters:"
    grep "stats " "$WORK/tapd.log" | tail -n 1 | sed 's/^/  /'
fi

if [ -n "$PACKET_RX" ]; then
    # packet_rx: a second tapd serving a macvlan mvb0 on veth0 (packet backend); frames come from veth1.
    ip link add veth0 type veth peer name veth1
    ip link set veth0 up
    ip link set veth1 up
    "$TAPD" --fuse-mount "$WORK/ptapd" --device mvb0,backend=packet,lower=veth0 2>"$WORK/ptapd.log" &
    PTAPD_PID=$!
    wait_ready "$WORK/ptapd.log" "$PTAPD_PID" "tapd (packet backend)"
    # ifindex from ip(8), not /sys (sysfs shows the network namespace it was mounted in).
    PNODE="tap$(ip -o link show mvb0 | cut -d: -f1)"
    echo
    echo "# packet_rx: tapd pid $PTAPD_PID serving $WORK/ptapd/$PNODE (macvlan mvb0 on veth0)"
    "$PACKET_BENCH" --tapd "$WORK/ptapd/$PNODE" --tapd-pid "$PTAPD_PID" --link mvb0 --gen-if veth1 \
        --seconds "${BENCH_SECONDS:-2}" --rounds "${BENCH_ROUNDS:-1}" \
        --sizes "${BENCH_SIZES:-64,1500}" --window "${BENCH_WINDOW:-256}"
    kill -USR1 "$PTAPD_PID"
    sleep 0.2
    echo
    echo "tapd's counters (packet backend):"
    grep "stats " "$WORK/ptapd.log" | tail -n 1 | sed 's/^/  /'
fi

if [ -n "$FORWARDER" ]; then
    # Its own namespaces (fwd1, fwd2) and its own tapd; nothing shared with the workloads above.
    echo
    "$HERE/forwarder.sh" "$BUILD"
fi
