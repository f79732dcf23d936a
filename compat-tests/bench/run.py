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
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (workload, clients)
SCENARIOS = [
    ("kvwrite", 1),
    ("kvwrite", 16),
    ("read", 16),
    ("tx100", 1),
    ("scan", 1),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port} after {timeout}s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def disk_bytes(pid):
    """Bytes the process caused to be written to storage (/proc/PID/io)."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated workloads")
    parser.add_argument("--nodes", type=int, default=1, help="cluster size (1 or 3 make sense)")
    parser.add_argument("--ours-args", default="",
                        help="extra flags for our dqlite-server, e.g. '--snapshot-every 4096'")
    args = parser.parse_args()
    if not shutil.which("dqlite-demo"):
        sys.exit("dqlite-demo not found: apt-get install go-dqlite")

    work = tempfile.mkdtemp(prefix="dqlite-bench-")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dqlite-server"], cwd=ROOT, check=True)
    bench = os.path.join(work, "dqlite-bench")
    subprocess.run(
        ["go", "build", "-tags", "nosqlite3", "-o", bench, "."],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        env={**os.environ, "CGO_ENABLED": "0"},
        check=True,
    )

    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    servers = {"ours": [], "c": []}
    addresses = {"ours": [], "c": []}
    try:
        for i in range(args.nodes):
            port = free_port()
            command = [os.path.join(ROOT, "target/release/dqlite-server"), "--id", str(i + 1),
                       "--address", f"127.0.0.1:{port}", "--dir", os.path.join(work, f"ours{i + 1}")]
            command += args.ours_args.split()
            if i > 0:
                command += ["--join", addresses["ours"][0]]
            servers["ours"].append(subprocess.Popen(
                command, stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(work, f"ours{i + 1}.log"), "w"), env=env))
            addresses["ours"].append(f"127.0.0.1:{port}")
            c_port, c_api = free_port(), free_port()
            command = ["dqlite-demo", "--api", f"127.0.0.1:{c_api}", "--db", f"127.0.0.1:{c_port}",
                       "--dir", os.path.join(work, f"c{i + 1}")]
            if i > 0:
                command += ["--join", addresses["c"][0]]
            servers["c"].append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            addresses["c"].append(f"127.0.0.1:{c_port}")
            for name in ("ours", "c"):
                wait_port(int(addresses[name][-1].rsplit(":", 1)[1]), servers[name][-1])
        # Let the C node elect itself, and clusters settle their roles
        # (dqlite-demo's role management runs every few seconds).
        time.sleep(1 if args.nodes == 1 else 10)
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
        everything = [p for procs in servers.values() for p in procs]
        for proc in everything:
            proc.terminate()
        for proc in everything:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
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
