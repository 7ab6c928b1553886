#!/usr/bin/env bash
# conformance_test.sh: the kernel's macvtap and tapd's Linux personality, side by side, inside UML.
#
#   tests/uml/uml-run --timeout 600 --env TAPD=/abs/tapd --env CONFORMANCE=/abs/conformance \
#       /abs/out -- tests/uml/conformance/conformance_test.sh
#
# One guest boot: veth0/veth1 with a macvtap mvt0 on veth0 (node /dev/tap<ifindex of mvt0>), and tapd
# serving /dev/tap0 over its TUN interface tap0. Both interfaces get txqueuelen 16 before anything opens
# them (the queue-bound check relies on it). The conformance program runs the same checks on both and
# prints "CHECK name token" lines; this script then compares the two lists. A check may differ only if
# expected_differences.txt names it (with the reason); any other difference, or a check that one side
# lacks, fails the test and prints both values.
#
# Every fork/exec costs ~50 ms in UML: builtins wherever they do.
set -uo pipefail

: "${TAPD:?TAPD must name the tapd binary}" "${CONFORMANCE:?CONFORMANCE must name the conformance binary}"
here=${BASH_SOURCE[0]%/*}
expected_file=$here/expected_differences.txt
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

# tapd (the target under test).
"$TAPD" --device tap0,txqueuelen=16 >"$log" 2>&1 &
tapd_pid=$!
for _ in {1..100}; do
  [[ -c /dev/tap0 && -c $kernel_node ]] && break
  kill -0 "$tapd_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -c /dev/tap0 || ! -c $kernel_node ]]; then
  echo "conformance_test: /dev/tap0 or $kernel_node did not appear; tapd log:"
  cat "$log"
  exit 1
fi
ip link set tap0 up

start=$SECONDS
"$CONFORMANCE" --dev "$kernel_node" --ifname mvt0 --inject veth1 --capture veth1 \
  >"$work/kernel.txt" 2>"$work/kernel.err"
krc=$?
"$CONFORMANCE" --dev /dev/tap0 --ifname tap0 --inject tap0 --capture tap0 \
  >"$work/tapd.txt" 2>"$work/tapd.err"
trc=$?
elapsed=$((SECONDS - start))
kill -TERM "$tapd_pid" 2>/dev/null
wait "$tapd_pid" 2>/dev/null

# --- compare ------------------------------------------------------------------------------------
declare -A kern=() tapd=() expected=()
order=()
while read -r tag name token; do
  [[ $tag == CHECK ]] || continue
  kern[$name]=$token
  order+=("$name")
done <"$work/kernel.txt"
while read -r tag name token; do
  [[ $tag == CHECK ]] || continue
  tapd[$name]=$token
  [[ -n ${kern[$name]+x} ]] || order+=("$name")
done <"$work/tapd.txt"
while read -r name reason; do
  [[ -z $name || $name == \#* ]] && continue
  expected[$name]=$reason
done <"$expected_file"

failed=0 same=0 allowed=0
for name in "${order[@]}"; do
  k=${kern[$name]-<missing>} t=${tapd[$name]-<missing>}
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

for side in kernel tapd; do
  if [[ -s $work/$side.err ]]; then
    echo "--- conformance stderr ($side):"
    cat "$work/$side.err"
  fi
done
echo "conformance_test: ${#order[@]} checks, $same same, $allowed expected differences, $failed unexpected; checks took ${elapsed}s"
if ((krc != 0 || trc != 0)); then
  echo "conformance_test: the conformance program failed (kernel: $krc, tapd: $trc)"
  failed=$((failed + 1))
fi
if ((${#order[@]} == 0)); then
  echo "conformance_test: no checks ran"
  failed=$((failed + 1))
fi
if ((failed)); then
  echo "conformance_test: FAIL; tapd log:"
  cat "$log"
  exit 1
fi
echo "conformance_test: PASS"
exit 0
