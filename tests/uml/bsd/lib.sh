# lib.sh: shared by the BSD-personality UML scripts (sourced). PASS/FAIL lines, a summary, tapd's log
# on failure. pass/fail always succeed, so `cond && pass || fail` is a correct if-then-else here.
# shellcheck shell=bash disable=SC2015
: "${TAPD:?TAPD must name the tapd binary}" "${OUTDIR:?OUTDIR must name a host directory for logs}"
here=${BASH_SOURCE[0]%/*}
log=$OUTDIR/tapd.log
failed=0
tapd_pid=
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
check() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
rd() { local v; read -r v <"$1" 2>/dev/null && echo "$v"; }
finish() {
  if [[ -n $tapd_pid ]] && kill -0 "$tapd_pid" 2>/dev/null; then
    kill -TERM "$tapd_pid"
    (sleep 10 && kill -KILL "$tapd_pid" 2>/dev/null) &
    local watchdog=$!
    wait "$tapd_pid"
    check tapd_exit_status $? 0
    kill "$watchdog" 2>/dev/null
  fi
  echo "$1: ${SECONDS}s in the guest"
  if ((failed)); then
    echo "$1: $failed check(s) failed; tapd log ($log):"
    sed 's/^/  | /' "$log"
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}
# IPv6 off before any link exists: the kernel then sends nothing the checks did not ask for.
quiet_ipv6() {
  local f
  for f in /proc/sys/net/ipv6/conf/{all,default}/disable_ipv6; do
    [[ -e $f ]] && echo 1 >"$f"
  done
}
# start_tapd NODE... -- ARGS...: starts tapd, waits for the nodes (10 s).
start_tapd() {
  local nodes=() n
  while [[ $1 != -- ]]; do nodes+=("$1"); shift; done
  shift
  : >"$log"
  "$TAPD" "$@" >"$log" 2>&1 &
  tapd_pid=$!
  for _ in {1..100}; do
    local all=1
    for n in "${nodes[@]}"; do [[ -c /dev/$n ]] || all=0; done
    ((all)) && return 0
    kill -0 "$tapd_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail startup "${nodes[*]} did not all appear within 10 s"
  return 1
}
