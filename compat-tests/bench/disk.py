#!/usr/bin/env python3
"""Databases on disk (issue 18): memory, write stalls and catch-up of our
dqlite-server beside the C server (Debian's dqlite-demo, libdqlite 1.11.1).

Usage (from the repository root; see README.md, "Databases on disk"):
    compat-tests/bench/disk.py [--workloads memory,stalls,catchup]
        [--servers ours,c] [--nodes 1,3] [--data-mib 2048]
        [--prefill-mib 1024] [--duration 60s]

memory   bulk load of --data-mib MiB of 1 KiB rows, 100 rows a transaction;
         every node's VmRSS sampled each second; peak VmHWM per node, the
         slowest transaction and the data directories' size, each also as
         a ratio of the data loaded. A run stops early (and reports the size
         it reached) if a node dies, if the nodes' RSS together passes
         --rss-limit-mib, or after --load-timeout seconds.
stalls   table prefilled to --prefill-mib, then --duration of single-row
         autocommit writes from one client: p50/p99/p99.9/max and every
         write over --slow-ms, with the snapshot, checkpoint and catch-up
         log lines of our nodes (--log-format json) that overlap it.
catchup  3 of our nodes, --prefill-mib of data, a writer running: a follower
         is killed, its directory wiped, and it rejoins empty; the leader's
         write p99 before and during the catch-up, and its duration (until
         the follower's /readyz answers 200). --cut stop|kill cuts the
         follower off while it receives the snapshot and reports, from its
         log, whether the transfer went on or began again. Ours only: the
         C server has no readiness signal to time a catch-up with.

Each run has its own cluster in a fresh directory, removed afterwards
(KEEP_BENCH_DIR=1 keeps them). Only processes started here are signalled.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from common import (Node, build_bench, build_ours, dir_bytes, free_port, require_c_server,
                    start_cluster, status_mib, stop_all)

# Log lines of our server that mark work which may hold writes up: their
# interval is [timestamp - duration_ms (or elapsed_ms), timestamp].
EVENT_WORDS = ("snapshot", "checkpoint", "caught up", "catching up")


def parse_duration(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 60s, 500ms, 2m)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60}[unit]


def log_time_ms(stamp):
    """An RFC 3339 timestamp of our log (tracing's JSON) as Unix ms."""
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00"))
    return datetime.datetime.fromisoformat(stamp).timestamp() * 1000


def read_events(node):
    """Our node's log lines about snapshots, checkpoints and catch-ups."""
    events = []
    if node.kind != "ours" or not os.path.exists(node.log):
        return events
    with open(node.log, errors="replace") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            message = event.get("message", "")
            if not any(word in message for word in EVENT_WORDS):
                continue
            end = log_time_ms(event["timestamp"])
            length = event.get("duration_ms", event.get("elapsed_ms", 0))
            events.append({"node": node.index + 1, "message": message, "start_ms": end - float(length),
                           "end_ms": end, "fields": event})
    return events


def overlapping(events, start_ms, end_ms, margin_ms=2):
    return [e for e in events if e["start_ms"] - margin_ms <= end_ms and e["end_ms"] + margin_ms >= start_ms]


class Harness:
    def __init__(self, args, work, bench, ours):
        self.args, self.work, self.bench, self.ours = args, work, bench, ours
        self.runs = 0

    def cluster(self, kind, count, http=False):
        """A fresh cluster (and its directory) for one run."""
        self.runs += 1
        work = os.path.join(self.work, f"run{self.runs}-{kind}{count}")
        os.makedirs(work)
        extra, env = [], None
        if kind == "ours":
            extra = ["--log-format", "json"] + self.args.ours_args.split()
            # The server's default filter (INFO for its own lines) unless
            # RUST_LOG says otherwise; a progress line every second.
            env = {**os.environ, "DQLITE_PROGRESS_INTERVAL_MS": "1000"}
        nodes = []
        try:
            if http:
                for i in range(count):
                    nodes.append(Node(kind, i, work, self.ours, extra, env))
                for i, node in enumerate(nodes):
                    node.http_port = free_port()
                    node.extra_args += ["--http-address", f"127.0.0.1:{node.http_port}"]
                    node.start(join=nodes[0].address if i else None)
                time.sleep(10 if count > 1 else 1)
            else:
                nodes = start_cluster(kind, count, work, self.ours, extra, env)
        except BaseException:
            stop_all(nodes)
            raise
        return work, nodes

    def finish(self, work, nodes):
        stop_all(nodes)
        if not os.environ.get("KEEP_BENCH_DIR"):
            shutil.rmtree(work, ignore_errors=True)

    def bench_command(self, nodes, *flags):
        return [self.bench, "-addr", ",".join(n.address for n in nodes), "-db", "bench-disk", *flags]

    def prefill(self, nodes, mib):
        out = subprocess.run(self.bench_command(nodes, "-workload", "load", "-data-mib", str(mib),
                                                "-duration", f"{self.args.load_timeout}s"),
                             capture_output=True, text=True, timeout=self.args.load_timeout + 180)
        lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines or lines[-1].get("stopped"):
            sys.exit(f"prefill of {mib} MiB failed: {out.stderr.strip()} {lines[-1:]}")
        return lines[-1]

    # -- memory ----------------------------------------------------------

    def memory(self, kind, count):
        args = self.args
        work, nodes = self.cluster(kind, count)
        try:
            err = open(os.path.join(work, "load.err"), "w")
            loader = subprocess.Popen(
                self.bench_command(nodes, "-workload", "load", "-data-mib", str(args.data_mib),
                                   "-progress-mib", "8", "-duration", f"{args.load_timeout}s"),
                stdout=subprocess.PIPE, stderr=err, text=True)
            lines = []
            reader = threading.Thread(target=lambda: [lines.append(json.loads(line)) for line in loader.stdout
                                                      if line.startswith("{")], daemon=True)
            reader.start()
            hwm = [0.0] * count
            peak_total_rss, stopped = 0.0, None
            deadline = time.time() + args.load_timeout + 120
            started = time.time()
            while loader.poll() is None:
                time.sleep(1)
                rss = [status_mib(n.pid, "VmRSS") if n.alive() else None for n in nodes]
                for i, n in enumerate(nodes):
                    value = status_mib(n.pid, "VmHWM") if n.alive() else None
                    if value is not None:
                        hwm[i] = max(hwm[i], value)
                peak_total_rss = max(peak_total_rss, sum(r or 0 for r in rss))
                dead = [n for n in nodes if not n.alive()]
                if dead:
                    code = dead[0].proc.returncode
                    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
                    stopped = f"node {dead[0].index + 1} died ({how})"
                elif sum(r or 0 for r in rss) > args.rss_limit_mib:
                    stopped = f"nodes' RSS {sum(rss):.0f} MiB passed --rss-limit-mib {args.rss_limit_mib}"
                elif time.time() > deadline:
                    stopped = "time bound"
                if stopped:
                    loader.kill()
                    break
            loader.wait(timeout=30)
            reader.join(timeout=10)
            seconds = time.time() - started
            last = lines[-1] if lines else {"loaded_mib": 0, "slowest_tx_ms": 0}
            stopped = stopped or last.get("stopped")
            if not lines and not stopped:
                stopped = "load generator failed: " + open(os.path.join(work, "load.err")).read().strip()
            for i, n in enumerate(nodes):
                value = status_mib(n.pid, "VmHWM") if n.alive() else None
                if value is not None:
                    hwm[i] = max(hwm[i], value)
            loaded = last["loaded_mib"]
            dirs = [dir_bytes(n.dir) / 2**20 for n in nodes]
            # Our databases' SQLite files alone (DIR/db/N.db): what SQLite
            # itself takes for the rows, apart from the log, undo and
            # checksum files.
            sqlite_files = [sum(os.path.getsize(os.path.join(n.dir, "db", f))
                                for f in os.listdir(os.path.join(n.dir, "db")) if f.endswith(".db")) / 2**20
                            if n.kind == "ours" and os.path.isdir(os.path.join(n.dir, "db")) else None
                            for n in nodes]
            events = [e for n in nodes for e in read_events(n)]
            slowest = overlapping(events, last.get("slowest_at_unix_ms", 0),
                                  last.get("slowest_at_unix_ms", 0) + last["slowest_tx_ms"])
            snapshots = [e for e in events if e["message"] == "took a snapshot"]
            return {"workload": "memory", "server": kind, "nodes": count, "target_mib": args.data_mib,
                    "loaded_mib": loaded, "seconds": round(seconds, 1), "stopped": stopped,
                    "peak_hwm_mib": [round(h) for h in hwm],
                    "hwm_ratio": [round(h / loaded, 2) if loaded else None for h in hwm],
                    "peak_total_rss_mib": round(peak_total_rss),
                    "slowest_tx_ms": last["slowest_tx_ms"], "tx_p99_ms": last.get("p99_ms"),
                    "slowest_tx_coincides_with": sorted({f"node {e['node']}: {e['message']}" for e in slowest}),
                    "snapshots_taken": len(snapshots),
                    "longest_snapshot_ms": max((e["fields"]["duration_ms"] for e in snapshots), default=None),
                    "dir_mib": [round(d) for d in dirs],
                    "dir_ratio": [round(d / loaded, 2) if loaded else None for d in dirs],
                    "sqlite_file_mib": [round(f) if f is not None else None for f in sqlite_files],
                    "sqlite_file_ratio": [round(f / loaded, 2) if f is not None and loaded else None
                                          for f in sqlite_files]}
        finally:
            self.finish(work, nodes)

    # -- stalls ----------------------------------------------------------

    def stalls(self, kind, count):
        args = self.args
        work, nodes = self.cluster(kind, count)
        try:
            self.prefill(nodes, args.prefill_mib)
            out = subprocess.run(
                self.bench_command(nodes, "-workload", "writes", "-duration", f"{args.duration}s",
                                   "-slow-ms", str(args.slow_ms)),
                capture_output=True, text=True, timeout=args.duration + 180)
            if out.returncode != 0:
                sys.exit(f"{kind} writes: {out.stderr.strip()}")
            result = json.loads(out.stdout)
            events = [e for n in nodes for e in read_events(n)]
            end_ms = result["start_unix_ms"] + result["seconds"] * 1000
            during = overlapping(events, result["start_unix_ms"], end_ms)
            slow = []
            for write in result["slow"]:
                hits = overlapping(events, write["at_unix_ms"], write["at_unix_ms"] + write["ms"])
                slow.append({"at_s": round((write["at_unix_ms"] - result["start_unix_ms"]) / 1000, 3),
                             "ms": write["ms"],
                             "coincides_with": sorted({f"node {e['node']}: {e['message']}" for e in hits})})
            return {"workload": "stalls", "server": kind, "nodes": count, "prefill_mib": args.prefill_mib,
                    "ops": result["ops"], "ops_per_sec": round(result["ops_per_sec"]),
                    "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "p999_ms": result["p999_ms"],
                    "max_ms": result["max_ms"], "errors": result["errors"], "slow": slow,
                    "slow_coinciding": sum(1 for s in slow if s["coincides_with"]),
                    "events": sorted({f"node {e['node']}: {e['message']}" for e in during}),
                    "event_count": len(during),
                    "logs_read": kind == "ours"}
        finally:
            self.finish(work, nodes)

    # -- catch-up --------------------------------------------------------

    def ready(self, node):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/readyz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def leader(self, nodes):
        out = subprocess.run(self.bench_command(nodes, "-workload", "leader"), capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            sys.exit(f"leader: {out.stderr.strip()}")
        return json.loads(out.stdout)["leader"]

    def catchup(self, kind, count):
        args = self.args
        work, nodes = self.cluster(kind, 3, http=True)
        try:
            self.prefill(nodes, args.prefill_mib)
            leader_address = self.leader(nodes)
            leader = next(n for n in nodes if n.address == leader_address)
            follower = next(n for n in nodes if n is not leader)
            latency_log = os.path.join(work, "latencies.txt")
            bound = args.idle + args.catchup_timeout + args.after + 60
            writer = subprocess.Popen(
                self.bench_command(nodes, "-workload", "writes", "-duration", f"{bound}s",
                                   "-latency-log", latency_log, "-slow-ms", str(args.slow_ms)),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(args.idle)
                wiped_ms = time.time() * 1000
                follower.kill()
                shutil.rmtree(follower.dir)
                follower.start(join=leader.address)
                rejoined_ms = time.time() * 1000
                cut = self.cut(follower, leader) if args.cut != "none" else None
                deadline = time.time() + args.catchup_timeout
                caught_ms = None
                while time.time() < deadline:
                    if self.ready(follower):
                        caught_ms = time.time() * 1000
                        break
                    time.sleep(0.1)
                time.sleep(args.after)
            finally:
                if writer.poll() is None:
                    writer.send_signal(signal.SIGTERM)
                stdout, stderr = writer.communicate(timeout=120)
            if writer.returncode != 0:
                sys.exit(f"catch-up writer: {stderr.strip()}")
            result = json.loads(stdout)
            samples = []
            with open(latency_log) as f:
                for line in f:
                    at, ms = line.split()
                    samples.append((float(at), float(ms)))
            idle = sorted(ms for at, ms in samples if at < wiped_ms)
            end = caught_ms or time.time() * 1000
            during = sorted(ms for at, ms in samples if rejoined_ms <= at < end)
            received = [e["fields"] for e in read_events(follower) if e["message"] == "receiving a snapshot"]
            # The leader's side, after the rejoin: the snapshot it sent the
            # follower and when the follower counted as caught up.
            sent = [e for e in read_events(leader) if e["message"] == "sent a snapshot"
                    and e["fields"].get("peer") == follower.index + 1 and e["end_ms"] >= rejoined_ms]
            peer_caught = [e for e in read_events(leader) if e["message"] == "peer caught up"
                           and e["fields"].get("peer") == follower.index + 1 and e["end_ms"] >= rejoined_ms]
            return {"workload": "catchup", "server": kind, "nodes": 3, "prefill_mib": args.prefill_mib,
                    "caught_up": caught_ms is not None,
                    "catchup_s": round((caught_ms - rejoined_ms) / 1000, 1) if caught_ms else None,
                    "idle_p99_ms": quantile(idle, 0.99), "during_p99_ms": quantile(during, 0.99),
                    "during_max_ms": max(during, default=None),
                    "p99_ratio": round(quantile(during, 0.99) / quantile(idle, 0.99), 2)
                    if idle and during else None,
                    "idle_writes": len(idle), "during_writes": len(during), "writer_errors": result["errors"],
                    "snapshot_progress_lines": len(received), "cut": cut,
                    "snapshot_sent": [{"start_after_rejoin_s": round((e["start_ms"] - rejoined_ms) / 1000, 1),
                                       "bytes": e["fields"].get("bytes"),
                                       "duration_ms": e["fields"].get("duration_ms")} for e in sent],
                    "leader_says_caught_up_after_s": round((peer_caught[0]["end_ms"] - rejoined_ms) / 1000, 1)
                    if peer_caught else None}
        finally:
            self.finish(work, nodes)

    def cut(self, follower, leader):
        """Cuts the follower off once its log says it receives a snapshot
        (SIGSTOP for --cut-seconds then SIGCONT, or SIGKILL and a restart
        on its directory) and tells, from its log, whether the transfer
        then went on from where it was or began again."""
        deadline = time.time() + self.args.catchup_timeout
        before = None
        while time.time() < deadline and before is None:
            events = read_events(follower)
            lines = [e["fields"] for e in events if e["message"] == "receiving a snapshot"]
            if lines:
                before = lines[-1]
            elif any(e["message"].startswith("installed a snapshot") for e in events) or self.ready(follower):
                break
            time.sleep(0.2)
        if before is None:
            return {"mode": self.args.cut,
                    "outcome": "not cut: the snapshot was installed before any 'receiving a snapshot' progress line"}
        seen = len([e for e in read_events(follower) if e["message"] == "receiving a snapshot"])
        if self.args.cut == "stop":
            os.kill(follower.pid, signal.SIGSTOP)
            time.sleep(self.args.cut_seconds)
            os.kill(follower.pid, signal.SIGCONT)
        else:
            follower.kill()
            time.sleep(self.args.cut_seconds)
            follower.start(join=leader.address)
        after = None
        while time.time() < deadline and after is None:
            lines = [e["fields"] for e in read_events(follower) if e["message"] == "receiving a snapshot"]
            if len(lines) > seen:
                after = lines[seen]
            elif any(e["message"].startswith("installed a snapshot") for e in read_events(follower)):
                break
            time.sleep(0.2)
        outcome = "no progress line after the cut"
        if after is not None:
            outcome = ("resumed" if after["done"] >= before["done"] and after["elapsed_ms"] > before["elapsed_ms"]
                       else "restarted")
        return {"mode": self.args.cut, "done_before": before["done"], "total": before.get("total"),
                "first_after": after and {"done": after["done"], "elapsed_ms": after["elapsed_ms"]},
                "outcome": outcome}


def quantile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[int(p * (len(sorted_values) - 1))]


def fmt_list(values, unit=""):
    return " / ".join("—" if v is None else f"{v}{unit}" for v in values)


def report(results):
    memory = [r for r in results if r["workload"] == "memory"]
    if memory:
        print("\n| server | nodes | data loaded | peak VmHWM per node (MiB) | VmHWM / data |"
              " slowest 100-row tx | data dir per node (MiB) | dir / data | stopped |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in memory:
            print(f"| {r['server']} | {r['nodes']} | {r['loaded_mib']:.0f} of {r['target_mib']} MiB |"
                  f" {fmt_list(r['peak_hwm_mib'])} | {fmt_list(r['hwm_ratio'], 'x')} |"
                  f" {r['slowest_tx_ms']:.0f} ms | {fmt_list(r['dir_mib'])} | {fmt_list(r['dir_ratio'], 'x')} |"
                  f" {r['stopped'] or '—'} |")
        for r in memory:
            if r.get("sqlite_file_mib") and r["sqlite_file_mib"][0] is not None:
                print(f"\n{r['server']}, {r['nodes']} node(s): the databases' SQLite files alone:"
                      f" {fmt_list(r['sqlite_file_mib'])} MiB ({fmt_list(r['sqlite_file_ratio'], 'x')} the data)")
        for r in memory:
            if r["server"] == "ours":
                print(f"\n{r['server']}, {r['nodes']} node(s): slowest transaction beside:"
                      f" {'; '.join(r['slowest_tx_coincides_with']) or '-'};"
                      f" {r['snapshots_taken']} snapshots taken, the longest {r['longest_snapshot_ms']} ms")
    stalls = [r for r in results if r["workload"] == "stalls"]
    if stalls:
        print("\n| server | nodes | prefill | writes/s | p50 | p99 | p99.9 | max | writes > slow-ms |"
              " of which beside a snapshot/checkpoint line |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in stalls:
            coincide = r["slow_coinciding"] if r["logs_read"] else "(no logs)"
            print(f"| {r['server']} | {r['nodes']} | {r['prefill_mib']} MiB | {r['ops_per_sec']} |"
                  f" {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['p999_ms']:.1f} ms | {r['max_ms']:.1f} ms |"
                  f" {len(r['slow'])} | {coincide} |")
        for r in stalls:
            print(f"\n{r['server']}, {r['nodes']} node(s): writes over the threshold"
                  f" (seconds from the start, latency, overlapping log lines):")
            for s in r["slow"][:40]:
                print(f"  {s['at_s']:8.3f} s {s['ms']:8.1f} ms  {'; '.join(s['coincides_with']) or '-'}")
            if len(r["slow"]) > 40:
                print(f"  ... and {len(r['slow']) - 40} more (all of them in --json)")
            if r["events"]:
                print(f"  log lines during the run ({r['event_count']}): {'; '.join(r['events'])}")
    catchup = [r for r in results if r["workload"] == "catchup"]
    if catchup:
        print("\n| server | prefill | catch-up time | leader write p99 idle | during catch-up |"
              " ratio | max during | cut |")
        print("|---|---|---|---|---|---|---|---|")
        for r in catchup:
            cut = r["cut"]["mode"] + ": " + r["cut"]["outcome"] if r["cut"] else "—"
            took = f"{r['catchup_s']} s" if r["caught_up"] else "not within the bound"
            if r["snapshot_sent"]:
                took += " (snapshot sent after " + ", ".join(
                    f"{x['start_after_rejoin_s']} s: {x['bytes'] / 2**20:.0f} MiB in {x['duration_ms']} ms"
                    for x in r["snapshot_sent"]) + ")"
            print(f"| {r['server']} | {r['prefill_mib']} MiB | {took} | {r['idle_p99_ms']} ms |"
                  f" {r['during_p99_ms']} ms | {r['p99_ratio']}x | {r['during_max_ms']} ms | {cut} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--workloads", default="memory,stalls,catchup")
    parser.add_argument("--servers", default="ours,c")
    parser.add_argument("--nodes", default="1,3", help="cluster sizes for memory and stalls")
    parser.add_argument("--data-mib", type=int, default=2048, help="memory: MiB of 1 KiB rows to load")
    parser.add_argument("--prefill-mib", type=int, default=1024, help="stalls, catchup: table size")
    parser.add_argument("--duration", type=parse_duration, default=60.0, help="stalls: time of writes")
    parser.add_argument("--slow-ms", type=float, default=20)
    parser.add_argument("--rss-limit-mib", type=int, default=12288,
                        help="memory: stop a run when its nodes' RSS together passes this")
    parser.add_argument("--load-timeout", type=int, default=3600, help="seconds a load may take")
    parser.add_argument("--idle", type=float, default=10, help="catchup: seconds of writes before the wipe")
    parser.add_argument("--after", type=float, default=3, help="catchup: seconds of writes after it")
    parser.add_argument("--catchup-timeout", type=int, default=900)
    parser.add_argument("--cut", choices=("none", "stop", "kill"), default="none",
                        help="catchup: cut the follower off mid-transfer")
    parser.add_argument("--cut-seconds", type=float, default=5)
    parser.add_argument("--ours-args", default="", help="extra flags for our dqlite-server")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    servers = [s for s in args.servers.split(",") if s]
    sizes = [int(n) for n in args.nodes.split(",") if n]
    unknown = set(workloads) - {"memory", "stalls", "catchup"} | set(servers) - {"ours", "c"}
    if unknown:
        sys.exit(f"unknown workload or server: {', '.join(sorted(unknown))}")
    if "c" in servers:
        require_c_server()

    work = tempfile.mkdtemp(prefix="dqlite-disk-")
    ours = build_ours() if "ours" in servers else None
    bench = build_bench(work)
    harness = Harness(args, work, bench, ours)
    results = []
    try:
        for workload in workloads:
            if workload == "catchup":
                plan = [("ours", 3)] if "ours" in servers else []
            else:
                plan = [(s, n) for n in sizes for s in servers]
            for kind, count in plan:
                print(f"{workload}: {kind}, {count} node(s)...", file=sys.stderr, flush=True)
                result = getattr(harness, workload)(kind, count)
                print(json.dumps(result), file=sys.stderr, flush=True)
                results.append(result)
    finally:
        if os.environ.get("KEEP_BENCH_DIR"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        report(results)


if __name__ == "__main__":
    main()
