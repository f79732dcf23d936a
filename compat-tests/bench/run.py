#!/usr/bin/env python3
"""Side-by-side benchmark: our dqlite-server vs the C server (dqlite-demo).

Usage (from the repository root):
    compat-tests/bench/run.py [--duration 5s] [--runs 3] [--only kvwrite]

Builds our server (release) and the Go load generator (go-dqlite v3), starts
both servers on free 127.0.0.1 ports in fresh temporary directories, runs
every workload against each server RUNS times (alternating), and prints the
median throughput, p99 latency, server CPU per operation and peak RSS, with
ours/C ratios. Needs Go, and Debian's go-dqlite package (dqlite-demo, linked
to libdqlite 1.11.1). Benchmarks are not tests: numbers vary with the
machine, so only ratios measured side by side mean anything.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from common import (build_bench, build_ours, cpu_seconds, disk_bytes, peak_rss_mib, require_c_server,
                    start_cluster, stop_all)

# (workload, clients)
SCENARIOS = [
    ("kvwrite", 1),
    ("kvwrite", 16),
    ("read", 16),
    ("tx100", 1),
    ("scan", 1),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated workloads")
    parser.add_argument("--nodes", type=int, default=1, help="cluster size (1 or 3 make sense)")
    parser.add_argument("--ours-args", default="",
                        help="extra flags for our dqlite-server, e.g. '--snapshot-every 4096'")
    args = parser.parse_args()
    require_c_server()

    work = tempfile.mkdtemp(prefix="dqlite-bench-")
    ours = build_ours()
    bench = build_bench(work)

    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    clusters = {"ours": [], "c": []}
    try:
        clusters["ours"] = start_cluster("ours", args.nodes, work, ours, args.ours_args.split(), env)
        clusters["c"] = start_cluster("c", args.nodes, work)
        servers = {name: [node.proc for node in nodes] for name, nodes in clusters.items()}
        addresses = {name: [node.address for node in nodes] for name, nodes in clusters.items()}
        only = set(filter(None, args.only.split(",")))
        rows = []
        for workload, clients in SCENARIOS:
            if only and workload not in only:
                continue
            samples = {"ours": [], "c": []}
            for run in range(args.runs):
                for name in ("ours", "c"):
                    before = sum(cpu_seconds(p.pid) for p in servers[name])
                    written = sum(disk_bytes(p.pid) for p in servers[name])
                    out = subprocess.run(
                        [bench, "-addr", ",".join(addresses[name]), "-workload", workload,
                         "-clients", str(clients), "-duration", args.duration,
                         "-db", f"bench-{workload}-{clients}"],
                        capture_output=True, text=True, timeout=600)
                    if out.returncode != 0:
                        sys.exit(f"{name} {workload}: {out.stderr.strip()}")
                    result = json.loads(out.stdout)
                    after = sum(cpu_seconds(p.pid) for p in servers[name])
                    result["cpu_ms_per_op"] = 1000 * (after - before) / max(result["ops"], 1)
                    written = sum(disk_bytes(p.pid) for p in servers[name]) - written
                    result["disk_kib_per_op"] = written / 1024 / max(result["ops"], 1) / args.nodes
                    samples[name].append(result)
            med = {n: {k: statistics.median(r[k] for r in s) for k in ("ops_per_sec", "p99_ms", "cpu_ms_per_op", "disk_kib_per_op")}
                   for n, s in samples.items()}
            rows.append((f"{workload} x{clients}", med))
        rss = {n: max(peak_rss_mib(p.pid) for p in procs) for n, procs in servers.items()}
    finally:
        stop_all(clusters["ours"] + clusters["c"])
        if os.environ.get("KEEP_BENCH_DIR"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"{'workload':<14} {'ours op/s':>10} {'C op/s':>10} {'ratio':>7} "
          f"{'ours p99':>9} {'C p99':>9} {'ours cpu/op':>12} {'C cpu/op':>10} {'cpu ratio':>9}")
    for name, med in rows:
        o, c = med["ours"], med["c"]
        print(f"{name:<14} {o['ops_per_sec']:>10.0f} {c['ops_per_sec']:>10.0f} "
              f"{o['ops_per_sec'] / max(c['ops_per_sec'], 1e-9):>6.2f}x "
              f"{o['p99_ms']:>7.2f}ms {c['p99_ms']:>7.2f}ms "
              f"{o['cpu_ms_per_op']:>10.3f}ms {c['cpu_ms_per_op']:>8.3f}ms "
              f"{o['cpu_ms_per_op'] / max(c['cpu_ms_per_op'], 1e-9):>8.2f}x "
              f"{o['disk_kib_per_op']:>9.1f}KiB {c['disk_kib_per_op']:>7.1f}KiB")
    print(f"{args.nodes} node(s); CPU per op summed over all nodes; disk = bytes written to storage"
          " per op and per node (/proc/PID/io), log, snapshots and preallocation included")
    print(f"peak RSS per node: ours {rss['ours']:.0f} MiB, C server (dqlite-demo process) {rss['c']:.0f} MiB")


if __name__ == "__main__":
    main()
