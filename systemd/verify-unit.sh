#!/usr/bin/env bash
# verify-unit.sh BUILDDIR WORKDIR: installs the build into a throwaway prefix (WORKDIR/prefix, not the
# configure-time one) the way a user would, `cmake --install BUILDDIR --prefix WORKDIR/prefix`, and checks the
# unit it wrote: ExecStart and the FUSE-mount drop-in's ExecStart name the binary installed under THAT
# prefix, Documentation= names a file that was installed, and `systemd-analyze verify` has no complaint about
# the unit, alone or with the drop-in. Prints `systemd-analyze security --offline` for both.
set -u
build=$1 work=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
rm -rf "$work"; mkdir -p "$work"
work=$(cd "$work" && pwd -P)
prefix=$work/prefix
fail=0
pass() { echo "PASS $1"; }
bad() { echo "FAIL $1"; fail=1; }
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; echo "FAIL cmake --install"; exit 1; }
unit=$prefix/lib/systemd/system/tapd.service
dropin=$prefix/share/tapd/fuse-mount.conf
[[ -f $unit && -f $dropin ]] || { cat "$work/install.log"; echo "FAIL: the install wrote no $unit or $dropin"; exit 1; }

exec_start=$(grep '^ExecStart=' "$unit")
[[ $exec_start == "ExecStart=$prefix/sbin/tapd \$TAPD_ARGS" ]] && [[ -x $prefix/sbin/tapd ]] \
  && pass "ExecStart names the binary installed under the install prefix" || bad "ExecStart: '$exec_start', want $prefix/sbin/tapd"
fuse_start=$(grep '^ExecStart=.' "$dropin")
[[ $fuse_start == "ExecStart=$prefix/sbin/tapd --fuse-mount /run/tapd/dev \$TAPD_ARGS" ]] \
  && pass "the FUSE-mount drop-in's ExecStart too" || bad "drop-in ExecStart: '$fuse_start'"
docs=$(sed -n 's|^Documentation=||p' "$unit")
[[ -n $docs ]] || bad "no Documentation="
for d in $docs; do
  case $d in
    file://*) [[ -f ${d#file://} ]] && pass "Documentation= $d is installed" || bad "Documentation= $d is not installed" ;;
    man:*) bad "Documentation= $d: no man page is installed yet" ;;
  esac
done
grep -q '^Type=notify' "$unit" && pass "Type=notify" || bad "unit is not Type=notify"

# verify reports every unit it had to load; only complaints naming tapd count. The drop-in is applied the
# way systemd finds drop-ins: next to the unit, in a unit search path.
mkdir -p "$work/units/tapd.service.d"
cp "$unit" "$work/units/"; cp "$dropin" "$work/units/tapd.service.d/"
verify() {  # verify UNIT_FILE LABEL [NAME=VALUE...]: systemd-analyze verify, with that environment
  local file=$1 label=$2 out rc; shift 2
  out=$(env "$@" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$file" 2>&1); rc=$?
  [[ -n $out ]] && echo "$out" | sed 's/^/  | /'
  if echo "$out" | grep -q 'tapd'; then bad "systemd-analyze verify complained about $label"
  elif ((rc)); then bad "systemd-analyze verify exited $rc for $label"
  else pass "systemd-analyze verify: $label"; fi
}
verify "$unit" "the unit"
verify "$work/units/tapd.service" "the unit with the FUSE-mount drop-in" SYSTEMD_UNIT_PATH="$work/units:"
(cd "$work/units" && SYSTEMD_UNIT_PATH="$work/units:" systemd-analyze security --offline=true tapd.service 2>&1 | tail -n 1 | sed 's/^/FUSE-mount drop-in: /')
mkdir -p "$work/plain"; cp "$unit" "$work/plain/"
(cd "$work/plain" && systemd-analyze security --offline=true tapd.service 2>&1 | tail -n 1 | sed 's/^/the unit: /')
((fail)) && exit 1
echo "PASS: the installed unit is right for prefix $prefix"
