# shellcheck shell=bash
# lib.sh: what guest scripts run by uml-systemd share (source it). Bash, builtins where they do: every
# fork/exec costs ~50 ms in UML.
#
# Checks print "PASS name" / "FAIL name: detail"; finish exits 1 if any failed. Waits poll observable state
# with a deadline (wait_until), never a bare sleep. Each section's time is printed, so a slow step shows.
# shellcheck disable=SC2015  # pass/fail always succeed: `cond && pass || fail` is an if-then-else here
set -uo pipefail
: "${OUTDIR:?}" "${HARNESS:?}"
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
check() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }

_section=
_section_t0=$SECONDS
section() {  # section NAME: starts a named part of the test; prints the previous one's time
  [[ -n $_section ]] && echo "--- $_section: $((SECONDS - _section_t0)) s"
  _section=$1 _section_t0=$SECONDS
  echo "=== $1"
}
finish() {
  section end
  echo "guest test: ${SECONDS} s"
  if ((failed)); then echo "guest test: $failed check(s) failed"; exit 1; fi
  echo "guest test: all checks passed"
  exit 0
}

# wait_until SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds (0) or the deadline passes (1).
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# props UNIT PROPERTY...: fills the array P (P[Name]=value) with one `systemctl show`.
declare -A P
props() {
  local unit=$1 line args=(); shift
  P=()
  for line in "$@"; do args+=(-p "$line"); done
  while IFS= read -r line; do P[${line%%=*}]=${line#*=}; done < <(systemctl show "${args[@]}" "$unit")
}
# prop UNIT PROPERTY: one property's value.
prop() { systemctl show -P "$2" "$1"; }

# want SECTION: whether this run includes SECTION (SECTIONS="a b", from `uml-systemd --env`; default all).
want() { [[ -z ${SECTIONS:-} || " $SECTIONS " == *" $1 "* ]]; }

# The unit's devices, the way the README tells users: TAPD_ARGS in /etc/default/tapd.
set_tapd_args() { printf 'TAPD_ARGS=%s\n' "$*" >/etc/default/tapd; }

# journal_since CURSOR_FILE UNIT: the unit's journal lines since the cursor saved by mark_journal.
mark_journal() { journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p' >"$1"; }
journal_since() { journalctl -q --no-pager -o cat --after-cursor "$(<"$1")" -u "$2"; }

# link_exists NAME: the kernel has a link of that name (sysfs, no fork).
link_exists() { [[ -e /sys/class/net/$1 ]]; }
