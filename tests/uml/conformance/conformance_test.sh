#!/usr/bin/env bash
# conformance_test.sh: the kernel's macvtap and tapd, side by side, inside UML.
#
#   tests/uml/uml-run --timeout 600 --env TAPD=/abs/tapd --env CONFORMANCE=/abs/conformance \
#       /abs/out -- tests/uml/conformance/conformance_test.sh [--backends tun,packet]
#
# One guest boot: veth0/veth1 with a macvtap mvt0 on veth0 (node /dev/tap<ifindex of mvt0>), txqueuelen
# 16 before anything opens it (the queue-bound check relies on it). The conformance program runs the
# same checks on the kernel's device and on each tapd backend asked for, printing "CHECK name token"
# lines; this script then compares each tapd list with the kernel's, backend by backend:
#
#   tun     tapd --device tap0,txqueuelen=16: /dev/tap0 over its TUN interface tap0 (frames injected and
#           captured on tap0 itself). Allowed differences: expected_differences.txt.
#   packet  tapd --device mvtapd,backend=packet,lower=veth0,txqueuelen=16: tapd's own macvtap, a macvlan
#           on the same veth0 served as /dev/tap<ifindex of mvtapd>, frames injected and captured on the
#           peer veth1 exactly as for mvt0. Allowed differences: expected_differences_packet.txt.
#
# Phases, one at a time so no target sees another's frames: the kernel's mvt0 first (nothing else on
# veth0), then tapd's TUN device, then mvt0 is deleted and tapd's macvlan takes its place on veth0 (two
# macvlans on one lower device in bridge mode would pass broadcasts and each other's frames between
# them; one at a time, each target has veth0 to itself, with the identical setup). The kernel's list is
# the reference for both comparisons. Default: --backends tun,packet.
#
# A check may differ only if the backend's expected-differences file names it (with the reason); any
# other difference, or a check that one side lacks, fails the test and prints both values.
#
# Every fork/exec costs ~50 ms in UML: builtins wherever they do.
set -uo pipefail

: "${TAPD:?TAPD must name the tapd binary}" "${CONFORMANCE:?CONFORMANCE must name the conformance binary}"
here=${BASH_SOURCE[0]%/*}
backends=(tun packet)
while (($#)); do
  case $1 in
    --backends) IFS=, read -ra backends <<<"${2:?--backends needs a list}"; shift 2 ;;
    *) echo "conformance_test: unknown argument $1 (usage: conformance_test.sh [--backends tun,packet])"; exit 2 ;;
  esac
done
for b in "${backends[@]}"; do
  [[ $b == tun || $b == packet ]] || { echo "conformance_test: unknown backend '$b' (tun, packet)"; exit 2; }
done
work=/run/conformance  # guest-private tmpfs
mkdir -p "$work"
log=$work/tapd.log

# No IPv6 (no ND/MLD frames) before any link exists, and no addresses anywhere: the kernel stays quiet.
for f in /proc/sys/net/ipv6/conf/{all,default}/disable_ipv6; do
  [[ -e $f ]] && echo 1 >"$f"
done

# The kernel's macvtap (reference target).
if ! ip -batch - <<'EOF'
link add veth0 type veth peer name veth1
link add link veth0 name mvt0 type macvtap mode bridge
link set mvt0 txqueuelen 16
link set veth0 up
link set veth1 up
link set mvt0 up
EOF
then
  echo "conformance_test: cannot create veth0/veth1/mvt0"
  exit 1
fi
read -r mvt_ifindex </sys/class/net/mvt0/ifindex
kernel_node=/dev/tap$mvt_ifindex

# --- targets --------------------------------------------------------------------------------
tapd_pid=
start_tapd() {  # DEVICE-SPEC: tapd serving that one device, stderr to $log; sets tapd_pid
  "$TAPD" --device "$1" >"$log" 2>&1 &
  tapd_pid=$!
}
stop_tapd() {  # checks the exit status of SIGTERM
  local rc
  kill -TERM "$tapd_pid" 2>/dev/null
  wait "$tapd_pid" 2>/dev/null
  rc=$?
  tapd_pid=
  if ((rc != 0)); then
    echo "conformance_test: tapd exited with status $rc on SIGTERM"
    return 1
  fi
}
wait_node() {  # NODE: the device node appears, or tapd died (5 s)
  for _ in {1..100}; do
    [[ -c $1 ]] && return 0
    kill -0 "$tapd_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -c $1 ]]
}

for _ in {1..50}; do [[ -c $kernel_node ]] && break; sleep 0.1; done
if [[ ! -c $kernel_node ]]; then
  echo "conformance_test: the kernel's $kernel_node did not appear"
  exit 1
fi

start=$SECONDS
"$CONFORMANCE" --dev "$kernel_node" --ifname mvt0 --inject veth1 --capture veth1 \
  >"$work/kernel.txt" 2>"$work/kernel.err"
krc=$?
declare -A rcs=()
setup_failed=0

for backend in "${backends[@]}"; do
  log=$work/tapd-$backend.log
  case $backend in
    tun)
      start_tapd tap0,txqueuelen=16
      if ! wait_node /dev/tap0; then
        echo "conformance_test: /dev/tap0 did not appear; tapd log:"
        cat "$log"
        setup_failed=1
        continue
      fi
      ip link set tap0 up
      "$CONFORMANCE" --dev /dev/tap0 --ifname tap0 --inject tap0 --capture tap0 \
        >"$work/$backend.txt" 2>"$work/$backend.err"
      rcs[$backend]=$?
      stop_tapd || setup_failed=1
      ;;
    packet)
      # mvt0 leaves veth0 to tapd's macvlan (see the header).
      ip link del mvt0 2>/dev/null
      start_tapd mvtapd,backend=packet,lower=veth0,txqueuelen=16
      node=
      for _ in {1..100}; do
        if [[ -r /sys/class/net/mvtapd/ifindex ]]; then
          read -r idx </sys/class/net/mvtapd/ifindex
          node=/dev/tap$idx
          break
        fi
        kill -0 "$tapd_pid" 2>/dev/null || break
        sleep 0.1
      done
      if [[ -z $node ]] || ! wait_node "$node"; then
        echo "conformance_test: tapd's macvlan mvtapd or its node ${node:-/dev/tap?} did not appear; tapd log:"
        cat "$log"
        setup_failed=1
        continue
      fi
      "$CONFORMANCE" --dev "$node" --ifname mvtapd --inject veth1 --capture veth1 \
        >"$work/$backend.txt" 2>"$work/$backend.err"
      rcs[$backend]=$?
      stop_tapd || setup_failed=1
      if [[ -e /sys/class/net/mvtapd ]]; then
        echo "conformance_test: tapd left its macvlan mvtapd behind on exit"
        setup_failed=1
      fi
      ;;
  esac
done
elapsed=$((SECONDS - start))

# --- compare ------------------------------------------------------------------------------------
# compare BACKEND EXPECTED-FILE: prints one line per check and a summary; returns 1 on any failure.
compare() {
  local backend=$1 expected_file=$2 name k t tag token reason
  local -A kern=() other=() expected=()
  local -a order=()
  local failed=0 same=0 allowed=0
  while read -r tag name token; do
    [[ $tag == CHECK ]] || continue
    kern[$name]=$token
    order+=("$name")
  done <"$work/kernel.txt"
  while read -r tag name token; do
    [[ $tag == CHECK ]] || continue
    other[$name]=$token
    [[ -n ${kern[$name]+x} ]] || order+=("$name")
  done <"$work/$backend.txt"
  while read -r name reason; do
    [[ -z $name || $name == \#* ]] && continue
    expected[$name]=$reason
  done <"$expected_file"

  echo "=== backend $backend: kernel macvtap mvt0 vs ${targets[$backend]} (allowed: ${expected_file##*/})"
  for name in "${order[@]}"; do
    k=${kern[$name]-<missing>} t=${other[$name]-<missing>}
    if [[ $k == "$t" ]]; then
      same=$((same + 1))
      printf 'SAME      %-36s %s\n' "$name" "$k"
      [[ -n ${expected[$name]+x} ]] && echo "  note: $name is listed as an expected difference but both agree"
    elif [[ -n ${expected[$name]+x} && $k != "<missing>" && $t != "<missing>" ]]; then
      allowed=$((allowed + 1))
      printf 'EXPECTED  %-36s kernel=%s tapd=%s\n          (%s)\n' "$name" "$k" "$t" "${expected[$name]}"
    else
      failed=$((failed + 1))
      printf 'DIFF      %-36s kernel=%s tapd=%s\n' "$name" "$k" "$t"
    fi
  done
  if [[ -s $work/$backend.err ]]; then
    echo "--- conformance stderr ($backend):"
    cat "$work/$backend.err"
  fi
  if ((${rcs[$backend]:-1} != 0)); then
    echo "conformance_test: the conformance program failed on backend $backend (status ${rcs[$backend]:-not run})"
    failed=$((failed + 1))
  fi
  if ((${#order[@]} == 0)); then
    echo "conformance_test: no checks ran"
    failed=$((failed + 1))
  fi
  echo "conformance_test: backend $backend: ${#order[@]} checks, $same same, $allowed expected differences, $failed unexpected"
  summary+=("backend $backend: ${#order[@]} checks, $same same, $allowed expected, $failed unexpected")
  if ((failed)); then
    echo "conformance_test: backend $backend FAIL; tapd log:"
    cat "$work/tapd-$backend.log"
    return 1
  fi
  return 0
}

declare -A targets=([tun]="tapd /dev/tap0 (TUN backend, tap0)" [packet]="tapd /dev/tap<ifindex> (packet backend, macvlan mvtapd on veth0)")
declare -A expected_files=([tun]=$here/expected_differences.txt [packet]=$here/expected_differences_packet.txt)
summary=()
failed_backends=()
if [[ -s $work/kernel.err ]]; then
  echo "--- conformance stderr (kernel):"
  cat "$work/kernel.err"
fi
if ((krc != 0)); then
  echo "conformance_test: the conformance program failed on the kernel's macvtap (status $krc)"
  failed_backends+=(kernel)
fi
for backend in "${backends[@]}"; do
  compare "$backend" "${expected_files[$backend]}" || failed_backends+=("$backend")
  echo
done
((setup_failed)) && failed_backends+=(setup)
echo "conformance_test: checks took ${elapsed}s"
for l in "${summary[@]}"; do echo "conformance_test: $l"; done
if ((${#failed_backends[@]})); then
  echo "conformance_test: FAIL (${failed_backends[*]})"
  exit 1
fi
echo "conformance_test: PASS (${backends[*]})"
exit 0
