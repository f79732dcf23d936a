#!/usr/bin/env python3
"""What TLS costs our dqlite-server: throughput and connection setup, TLS on vs off.

Usage (from the repository root):
    compat-tests/bench/tls.py [--duration 5s] [--runs 5] [--connect-rounds 10]

Builds our server (release), the connect_cost example and the Go load
generator (main.go, go-dqlite v3), makes a cluster certificate with openssl
as the README's "Secure cluster" section does, and starts two single-node
servers side by side: one plain, one with --tls-cert/--tls-key. Then:

- throughput: kvwrite x1, kvwrite x16 and read x16 against each, RUNS
  times, alternating which server goes first; medians, TLS/plain ratios,
  and the issue's targets (TLS costs at most 15% of write throughput and
  30% of point-read throughput);
- connection setup with go-dqlite (the connect workload: dial, TLS,
  protocol handshake, LEADER, close): plain, TLS with go-dqlite's session
  cache (resumed) and without it (full handshakes), alternating;
- connection setup with the Rust drivers' TLS configuration (the
  connect_cost example: TCP, TLS, version word and LEADER, each phase
  timed; it checks every "resumed" connection did resume).

Benchmarks are not tests: numbers vary with the machine and its load, so
quote the ratios, measured side by side.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, cpu_seconds, free_port, wait_port  # noqa: E402

SCENARIOS = [("kvwrite", 1), ("kvwrite", 16), ("read", 16)]
# Largest share of plain throughput TLS may cost, per workload.
TARGETS = {"kvwrite": 0.15, "read": 0.30}
# go-dqlite connection modes: name, extra flags of the load generator.
CONNECT_MODES = [
    ("plain", None),
    ("tls-resumed", []),
    ("tls-full", ["-tls-session-cache=false"]),
]


def build(work):
    """Builds the server, connect_cost and the Go load generator, and
    copies the Rust binaries into `work` (the target directory may be
    shared with other builds that would replace them mid-run)."""
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dqlite-server",
                    "--bin", "dqlite-server", "--example", "connect_cost"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    server = shutil.copy(os.path.join(target, "release", "dqlite-server"), work)
    connect_cost = shutil.copy(os.path.join(target, "release", "examples", "connect_cost"), work)
    bench = os.path.join(work, "dqlite-bench")
    subprocess.run(["go", "build", "-tags", "nosqlite3", "-o", bench, "."],
                   cwd=os.path.dirname(os.path.abspath(__file__)),
                   env={**os.environ, "CGO_ENABLED": "0"}, check=True)
    return server, connect_cost, bench


def certificate(work):
    """A cluster certificate and key, made as the README shows."""
    cert, key = os.path.join(work, "cluster.crt"), os.path.join(work, "cluster.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
                    "-subj", "/CN=dqlite", "-addext", "subjectAltName=DNS:dqlite",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def load(bench, address, tls_flags, workload, clients, duration, extra=()):
    """One run of the load generator; its JSON result."""
    out = subprocess.run(
        [bench, "-addr", address, "-workload", workload, "-clients", str(clients),
         "-duration", duration, "-db", f"bench-{workload}-{clients}", *tls_flags, *extra],
        capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"{address} {workload}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="5s", help="of each throughput run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connect-duration", default="2s", help="of each go-dqlite connect run")
    parser.add_argument("--connect-rounds", type=int, default=10,
                        help="rounds of connect_cost (100 connections per mode each)")
    parser.add_argument("--only", default="", help="comma-separated: kvwrite, read, connect")
    args = parser.parse_args()
    for tool in ("go", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found")
    only = set(filter(None, args.only.split(",")))

    work = tempfile.mkdtemp(prefix="dqlite-bench-tls-")
    server_bin, connect_cost, bench = build(work)
    cert, key = certificate(work)
    tls_flags = ["-tls-cert", cert, "-tls-key", key]
    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    servers, addresses = {}, {}
    try:
        for name, flags in (("plain", []), ("tls", ["--tls-cert", cert, "--tls-key", key])):
            port = free_port()
            addresses[name] = f"127.0.0.1:{port}"
            servers[name] = subprocess.Popen(
                [server_bin, "--id", "1", "--address", addresses[name],
                 "--dir", os.path.join(work, name), *flags],
                stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(work, f"{name}.log"), "w"), env=env)
            wait_port(port, servers[name])
        client_flags = {"plain": [], "tls": tls_flags}

        rows = []
        for workload, clients in SCENARIOS:
            if only and workload not in only:
                continue
            samples = {"plain": [], "tls": []}
            for run in range(args.runs):
                order = ("plain", "tls") if run % 2 == 0 else ("tls", "plain")
                for name in order:
                    before = cpu_seconds(servers[name].pid)
                    result = load(bench, addresses[name], client_flags[name], workload, clients,
                                  args.duration)
                    used = cpu_seconds(servers[name].pid) - before
                    result["cpu_ms_per_op"] = 1000 * used / max(result["ops"], 1)
                    samples[name].append(result)
            rows.append((workload, clients, samples))

        connect_rows = []
        if not only or "connect" in only:
            samples = {mode: [] for mode, _ in CONNECT_MODES}
            for run in range(args.runs):
                modes = CONNECT_MODES if run % 2 == 0 else CONNECT_MODES[::-1]
                for mode, extra in modes:
                    name = "plain" if extra is None else "tls"
                    samples[mode].append(load(bench, addresses[name], client_flags[name], "connect", 1,
                                              args.connect_duration, extra or []))
            connect_rows = samples
            rust = subprocess.run(
                [connect_cost, "--plain", addresses["plain"], "--tls", addresses["tls"],
                 "--tls-cert", cert, "--tls-key", key, "--rounds", str(args.connect_rounds)],
                capture_output=True, text=True, timeout=600)
            if rust.returncode != 0:
                sys.exit(f"connect_cost: {rust.stderr.strip()}")
            rust_rows = [json.loads(line) for line in rust.stdout.splitlines() if line.startswith("{")]
    finally:
        for proc in servers.values():
            proc.terminate()
        for proc in servers.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if os.environ.get("KEEP_BENCH_DIR"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    def median(results, key):
        return statistics.median(r[key] for r in results)

    if rows:
        print(f"{'workload':<12} {'plain op/s':>10} {'TLS op/s':>10} {'TLS/plain':>9} {'cost':>6} "
              f"{'target':>7} {'':>4} {'plain p99':>9} {'TLS p99':>9} {'plain cpu/op':>12} {'TLS cpu/op':>10}")
    for workload, clients, samples in rows:
        plain, tls = samples["plain"], samples["tls"]
        # Each run's TLS/plain ratio (the two ran back to back, so slow
        # drift in the machine's load cancels out): the verdict takes
        # their median; the ratio of the medians is shown too.
        pairs = sorted(t["ops_per_sec"] / max(p["ops_per_sec"], 1e-9) for p, t in zip(plain, tls))
        ratio = statistics.median(pairs)
        of_medians = median(tls, "ops_per_sec") / max(median(plain, "ops_per_sec"), 1e-9)
        target = TARGETS[workload]
        verdict = "ok" if 1 - ratio <= target else "OVER"
        print(f"{workload + ' x' + str(clients):<12} {median(plain, 'ops_per_sec'):>10.0f} "
              f"{median(tls, 'ops_per_sec'):>10.0f} {ratio:>8.2f}x {100 * (1 - ratio):>5.1f}% "
              f"{'≤' + str(int(100 * target)) + '%':>7} {verdict:>4} "
              f"{median(plain, 'p99_ms'):>7.2f}ms {median(tls, 'p99_ms'):>7.2f}ms "
              f"{median(plain, 'cpu_ms_per_op'):>10.3f}ms {median(tls, 'cpu_ms_per_op'):>8.3f}ms"
              f"   (runs {pairs[0]:.2f}–{pairs[-1]:.2f}, of medians {of_medians:.2f})")
    if connect_rows:
        print()
        print("connection setup, go-dqlite (dial, TLS, protocol handshake, LEADER, close), one client:")
        print(f"{'mode':<12} {'conn/s':>8} {'p50':>9} {'p99':>9} {'resumed':>8}")
        for mode, _ in CONNECT_MODES:
            results = connect_rows[mode]
            resumed = sum(r["tls_resumed"] for r in results) / max(sum(r["ops"] for r in results), 1)
            print(f"{mode:<12} {median(results, 'ops_per_sec'):>8.0f} "
                  f"{median(results, 'p50_ms'):>7.3f}ms {median(results, 'p99_ms'):>7.3f}ms "
                  f"{100 * resumed:>7.1f}%")
        print()
        print("connection setup, Rust drivers' TLS configuration (connect_cost; medians):")
        print(f"{'mode':<12} {'conns':>6} {'TCP':>8} {'TLS':>8} {'LEADER':>8} {'total':>8} {'p99':>8} {'resumed':>8}")
        for r in rust_rows:
            print(f"{r['mode']:<12} {r['connections']:>6} {r['tcp_us']:>6.0f}µs {r['tls_us']:>6.0f}µs "
                  f"{r['leader_us']:>6.0f}µs {r['total_us']:>6.0f}µs {r['p99_us']:>6.0f}µs {r['resumed']:>8}")


if __name__ == "__main__":
    main()
