# lib.sh: helpers shared by the real-client tests in this directory and ../socat_test.sh (sourced,
# not run). Needs TAPD and OUTDIR; tapd's log is $log.
# Every fork+exec costs ~50 ms inside UML, so the helpers use bash builtins where they can.
# Nothing sleeps in place of a condition: wait_for polls one, with a deadline only waited out on failure.
: "${TAPD:?TAPD must name the tapd binary}" "${OUTDIR:?OUTDIR must name a host directory for logs}"
mkdir -p "$OUTDIR"
log=$OUTDIR/tapd.log
failed=0
logs=()  # files dumped when a check fails
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
check() {  # name, message-if-false, command...
  local name=$1 msg=$2; shift 2
  if "$@"; then pass "$name"; else fail "$name" "$msg"; fi
}
dump() { echo "--- $1:"; [[ -e $1 ]] && sed 's/^/  | /' "$1"; }
# Wait (up to $1 tenths of a second) until the command in $2.. succeeds.
wait_for() {
  local n=$1; shift
  while ((n-- > 0)); do "$@" && return 0; sleep 0.1; done
  "$@"
}
log_has() { local l; [[ -e $1 ]] || return 1; mapfile -t l <"$1"; [[ " ${l[*]} " == *"$2"* ]]; }
pings_ok() {  # name, count, ping output: every probe answered
  if [[ $3 == *$'\n'"$2 packets transmitted, $2 received,"* ]]; then pass "$1"; else fail "$1" "$3"; fi
}
# Stop a process we started (SIGTERM, then SIGKILL after $2 tenths of a second); its exit status.
stop_pid() {
  local pid=$1 n=${2:-50}
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  while ((n-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
# Into $stats, the "stats NAME:" line tapd prints to its log $2 on the SIGUSR1 sent here: waits (10 s)
# for one more such line than the log had before.
tapd_stats() {  # tapd pid, log, device name
  local st_log=$2 st_dev=$3 before
  stats=
  stats_lines "$st_log" "$st_dev"
  before=$n_stats
  kill -USR1 "$1" 2>/dev/null || return 1
  # shellcheck disable=SC2016  # expanded by eval (in wait_for, which sees these locals), each time round
  wait_for 100 eval 'stats_lines "$st_log" "$st_dev"; ((n_stats > before))' || return 1
  stats=$last_stats
}
stats_lines() {  # log, device name: how many "stats NAME:" lines ($n_stats), the last ($last_stats)
  local l x
  n_stats=0 last_stats=
  [[ -e $1 ]] || return 0
  mapfile -t l <"$1"
  for x in "${l[@]}"; do [[ $x == *"stats $2:"* ]] && n_stats=$((n_stats + 1)) last_stats=$x; done
  return 0
}
# The far end's namespace: netns "peer", linked to this one by veth0 ($1.1/24, here) ⇄ veth1 ($1.2/24,
# in peer), both up, and peer's loopback up.
peer_netns() {  # first three octets of the /24
  ip netns add peer
  ip link add veth0 type veth peer name veth1 netns peer
  ip -batch - <<B
addr add $1.1/24 dev veth0
link set veth0 up
B
  ip -n peer -batch - <<B
link set lo up
addr add $1.2/24 dev veth1
link set veth1 up
B
}
# tapd (started in the background with its output in $log) ready, with every /dev/NODE named: check
# "startup", or fail it and finish test $1.
tapd_started() {  # test name, node...
  local name=$1 n ok=1 nodes=; shift
  wait_for 300 log_has "$log" "tapd: ready" || ok=0
  for n; do
    nodes+="${nodes:+ and }/dev/$n"
    [[ -c /dev/$n ]] || ok=0
  done
  if ((ok)); then
    pass startup
  else
    fail startup "tapd not ready with $nodes within 30 s"
    finish "$name"
  fi
}
# SIGTERM to tapd ($tapd_pid; SIGKILL after 10 s): check that it exits 0.
stop_tapd() {
  local rc
  stop_pid "$tapd_pid" 100
  rc=$?
  tapd_pid=
  if ((rc == 0)); then pass tapd_exit_status; else fail tapd_exit_status "exit status $rc"; fi
}
# Empty the given files now: a log left by an earlier run must not satisfy a log_has wait before the
# background process we just started has opened (and truncated) it; in UML that fork can take seconds.
fresh() { local f; for f; do : >"$f"; done; }
finish() {  # test name
  local f
  if ((failed)); then
    echo "$1: $failed check(s) failed"
    for f in "${logs[@]}"; do dump "$f"; done
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}
