#!/usr/bin/env bash
# Runs systemd-analyze verify on the unit and fails on any complaint about it (systemd-analyze also
# reports unrelated units of the host; only lines naming tapd.service count).
set -u
unit=$1
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed"; exit 77
fi
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$unit" 2>&1); rc=$?
echo "$out"
if echo "$out" | grep -q "tapd.service"; then
  echo "FAIL: systemd-analyze verify complained about tapd.service"; exit 1
fi
if [ $rc -ne 0 ]; then
  echo "FAIL: systemd-analyze verify exited $rc"; exit 1
fi
grep -q '^Type=notify' "$unit" || { echo "FAIL: unit is not Type=notify"; exit 1; }
echo "PASS: $unit verifies"
