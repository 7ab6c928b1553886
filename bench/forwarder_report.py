#!/usr/bin/env python3
"""forwarder_report.py — turns forwarder.sh's raw outputs into records, and records into its report.

  record --placement P --round N --path NAME --load "L1 L5 L15" --iperf3 JSON --ping FILE --forwarder FILE
         --tapd-log FILE (empty for paths without tapd)
         prints one record (a JSON line) for one measurement
  line   reads one record on stdin, prints it as one human-readable line (forwarder.sh's progress)
  report [--check]
         reads every record on stdin and prints the tables: per placement and path the medians over
         rounds with [min-max]; then, per placement, every path against the first one (the kernel), as
         ratios paired by round. --check (forwarder.sh --smoke) exits 1 unless every measurement carried
         TCP and got every ping back, and the forwarder saw TCP super-frames (GSO) from the iperf3 client.

A benchmark's report, not a test: outside --check it judges nothing.
"""
import argparse
import json
import re
import statistics
import sys

ETH_MTU_FRAME = 1514 + 10  # the largest non-GSO read: Ethernet frame at MTU 1500 plus the vnet header


def percentile(sorted_values, q):
    """The q-quantile as tap_bench computes it: element n*q, clamped (no interpolation)."""
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def parse_iperf3(path):
    out = {"tcp_gbps": None, "retransmits": None, "iperf3_error": None}
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        out["iperf3_error"] = f"no JSON from iperf3 ({e.__class__.__name__})"
        return out
    if "error" in j:
        out["iperf3_error"] = j["error"]
    end = j.get("end", {})
    received = end.get("sum_received", {}).get("bits_per_second")
    if received:
        out["tcp_gbps"] = received / 1e9
    out["retransmits"] = end.get("sum_sent", {}).get("retransmits")
    return out


def parse_ping(path):
    rtts, sent, received = [], None, None
    with open(path) as f:
        for line in f:
            m = re.search(r"time=([0-9.]+) ms", line)
            if m:
                rtts.append(float(m.group(1)))
            m = re.search(r"(\d+) packets transmitted, (\d+) received", line)
            if m:
                sent, received = int(m.group(1)), int(m.group(2))
    s = sorted(rtts)
    return {
        "ping_sent": sent,
        "ping_received": received,
        "rtt_p50_ms": percentile(s, 0.5),
        "rtt_p99_ms": percentile(s, 0.99),
        "rtt_min_ms": s[0] if s else None,
        "rtt_max_ms": s[-1] if s else None,
    }


def parse_forwarder(path):
    dirs, offloads = {}, {}
    with open(path) as f:
        for line in f:
            m = re.match(r"tap_forwarder: ([ab]) \S+ offloads (\S+)", line.strip())
            if m:
                offloads[m.group(1)] = m.group(2)
                continue
            m = re.match(r"tap_forwarder: (a->b|b->a) (.*)", line.strip())
            if not m:
                continue
            fields = m.group(2).split()
            d = {fields[i]: int(fields[i + 1]) for i in range(0, len(fields) - 1, 2) if fields[i + 1].isdigit()}
            if "last" in fields:
                d["last_error"] = " ".join(fields[fields.index("last") + 1:])
            dirs[m.group(1)] = d
    return {"forwarder": dirs, "offloads": offloads}


def parse_tapd_log(path):
    """tapd's counters from the "stats" lines it logs when it stops: the drops summed over its devices."""
    drops = None
    with open(path) as f:
        for line in f:
            m = re.match(r"tapd: stats \S+: (.*)", line.strip())
            if m:
                c = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
                drops = (drops or 0) + sum(int(v) for k, v in c.items() if "dropped" in k or k.endswith("errors"))
    return {"tapd_drops": drops}


def cmd_record(a):
    rec = {"placement": a.placement, "round": a.round, "path": a.path, "load": a.load}
    rec.update(parse_iperf3(a.iperf3))
    rec.update(parse_ping(a.ping))
    rec.update(parse_forwarder(a.forwarder))
    rec.update(parse_tapd_log(a.tapd_log))
    print(json.dumps(rec))


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def describe(r):
    f = r.get("forwarder", {})
    ab, ba = f.get("a->b", {}), f.get("b->a", {})
    s = (f"{r['placement']:7} r{r['round']} {r['path']:10} tcp {fmt(r['tcp_gbps'], '.2f')} Gbit/s "
         f"(retr {fmt(r['retransmits'], 'd')}); ping {fmt(r['ping_received'], 'd')}/{fmt(r['ping_sent'], 'd')} "
         f"p50 {fmt(r['rtt_p50_ms'], '.3f')} p99 {fmt(r['rtt_p99_ms'], '.3f')} ms; forwarder a->b "
         f"{ab.get('frames', 0)} frames, largest {ab.get('largest', 0)} B, gso {ab.get('gso', 0)}; b->a "
         f"{ba.get('frames', 0)} frames; offloads {'/'.join(r.get('offloads', {}).values()) or '?'}; "
         + (f"tapd drops+errors {r['tapd_drops']}; " if r.get("tapd_drops") is not None else "")
         + f"load {r['load']}")
    errors = ab.get("write_errors", 0) + ba.get("write_errors", 0)
    if errors:
        s += f"; {errors} forwarder writes FAILED"
    if r.get("iperf3_error"):
        s += f"; iperf3: {r['iperf3_error']}"
    return s


def cmd_line(_):
    print("  " + describe(json.loads(sys.stdin.readline())))


def spread(values, spec, sign=""):
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    return f"{statistics.median(v):{sign}{spec}} [{min(v):{sign}{spec}}..{max(v):{sign}{spec}}]"


def problems(r):
    """What makes a measurement unusable (the --check criteria)."""
    p = []
    if not r["tcp_gbps"]:
        p.append("no TCP throughput" + (f" ({r['iperf3_error']})" if r.get("iperf3_error") else ""))
    if not r["ping_sent"] or r["ping_received"] != r["ping_sent"]:
        p.append(f"pings {r['ping_received']}/{r['ping_sent']}")
    ab = r.get("forwarder", {}).get("a->b", {})
    if not ab.get("gso") or ab.get("largest", 0) <= ETH_MTU_FRAME:
        p.append("no TCP super-frame crossed the forwarder (GSO/TSO off somewhere)")
    for d, c in r.get("forwarder", {}).items():
        if c.get("write_errors"):
            p.append(f"forwarder {d}: {c['write_errors']} failed writes ({c.get('last_error', '?')})")
    if "a->b" not in r.get("forwarder", {}):
        p.append("no counters from the forwarder")
    return p


def cmd_report(a):
    recs = [json.loads(line) for line in sys.stdin if line.strip()]
    if not recs:
        print("forwarder_report: no measurements", file=sys.stderr)
        return 1
    placements = list(dict.fromkeys(r["placement"] for r in recs))
    paths = list(dict.fromkeys(r["path"] for r in recs))
    base = paths[0]

    print("\nmedian [min..max] over rounds; TCP from iperf3 (received), RTT from ping (p50/p99 of each series)")
    print(f"{'placement':9} {'path':10} {'rounds':>6} {'tcp_gbit/s':>22} {'rtt_p50_ms':>25} {'rtt_p99_ms':>25}  load_1min")
    for pl in placements:
        for p in paths:
            rs = [r for r in recs if r["placement"] == pl and r["path"] == p]
            if not rs:
                continue
            loads = [float(r["load"].split()[0]) for r in rs]
            print(f"{pl:9} {p:10} {len(rs):>6} {spread([r['tcp_gbps'] for r in rs], '.2f'):>22} "
                  f"{spread([r['rtt_p50_ms'] for r in rs], '.3f'):>25} "
                  f"{spread([r['rtt_p99_ms'] for r in rs], '.3f'):>25}  {min(loads):.2f}..{max(loads):.2f}")

    if len(paths) > 1:
        print(f"\neach path against {base}, paired by round (a round measures the paths back to back): "
              f"median [min..max] of path/{base} (ratio) and path - {base} (diff)")
        print(f"{'placement':9} {'path':10} {'tcp ratio':>22} {'rtt_p50 ratio':>25} {'rtt_p50 diff (us)':>25}")
        for pl in placements:
            for p in paths[1:]:
                tcp, rtt, drtt = [], [], []
                for r in (r for r in recs if r["placement"] == pl and r["path"] == p):
                    b = next((x for x in recs if x["placement"] == pl and x["path"] == base
                              and x["round"] == r["round"]), None)
                    if not b:
                        continue
                    if r["tcp_gbps"] is not None and b["tcp_gbps"]:
                        tcp.append(r["tcp_gbps"] / b["tcp_gbps"])
                    if r["rtt_p50_ms"] is not None and b["rtt_p50_ms"]:
                        rtt.append(r["rtt_p50_ms"] / b["rtt_p50_ms"])
                        drtt.append((r["rtt_p50_ms"] - b["rtt_p50_ms"]) * 1000)
                print(f"{pl:9} {p:10} {spread(tcp, '.2f'):>22} {spread(rtt, '.2f'):>25} "
                      f"{spread(drtt, '.0f', '+'):>25}")

    print("\ndetails (every measurement, in the order run):")
    bad = 0
    for r in recs:
        print("  " + describe(r))
        for p in problems(r):
            print(f"    PROBLEM: {p}")
            bad += 1
    if a.check:
        print(f"\nsmoke check: {'FAILED, ' + str(bad) + ' problem(s)' if bad else 'passed'}")
        return 1 if bad else 0
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    for opt in ("placement", "round", "path", "load", "iperf3", "ping", "forwarder", "tapd-log"):
        r.add_argument("--" + opt, required=True)
    sub.add_parser("line")
    rep = sub.add_parser("report")
    rep.add_argument("--check", action="store_true")
    a = ap.parse_args()
    return {"record": cmd_record, "line": cmd_line, "report": cmd_report}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
