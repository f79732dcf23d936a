#!/usr/bin/env python3
"""Failover time: a three-node cluster of our dqlite-server (release
build, 127.0.0.1), a go-dqlite client (Debian's `dqlite` shell, one process
per statement) writing; the leader is killed with SIGKILL and the time to
the first acknowledged write on the new leader is printed. Three trials,
the killed node restarted between them. Only processes this script started
are signalled. Run from the repository root after
`cargo build --release -p dqlite-server`.
"""
import subprocess, time, os, signal, socket, shutil, sys
BIN=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/release/dqlite-server")
def free():
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
ports=[free() for _ in range(3)]
addrs=[f"127.0.0.1:{p}" for p in ports]
import tempfile
WORK=tempfile.mkdtemp(prefix="dqlite-failover-")
dirs=[os.path.join(WORK, f"n{i}") for i in range(3)]
for d in dirs: shutil.rmtree(d, ignore_errors=True)
procs=[]
for i in range(3):
    cmd=[BIN,"--id",str(i+1),"--address",addrs[i],"--dir",dirs[i]]
    if i: cmd+=["--join",addrs[0]]
    procs.append(subprocess.Popen(cmd,stderr=open(os.path.join(WORK, f"n{i}.log"),"w")))
    time.sleep(0.5)
def sh(q, timeout=10):
    return subprocess.run(["dqlite","-s",",".join(addrs),"app",q],capture_output=True,text=True,timeout=timeout)
deadline=time.time()+30
while time.time()<deadline:
    r=sh(".cluster")
    if r.stdout.count("voter")==3: break
    time.sleep(0.2)
print(sh(".cluster").stdout)
sh("CREATE TABLE IF NOT EXISTS t(x)")
results=[]
for trial in range(3):
    r=sh(".leader"); leader=r.stdout.strip()
    i=addrs.index(leader)
    for _ in range(5): sh("INSERT INTO t VALUES (1)")
    t0=time.time(); procs[i].send_signal(signal.SIGKILL); procs[i].wait()
    while True:
        try:
            r=sh("INSERT INTO t VALUES (2)", timeout=5)
            if r.returncode==0: break
        except subprocess.TimeoutExpired: pass
        if time.time()-t0>30: print("no write in 30s"); break
    dt=time.time()-t0; results.append(dt)
    print(f"trial {trial}: killed leader {leader}; first write acknowledged after {dt:.2f}s")
    cmd=[BIN,"--id",str(i+1),"--address",addrs[i],"--dir",dirs[i]]
    procs[i]=subprocess.Popen(cmd,stderr=open(os.path.join(WORK, f"n{i}.log"),"a"))
    time.sleep(3)
print("results", [round(x,2) for x in results])
for p in procs: p.kill(); p.wait()
shutil.rmtree(WORK, ignore_errors=True)
