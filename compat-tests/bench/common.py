"""Shared pieces of the side-by-side benchmarks (run.py, disk.py): building
our server and the load generator, starting our nodes and the C server's
(Debian's dqlite-demo) on free 127.0.0.1 ports, and reading a process's
CPU, memory and disk figures from /proc. Only processes started here are
ever signalled, by their pid.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def status_mib(pid, field):
    """A /proc/PID/status memory field (VmRSS, VmHWM) in MiB; None once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib(pid):
    return status_mib(pid, "VmHWM") or 0.0


def dir_bytes(path):
    """Bytes of the files under path (their apparent sizes)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def build_ours():
    """Builds our server (release) and returns the binary's path."""
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dqlite-server"], cwd=ROOT, check=True)
    return os.path.join(target_dir(), "release", "dqlite-server")


def build_bench(work):
    """Builds the load generator (main.go, without cgo) into work."""
    bench = os.path.join(work, "dqlite-bench")
    subprocess.run(["go", "build", "-tags", "nosqlite3", "-o", bench, "."], cwd=HERE,
                   env={**os.environ, "CGO_ENABLED": "0"}, check=True)
    return bench


def require_c_server():
    if not shutil.which("dqlite-demo"):
        sys.exit("dqlite-demo not found: apt-get install go-dqlite")


class Node:
    """One node, ours or the C server's, with its own directory and log
    under work; start() may be called again after stop() (same id,
    address and directory)."""

    def __init__(self, kind, index, work, binary=None, extra_args=(), env=None):
        self.kind, self.index, self.binary = kind, index, binary
        self.extra_args, self.env = list(extra_args), env
        self.dir = os.path.join(work, f"{kind}{index + 1}")
        self.log = os.path.join(work, f"{kind}{index + 1}.log")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.api_port = free_port() if kind == "c" else None
        self.proc = None

    def command(self, join):
        if self.kind == "ours":
            command = [self.binary, "--id", str(self.index + 1), "--address", self.address,
                       "--dir", self.dir] + self.extra_args
        else:
            command = ["dqlite-demo", "--api", f"127.0.0.1:{self.api_port}", "--db", self.address,
                       "--dir", self.dir]
        if join:
            command += ["--join", join]
        return command

    def start(self, join=None):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.command(join), stdout=subprocess.DEVNULL, stderr=log,
                                         env=self.env)
        wait_port(self.port, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)


def start_cluster(kind, count, work, binary=None, extra_args=(), env=None):
    """count nodes of one kind, the first bootstrapping and the others
    joining it; waits for the clusters to settle (dqlite-demo's role
    management runs every few seconds)."""
    nodes = []
    for i in range(count):
        node = Node(kind, i, work, binary, extra_args, env)
        nodes.append(node)
        node.start(join=nodes[0].address if i else None)
    time.sleep(1 if count == 1 else 10)
    return nodes


def stop_all(nodes):
    for node in nodes:
        if node.alive():
            node.proc.terminate()
    for node in nodes:
        node.stop()
