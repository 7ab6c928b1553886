#!/bin/bash
# forwarder.sh — what a user comparing tapd with the kernel's own taps feels: bulk TCP (iperf3) and ping
# RTT between two network namespaces joined by a VMM-style userspace L2 forwarder (tap_forwarder: two
# threads, blocking read -> write, virtio_net_hdr included, checksum/TSO offload on), once per path in the
# table below, in the same run, in two placements (default; everything pinned to CPU 0). Builds nothing.
#
#   bench/forwarder.sh [BUILD_DIR]            (default: build/ next to bench/; needs root)
#   bench/forwarder.sh --smoke [BUILD_DIR]    a few seconds; exits 0 only if every path carried TCP and
#                                             every ping, with TCP super-frames crossing the forwarder
#
# Environment (defaults in brackets):
#   BENCH_FWD_ROUNDS      rounds per placement; paths interleaved within a round [BENCH_ROUNDS, else 3]
#   BENCH_FWD_SECONDS     iperf3 seconds per measurement [5]
#   BENCH_FWD_PINGS       pings per measurement, after iperf3 [1000]
#   BENCH_FWD_INTERVAL    seconds between pings [0.002]
#   BENCH_FWD_PLACEMENTS  default,pinned [both]
#   BENCH_FWD_PATHS       names from the table below [all of them]
#   BENCH_KEEP_LOGS       set to keep the temporary directory with every log
#
# Topology, rebuilt for every measurement (the taps live as long as whatever serves them):
#
#   netns fwd1                       this script's netns                          netns fwd2
#   fwa 10.77.9.1/24  <- tap fd ->   tap_forwarder (fwa <-> fwb)   <- tap fd ->   fwb 10.77.9.2/24
#   iperf3 -c, ping                  tapd (tapd paths)                            iperf3 -s
#
# The forwarder, and tapd when it serves the taps, run in this script's namespace; the taps are moved
# into fwd1 and fwd2 once they exist (a TUN interface keeps working in another namespace, and tapd keeps
# serving one that leaves its namespace). Never touches the host: everything happens after
# `unshare --net --mount`, and /run/netns is a private tmpfs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The paths, measured in this order in every round; the first is what the others are compared with.
# One line per path: NAME PROVIDER [ARGUMENTS...]
#   tun          the forwarder creates two kernel TAP interfaces itself (/dev/net/tun, IFF_VNET_HDR,
#                TUNSETVNETHDRSZ, TUNSETOFFLOAD)
#   tapd ARGS    one tapd, `tapd ARGS --fuse-mount DIR --device fwa --device fwb`, serves both; the
#                forwarder opens DIR/fwa and DIR/fwb (TUNSETVNETHDRSZ, TUNSETOFFLOAD by value)
# A transport tapd gains later is one more line with the flag that selects it.
FWD_PATHS=(
    "kernel tun"
    "tapd   tapd"
)

SMOKE=""
if [ "${1:-}" = --smoke ]; then
    SMOKE=1
    shift
fi
BUILD=$(readlink -f "${1:-$HERE/../build}")
TAPD="$BUILD/daemon/tapd"
FORWARDER="$BUILD/bench/tap_forwarder"
REPORT="$HERE/forwarder_report.py"

if [ -n "$SMOKE" ]; then
    ROUNDS=1 SECONDS_=1 PINGS=20 INTERVAL=0.01 PLACEMENTS=default
else
    ROUNDS=${BENCH_FWD_ROUNDS:-${BENCH_ROUNDS:-3}}
    SECONDS_=${BENCH_FWD_SECONDS:-5}
    PINGS=${BENCH_FWD_PINGS:-1000}
    INTERVAL=${BENCH_FWD_INTERVAL:-0.002}
    PLACEMENTS=${BENCH_FWD_PLACEMENTS:-default,pinned}
fi

if [ -z "${FWD_IN_NETNS:-}" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "forwarder.sh: needs root (network namespaces, TAP interfaces, FUSE mounts)" >&2
        exit 77
    fi
    for b in "$TAPD" "$FORWARDER"; do
        [ -x "$b" ] || { echo "forwarder.sh: $b missing: build first (cmake --build $BUILD -j2)" >&2; exit 1; }
    done
    for t in iperf3 ping ip ss taskset python3; do
        command -v "$t" >/dev/null || { echo "forwarder.sh: $t missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
    done
    export FWD_IN_NETNS=1
    exec unshare --net --mount --propagation private "$HERE/forwarder.sh" ${SMOKE:+--smoke} "$BUILD"
fi

# ---- inside the throwaway namespaces from here on ----
WORK=$(mktemp -d -t tap_forwarder.XXXXXX)
RESULTS="$WORK/results"
: >"$RESULTS"
PIDS=()  # everything started for the current measurement, stopped in reverse order

stop_all() {  # SIGTERM and reap what this measurement started; tapd must exit 0
    local i pid name rc
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]%%:*}
        name=${PIDS[i]#*:}
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; continue; }
        kill -TERM "$pid"
        rc=0
        wait "$pid" || rc=$?
        if [ "$name" = tapd ] && [ "$rc" != 0 ]; then
            echo "forwarder.sh: tapd exited with status $rc on SIGTERM:" >&2
            tail -n 5 "$WORK/tapd.log" >&2
        fi
    done
    PIDS=()
    mountpoint -q "$WORK/mnt" && umount -l "$WORK/mnt"
    return 0
}

cleanup() {
    local rc=$?
    set +e
    stop_all
    ip netns del fwd1 2>/dev/null
    ip netns del fwd2 2>/dev/null
    if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
        echo "forwarder.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "forwarder.sh: $*" >&2
    exit 1
}

wait_ready() {  # LOGFILE PID WHAT: the program prints "NAME: ready" on stderr once it is
    for _ in $(seq 200); do
        grep -q ": ready" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { cat "$1" >&2; fail "$3 died before it was ready"; }
        sleep 0.05
    done
    cat "$1" >&2
    fail "$3 not ready after 10 s"
}

wait_for() {  # DEADLINE_S WHAT COMMAND...: until COMMAND succeeds
    local deadline=$1 what=$2
    shift 2
    local end=$((SECONDS + deadline))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || fail "$what: not within ${deadline} s"
        sleep 0.05
    done
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# fwd1 and fwd2 exist only in this mount namespace (a private /run/netns), and go with it.
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 fwd-netns /run/netns
# No IPv6 anywhere: no router solicitations, MLD or DAD frames through the forwarder.
sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
for ns in fwd1 fwd2; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
done

# measure PLACEMENT ROUND NAME PROVIDER [ARGS...]: one measurement; appends one record to $RESULTS.
measure() {
    local placement=$1 round=$2 name=$3 provider=$4
    shift 4
    local pin=()
    [ "$placement" = pinned ] && pin=(taskset -c 0)
    local load
    load=$(loadavg)
    local ends
    : >"$WORK/tapd.log"
    case $provider in
        tun) ends=(tun:fwa tun:fwb) ;;
        tapd)
            mkdir -p "$WORK/mnt"
            "${pin[@]}" "$TAPD" "$@" --fuse-mount "$WORK/mnt" --device fwa --device fwb 2>"$WORK/tapd.log" &
            PIDS+=("$!:tapd")
            wait_ready "$WORK/tapd.log" "$!" tapd
            ends=("$WORK/mnt/fwa" "$WORK/mnt/fwb")
            ;;
        *) fail "path $name: unknown provider '$provider'" ;;
    esac
    "${pin[@]}" "$FORWARDER" "${ends[@]}" >"$WORK/forwarder.out" 2>"$WORK/forwarder.log" &
    PIDS+=("$!:tap_forwarder")
    wait_ready "$WORK/forwarder.log" "$!" tap_forwarder

    ip link set fwa netns fwd1
    ip link set fwb netns fwd2
    ip -n fwd1 addr add 10.77.9.1/24 dev fwa
    ip -n fwd2 addr add 10.77.9.2/24 dev fwb
    ip -n fwd1 link set fwa up
    ip -n fwd2 link set fwb up
    # Through the forwarder both ways (and the ARP entries made) before anything is measured.
    wait_for 10 "$name: first ping from fwd1 to fwd2" ip netns exec fwd1 ping -n -c 1 -W 1 10.77.9.2

    ip netns exec fwd2 "${pin[@]}" iperf3 -s -1 -B 10.77.9.2 >"$WORK/iperf3-server.log" 2>&1 &
    PIDS+=("$!:iperf3-server")
    wait_for 10 "$name: iperf3 server listening" \
        sh -c 'ip netns exec fwd2 ss -Hltn "sport = :5201" | grep -q LISTEN'
    local tag="$placement.$round.$name"
    local rc=0
    ip netns exec fwd1 "${pin[@]}" timeout $((SECONDS_ + 30)) \
        iperf3 -c 10.77.9.2 -t "$SECONDS_" -J >"$WORK/$tag.iperf3.json" 2>&1 || rc=$?
    [ "$rc" = 0 ] || echo "forwarder.sh: $tag: iperf3 client exited with status $rc" >&2
    rc=0
    ip netns exec fwd1 "${pin[@]}" ping -n -i "$INTERVAL" -c "$PINGS" -W 1 10.77.9.2 \
        >"$WORK/$tag.ping" 2>&1 || rc=$?
    [ "$rc" = 0 ] || echo "forwarder.sh: $tag: ping exited with status $rc (lost replies?)" >&2

    stop_all
    # The taps go when their fds close; wait until they have, so the next measurement can reuse the names.
    wait_for 10 "$name: fwa gone" sh -c '! ip -n fwd1 link show fwa'
    wait_for 10 "$name: fwb gone" sh -c '! ip -n fwd2 link show fwb'
    python3 "$REPORT" record --placement "$placement" --round "$round" --path "$name" --load "$load" \
        --iperf3 "$WORK/$tag.iperf3.json" --ping "$WORK/$tag.ping" --forwarder "$WORK/forwarder.out" \
        --tapd-log "$WORK/tapd.log" \
        >>"$RESULTS"
    tail -n 1 "$RESULTS" | python3 "$REPORT" line >&2
}

want_paths=${BENCH_FWD_PATHS:-}
paths=()
for line in "${FWD_PATHS[@]}"; do
    read -ra p <<<"$line"
    if [ -z "$want_paths" ] || [[ ",$want_paths," == *",${p[0]},"* ]]; then paths+=("$line"); fi
done
[ ${#paths[@]} -gt 0 ] || fail "BENCH_FWD_PATHS=$want_paths names no path (have: $(printf '%s ' "${FWD_PATHS[@]%% *}"))"

echo "# forwarder: $(date -u '+%Y-%m-%d %H:%M:%S UTC')  $(uname -r)  $(nproc) CPUs  load average: $(loadavg)"
echo "# iperf3 ${SECONDS_} s, then $PINGS pings every $INTERVAL s, per measurement; $ROUNDS round(s) per placement;" \
    "paths: $(for l in "${paths[@]}"; do printf '%s ' "${l%% *}"; done)${SMOKE:+ (smoke)}"
IFS=, read -ra placements <<<"$PLACEMENTS"
for placement in "${placements[@]}"; do
    case $placement in default | pinned) ;; *) fail "unknown placement '$placement' (default, pinned)" ;; esac
    for round in $(seq "$ROUNDS"); do
        for line in "${paths[@]}"; do
            read -ra p <<<"$line"
            measure "$placement" "$round" "${p[@]}"
        done
    done
done
echo "# load average at the end: $(loadavg)"
python3 "$REPORT" report ${SMOKE:+--check} <"$RESULTS"
