#!/usr/bin/env bash
# bsd_device_test.sh: a `tapd --device tap0,personality=bsd` node (NetBSD tap(4), seed 001) through real
# CUSE, inside UML (run by uml-run; see CMakeLists.txt). The shell sets the interface up; bsd_client.py
# runs the checks (exclusive open, carrier, EHOSTDOWN, FIONREAD, truncation, O_NONBLOCK, poll, SIGIO,
# TAPGIFNAME, ENOTTY, MAC, drops while closed). Output: PASS/FAIL lines; exit 1 if any failed.
# shellcheck disable=SC2015
set -uo pipefail
source "${BASH_SOURCE[0]%/*}/lib.sh"
quiet_ipv6
start_tapd tap0 -- --device tap0,personality=bsd || finish bsd_device_test
pass startup

# tap_attach: a random address under NetBSD's f2:0b:a4 prefix.
mac=$(rd /sys/class/net/tap0/address)
[[ $mac == f2:0b:a4:* ]] && pass mac_prefix_f2:0b:a4 || fail mac_prefix_f2:0b:a4 "$mac"
ip -batch - <<'EOI'
addr add 10.0.0.1/24 dev tap0
link set tap0 up
EOI
/usr/bin/python3 "$here/bsd_client.py" device /dev/tap0 tap0 --tapd-pid "$tapd_pid" --tapd-log "$log" \
  || fail client_device "bsd_client.py device failed (see FAIL lines above)"
finish bsd_device_test
