#!/bin/sh
# run.sh — build rx_bench, run it RUNS times (each run in its own throwaway network namespace: rx_bench
# re-executes itself under `unshare -n`), keep the logs, print the medians over runs.
#
#   sudo bench/rx_designs/run.sh [rx_bench options...]      (RUNS=3, BUILD=build-rx, OUT=$TMPDIR/rx_designs.*)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${BUILD:-$top/build-rx}
runs=${RUNS:-3}
out=${OUT:-$(mktemp -d -t rx_designs.XXXXXX)}
mkdir -p "$out"
cmake -S "$top" -B "$build" >/dev/null
make -C "$build" -j2 rx_bench >/dev/null
bin="$build/bench/rx_designs/rx_bench"
i=1
while [ "$i" -le "$runs" ]; do
    echo "== run $i/$runs ($(date -u +%FT%TZ)) -> $out/run$i.log"
    "$bin" --csv "$@" | tee "$out/run$i.log" | grep -v '^csv,'
    i=$((i + 1))
done
command -v python3 >/dev/null || { echo "no python3: see $out/run*.log"; exit 0; }
python3 "$here/aggregate.py" "$out"/run*.log
