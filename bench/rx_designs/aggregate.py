#!/usr/bin/env python3
"""Medians over rx_bench runs (the csv, lines of `rx_bench --csv`). Ratios are taken within each run
(against the run's first design, recv) and then the median over runs: the machine is shared, so
absolute figures drift from run to run more than ratios do."""
import statistics as st
import sys
from collections import defaultdict

runs = []
for path in sys.argv[1:]:
    flood = defaultdict(list)   # (size, design) -> [(rx, tx, drop %, rx_us, util, all_us)]
    lat = {}                    # (placement, design) -> (p50, p99, avg, max, lost, min)
    order = []
    for line in open(path):
        f = line.strip().split(',')
        if f[0] != 'csv':
            continue
        if f[3] not in order:
            order.append(f[3])
        if f[1] == 'flood':
            flood[(int(f[2]), f[3])].append(tuple(float(x) for x in f[5:11]))
        else:
            lat[(f[1][len('latency-'):], f[3])] = tuple(float(x) for x in f[5:11])
    runs.append((flood, lat, order))

order = runs[0][2]
base = order[0]
med = st.median
print(f"\nMedians over {len(runs)} runs (flood figures: per run the median of its rounds)")
print(f"{'design':10} {'size':>5} {'rx fr/s':>10} {'x' + base:>8} {'tx fr/s':>10} {'drop %':>8} "
      f"{'rx us/fr':>9} {'x' + base:>8} {'all us/fr':>9} {'x' + base:>8}")
sizes = sorted({k[0] for k in runs[0][0]})
for size in sizes:
    for d in order:
        per = []
        for flood, _, _ in runs:
            m = [med(col) for col in zip(*flood[(size, d)])]
            b = [med(col) for col in zip(*flood[(size, base)])]
            per.append(m + [m[0] / b[0] if b[0] else 0, m[3] / b[3] if b[3] else 0, m[5] / b[5] if b[5] else 0])
        c = [med(col) for col in zip(*per)]
        print(f"{d:10} {size:5d} {c[0]:10.0f} {c[6]:8.2f} {c[1]:10.0f} {c[2]:8.1f} {c[3]:9.3f} {c[7]:8.2f} "
              f"{c[5]:9.3f} {c[8]:8.2f}")
placements = []
for k in runs[0][1]:
    if k[0] not in placements:
        placements.append(k[0])
for pl in placements:
    print(f"\nLatency {pl}, one-way us, medians over runs")
    print(f"{'design':10} {'min':>8} {'p50':>8} {'x' + base:>8} {'p99':>8} {'x' + base:>8} {'avg':>8} {'lost':>5}")
    for d in order:
        per = []
        for _, lat, _ in runs:
            p50, p99, avg, mx, lost, mn = lat[(pl, d)]
            b = lat[(pl, base)]
            per.append((mn, p50, p50 / b[0] if b[0] else 0, p99, p99 / b[1] if b[1] else 0, avg, lost))
        c = [med(col) for col in zip(*per)]
        print(f"{d:10} {c[0]:8.1f} {c[1]:8.1f} {c[2]:8.2f} {c[3]:8.1f} {c[4]:8.2f} {c[5]:8.1f} {c[6]:5.0f}")
