#!/usr/bin/env python3
"""Debian's dqlite-benchmark on the C library and on our libdqlite.so.0.

dqlite-benchmark (go-dqlite 1.11.5's benchmark, dynamically linked to
libdqlite.so.0) embeds its node; a run with the system library
(libdqlite 1.11.1) and one with ours (LD_LIBRARY_PATH), alternating, on the
same machine. It records one latency per operation in its result files;
this script counts them (throughput) and takes their median and p99.

With --nodes N (default 1), each run is a cluster of N dqlite-benchmark
processes on 127.0.0.1: the first bootstraps and drives the workload, the
others join it (all on the same library).

    compat-tests/bench/capi_benchmark.py [--runs 3] [--duration 10]
        [--workers 1,16] [--workload kvwrite] [--nodes 1]

Builds our library in release mode first (cargo build --release -p
dqlite-capi) and lays it out in a temporary directory.
"""

import argparse
import collections
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_library(tree):
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dqlite-capi"], cwd=ROOT, check=True)
    subprocess.run(
        ["cargo", "run", "--release", "-q", "-p", "dqlite-capi", "--bin", "dqlite-capi-dist", "--", tree],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return os.path.join(tree, "lib")


def disk_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def stop(process):
    """Ends a process this script started (by its handle), bounded."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def run_once(benchmark, library_dir, workload, workers, duration, nodes):
    """One run; returns (ops/s, median ms, p99 ms, errors/s)."""
    work = tempfile.mkdtemp(prefix="dqlite-capi-bench-")
    joiners = []
    try:
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(nodes)]
        env = dict(os.environ)
        if library_dir:
            env["LD_LIBRARY_PATH"] = library_dir
        for i, address in enumerate(addresses[1:], start=1):
            joiners.append(subprocess.Popen(
                [benchmark, "--db", address, "--join", addresses[0],
                 "--dir", os.path.join(work, f"node{i}")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        command = [
            benchmark, "--db", addresses[0], "--driver", "--cluster", ",".join(addresses),
            "--dir", os.path.join(work, "node0"), "--workload", workload,
            "--workers", str(workers), "--duration", str(duration),
        ]
        # The run itself is bounded by --duration; allow start-up (joining)
        # and wind-down on top.
        subprocess.run(command, env=env, check=True, timeout=duration + 180,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A node that did not join (or died) would make this a smaller
        # cluster than asked for: refuse the run.
        for i, joiner in enumerate(joiners, start=1):
            held = disk_bytes(os.path.join(work, f"node{i}"))
            if joiner.poll() is not None or held < 1 << 20:
                raise RuntimeError(f"node {i} did not take part (exit {joiner.poll()}, {held} bytes)")
        latencies = []
        errors = 0
        messages = collections.Counter()
        for dirpath, _, files in os.walk(os.path.join(work, "node0")):
            if os.path.basename(dirpath) != "results":
                continue
            for name in files:
                # A header (n, n_err, avg, ...), then "timestamp_ns ms" lines.
                with open(os.path.join(dirpath, name)) as f:
                    for line in f:
                        fields = line.split()
                        if len(fields) == 2 and fields[0].isdigit():
                            latencies.append(float(fields[1]))
                        elif len(fields) == 2 and fields[0] == "n_err":
                            errors += int(fields[1])
                        elif len(fields) > 2 and fields[0].isdigit():
                            # "timestamp_ns message" in the errors section.
                            messages[" ".join(fields[1:])] += 1
        if not latencies:
            raise RuntimeError(f"no results in {work}")
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if messages:
            common, count = messages.most_common(1)[0]
            print(f"  ({'ours' if library_dir else 'C'}, {workers} workers: {errors} failed operations, "
                  f"{count} of them: {common})", file=sys.stderr, flush=True)
        return len(latencies) / duration, statistics.median(latencies), p99, errors / duration
    finally:
        for joiner in joiners:
            stop(joiner)
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--workers", default="1,16")
    parser.add_argument("--workload", default="kvwrite")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--benchmark", default="/usr/bin/dqlite-benchmark")
    args = parser.parse_args()
    tree = tempfile.mkdtemp(prefix="dqlite-capi-lib-")
    try:
        ours = stage_library(tree)
        print("| workload | ours/C ops/s | ops/s ours / C | median ms ours / C | p99 ms ours / C | failed ops/s ours / C |")
        print("|---|---|---|---|---|---|")
        for workers in [int(w) for w in args.workers.split(",")]:
            results = {"C": [], "ours": []}
            for _ in range(args.runs):
                for side, lib in (("C", None), ("ours", ours)):
                    results[side].append(run_once(args.benchmark, lib, args.workload, workers, args.duration, args.nodes))
            med = {side: [statistics.median(r[i] for r in runs) for i in range(4)] for side, runs in results.items()}
            o, c = med["ours"], med["C"]
            print(f"| {args.workload} x{workers}, {args.nodes} node(s) | {o[0] / c[0]:.2f}x | {o[0]:.0f} / {c[0]:.0f} "
                  f"| {o[1]:.2f} / {c[1]:.2f} | {o[2]:.2f} / {c[2]:.2f} | {o[3]:.0f} / {c[3]:.0f} |", flush=True)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
