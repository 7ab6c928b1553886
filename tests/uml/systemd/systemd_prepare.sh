#!/bin/bash
# systemd_prepare.sh ROOT: uml.systemd's additions to the guest's root, made before systemd starts (so the
# test needs no daemon-reload for them, each of which costs seconds in UML).
# tapd-consumer.service needs the nodes: ordered after tapd, it opens each one (NODES, from
# /etc/tapd-consumer.env) at its start and fails if one is missing (checked first: `<>` would create it).
R=$1
mkdir -p "$R/usr/local/bin" "$R/etc/systemd/system" || exit 1
printf '%s\n' '#!/bin/bash' 'for n in "$@"; do [[ -e $n ]] && exec 3<>"$n" || exit 1; exec 3>&-; done' >"$R/usr/local/bin/tapd-consumer"
chmod 755 "$R/usr/local/bin/tapd-consumer"
printf '%s\n' '[Unit]' \
  "Description=opens every node tapd serves, at its start (tapd's readiness)" \
  'Requires=tapd.service' 'After=tapd.service' \
  '[Service]' 'Type=oneshot' 'EnvironmentFile=/etc/tapd-consumer.env' \
  'ExecStart=/usr/local/bin/tapd-consumer $NODES' >"$R/etc/systemd/system/tapd-consumer.service"
