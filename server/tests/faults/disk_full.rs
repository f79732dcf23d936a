//! Disk faults in a three-node cluster of `dqlite-server` processes under a
//! write load from a client that follows the leader. The faulty node must
//! fail cleanly (log an error, exit non-zero, in bounded time), the other
//! two must keep serving writes, and the faulty node, given room again and
//! restarted on the same directory, must repair its log and catch up.
//!
//! Fault schedule:
//!
//! 1. **The leader's files stop growing** just past the end of its Raft
//!    log: `RLIMIT_FSIZE` lowered on the running process (`prlimit`), with
//!    `SIGXFSZ` ignored so that writes fail with `EFBIG`. The append that
//!    crosses the limit is written partly (a torn batch), later ones not at
//!    all. Needs no privileges. Restarted without the limit.
//! 2. **A follower's disk fills up**: every node's data directory is a small
//!    tmpfs, and another file takes all of the follower's free space. It
//!    goes on appending to its preallocated log segment; it needs room
//!    again for its next snapshot, log segment, or vote. The test then
//!    moves leadership to the third node (TRANSFER), so the follower must
//!    record a new term and gets `ENOSPC`. Restarted after the tmpfs is
//!    remounted bigger.
//!    Mounting needs root: without it (and without `CI` set, which makes it
//!    a failure) a notice is printed and the follower's file-size limit is
//!    set to 0 instead, so that every one of its writes fails (`EFBIG`).
//!
//! After each fault, with the load paused, all three nodes must hold
//! byte-identical databases with every acknowledged write exactly once.
//!
//! Knobs: `DISK_TEST_LOG` is the nodes' `RUST_LOG` (default `warn`);
//! `DISK_TEST_NO_TMPFS=1` runs the unprivileged variant of fault 2.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dqlite_protocol::request::{Dump, Request, Transfer};
use dqlite_protocol::response::Response;

use crate::cluster_kill::three_voters;
use crate::load::{Load, check_image, open_on_leader, write_load};
use crate::process::{dial, exec, free_port, leader, request};

/// Entries between snapshots: small, so that a full disk shows soon.
const SNAPSHOT_EVERY: &str = "100";
/// How long a faulty node may take to exit.
const FAIL_WITHIN: Duration = Duration::from_secs(10);
/// How long the other two may take to acknowledge writes again.
const RESUME_WITHIN: Duration = Duration::from_secs(10);
/// How long a restarted node may take to catch up (the load paused).
const CONVERGE_WITHIN: Duration = Duration::from_secs(15);
/// tmpfs sizes: room for one preallocated 16 MiB log segment, snapshots
/// and metadata; then more room for the restart.
const TMPFS_MIB: u64 = 24;
const TMPFS_BIGGER_MIB: u64 = 48;

/// A `dqlite-server` process whose stderr is collected (through a pipe: a
/// file would be subject to the file-size limit too). Killed when dropped.
struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(address: &str, dir: &Path, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dqlite-server"));
        command
            .args(["--address", address, "--dir"])
            .arg(dir)
            .args(["--snapshot-every", SNAPSHOT_EVERY])
            .args(extra)
            // DISK_TEST_LOG=info shows more when something goes wrong.
            .env(
                "RUST_LOG",
                std::env::var("DISK_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: `signal` is async-signal-safe, and nothing else runs in
        // the child between fork and exec. An ignored signal stays ignored
        // across exec: a write past RLIMIT_FSIZE then fails with EFBIG
        // instead of killing the process.
        unsafe {
            command.pre_exec(|| {
                if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        // Ends when the process (and so the pipe) does.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).unwrap()
    }

    /// Lowers the soft limit on the size of the files the process writes.
    fn limit_file_size(&self, bytes: u64) {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid pointers to initialized `rlimit`s.
        let rc = unsafe {
            libc::prlimit(
                self.pid(),
                libc::RLIMIT_FSIZE,
                std::ptr::null(),
                &raw mut old,
            )
        };
        assert_eq!(rc, 0, "prlimit: {}", io::Error::last_os_error());
        let new = libc::rlimit {
            rlim_cur: bytes.min(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        // SAFETY: as above.
        let rc = unsafe {
            libc::prlimit(
                self.pid(),
                libc::RLIMIT_FSIZE,
                &raw const new,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "prlimit: {}", io::Error::last_os_error());
    }

    /// Waits (bounded) for the process to exit.
    fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tmpfs mounted on a temporary directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why not.
    fn mount(mib: u64) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, mib: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "remount: {out:?}");
    }

    /// Takes every free byte with a file of its own; returns its size.
    fn fill(&self) -> u64 {
        let mut file = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0x55u8; 64 * 1024];
        let mut size = 0u64;
        // Bounded: the tmpfs is at most TMPFS_BIGGER_MIB.
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => size += u64::try_from(n).unwrap(),
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        size
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// Where a node keeps its data: a tmpfs, or a plain temporary directory.
enum Dir {
    Tmpfs(Tmpfs),
    Plain(tempfile::TempDir),
}

impl Dir {
    fn path(&self) -> PathBuf {
        match self {
            Self::Tmpfs(t) => t.path().join("node"),
            Self::Plain(d) => d.path().to_owned(),
        }
    }
}

struct Cluster {
    addresses: Vec<String>,
    /// Dropped after `procs` (fields drop in order): nothing may hold a
    /// file on a tmpfs being unmounted.
    procs: Vec<Option<Proc>>,
    dirs: Vec<Dir>,
}

impl Cluster {
    fn start(&mut self, i: usize) {
        let id = (i + 1).to_string();
        let mut extra = vec!["--id", id.as_str()];
        if i > 0 {
            extra.extend(["--join", self.addresses[0].as_str()]);
        }
        self.procs[i] = Some(Proc::spawn(
            &self.addresses[i],
            &self.dirs[i].path(),
            &extra,
        ));
    }

    fn proc(&mut self, i: usize) -> &mut Proc {
        self.procs[i].as_mut().expect("node running")
    }
}

/// The database image of every node once all of them agree; on timeout,
/// what each node answered and logged.
async fn converged(cluster: &mut Cluster) -> Vec<u8> {
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let mut images = Vec::new();
        for address in &cluster.addresses {
            let dump = Request::from(Dump {
                name: "load".into(),
            });
            images.push(match dial(address).await {
                Some(mut stream) => match request(&mut stream, &dump).await {
                    Some(Response::Files(files)) => {
                        Ok(files.files.into_iter().next().unwrap().data)
                    }
                    other => Err(format!("{other:?}")),
                },
                None => Err("no connection".into()),
            });
        }
        if let [Ok(a), Ok(b), Ok(c)] = &images[..]
            && a == b
            && b == c
        {
            return a.clone();
        }
        if Instant::now() > deadline {
            let mut report = String::new();
            for (i, image) in images.iter().enumerate() {
                let proc = cluster.procs[i].as_mut();
                let status = proc.map(|p| (p.child.try_wait().unwrap(), p.log()));
                report += &format!(
                    "node {}: {:?}; process {status:?}\n",
                    i + 1,
                    image.as_ref().map(Vec::len)
                );
            }
            panic!("the nodes did not converge within {CONVERGE_WITHIN:?}:\n{report}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With the load paused: waits until all nodes hold the same database and
/// checks that it holds every acknowledged write exactly once and nothing
/// never sent. Returns the number of rows.
async fn check_converged(cluster: &mut Cluster, load: &Load, sent: u64) -> usize {
    let image = converged(cluster).await;
    check_image(&image, load, sent)
}

/// The end of the data in the newest segment of a node's Raft log.
fn log_end(dir: &Path) -> u64 {
    let log = dir.join("raft-log");
    let newest = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("log-"))
        })
        .max()
        .expect("a log segment");
    let bytes = std::fs::read(newest).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    u64::try_from(end).unwrap()
}

/// Waits for the faulty node `i` to exit, checks that it failed cleanly,
/// and returns how long that took from `since`.
fn expect_clean_failure(cluster: &mut Cluster, i: usize, since: Instant, error: &str) -> Duration {
    let proc = cluster.proc(i);
    let status = proc.exited_within(FAIL_WITHIN);
    let took = since.elapsed();
    let log = proc.log();
    let status = status.unwrap_or_else(|| {
        let files = Command::new("ls")
            .arg("-laR")
            .arg(cluster.dirs[i].path())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        panic!(
            "node {} did not exit within {FAIL_WITHIN:?}; files: {files:?}\nlog:\n{log}",
            i + 1
        )
    });
    assert!(
        !status.success() && status.code().is_some(),
        "node {} should exit with an error code, not {status}; log:\n{log}",
        i + 1
    );
    assert!(
        log.contains(error) && log.contains("ERROR"),
        "node {} did not log the error {error:?}; log:\n{log}",
        i + 1
    );
    assert!(!log.contains("panicked"), "node {} panicked:\n{log}", i + 1);
    println!("node {} exited with {status}; its log:\n{log}", i + 1);
    took
}

/// Waits until writes after `since` acknowledged by nodes other than
/// `faulty` reach `count`; returns the time from `since` to the first.
async fn writes_resume(load: &Load, since: Instant, faulty: usize, count: usize) -> Duration {
    let deadline = since + RESUME_WITHIN;
    loop {
        let acks = load.acks_after(since, faulty);
        if acks.len() >= count {
            return acks[0].at - since;
        }
        assert!(
            Instant::now() < deadline,
            "the other nodes acknowledged {} writes within {RESUME_WITHIN:?}",
            acks.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_disk_fails_stops_cleanly_and_recovers() {
    let started = Instant::now();
    let mut dirs = Vec::new();
    for _ in 0..3 {
        // DISK_TEST_NO_TMPFS=1 tries the unprivileged variant.
        let mounted = match std::env::var_os("DISK_TEST_NO_TMPFS") {
            Some(_) => Err("DISK_TEST_NO_TMPFS is set".to_owned()),
            None => Tmpfs::mount(TMPFS_MIB),
        };
        match mounted {
            Ok(t) => dirs.push(Dir::Tmpfs(t)),
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("cannot mount a tmpfs under CI: {why}")
            }
            Err(why) => {
                println!(
                    "NOTICE: cannot mount a tmpfs ({why}); the follower's disk fault \
                     is a file-size limit of 0 (EFBIG) instead of a full disk (ENOSPC)"
                );
                dirs = (0..3)
                    .map(|_| Dir::Plain(tempfile::tempdir().unwrap()))
                    .collect();
                break;
            }
        }
    }
    let mut cluster = Cluster {
        addresses: (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect(),
        procs: vec![None, None, None],
        dirs,
    };
    cluster.start(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.start(1);
    cluster.start(2);
    three_voters(&cluster.addresses[0]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (_, mut setup) = loop {
        if let Some(conn) = open_on_leader(&cluster.addresses).await {
            break conn;
        }
        assert!(Instant::now() < deadline, "no leader to open a database on");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let created = request(&mut setup, &exec("CREATE TABLE t(i INTEGER)".into())).await;
    assert!(matches!(created, Some(Response::Result(_))), "{created:?}");
    drop(setup);

    let load = Arc::new(Load::default());
    let writer = tokio::spawn(write_load(cluster.addresses.clone(), load.clone()));
    let warm_up = Duration::from_millis(700);

    // 1. The leader's files stop growing just past the end of its log.
    tokio::time::sleep(warm_up).await;
    let l = leader(&cluster.addresses).await.expect("a leader");
    let limit = log_end(&cluster.dirs[l].path()).next_multiple_of(4096) + 16 * 1024;
    let t0 = Instant::now();
    cluster.proc(l).limit_file_size(limit);
    let failed = expect_clean_failure(&mut cluster, l, t0, "File too large");
    let resumed = writes_resume(&load, t0, l, 20).await;
    println!(
        "leader {} limited to {limit} bytes: exited after {failed:?}, writes resumed after {resumed:?}",
        l + 1
    );
    cluster.start(l);
    load.pause().await;
    let rows = check_converged(&mut cluster, &load, u64::MAX).await;
    // The append that crossed the limit was written in part, unless it
    // happened to end right at the limit.
    let log = cluster.proc(l).log();
    let repairs: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("torn log tail") || line.contains("committed log id"))
        .collect();
    println!(
        "node {} restarted ({repairs:?}) and caught up: {rows} rows on every node",
        l + 1,
    );
    load.resume();

    // 2. A follower's disk fills up.
    tokio::time::sleep(warm_up).await;
    let l = leader(&cluster.addresses).await.expect("a leader");
    let f = (l + 1) % 3;
    let other = (l + 2) % 3;
    let (t1, error) = match &cluster.dirs[f] {
        Dir::Tmpfs(t) => {
            let filled = t.fill();
            let t1 = Instant::now();
            // Appends go on into the preallocated log segment: a full
            // disk stops a node only when it needs new room (a snapshot,
            // the next segment, a new vote). If no snapshot came due in
            // the meantime, moving leadership to the third node makes the
            // follower record a new term at once.
            tokio::time::sleep(Duration::from_millis(300)).await;
            if cluster.proc(f).exited_within(Duration::ZERO).is_none() {
                let mut stream = dial(&cluster.addresses[l])
                    .await
                    .expect("the leader answers");
                let id = u64::try_from(other + 1).unwrap();
                let moved = request(&mut stream, &Request::from(Transfer { id })).await;
                assert!(
                    matches!(moved, Some(Response::Empty(_))),
                    "TRANSFER: {moved:?}"
                );
                println!(
                    "follower {}: disk full (a filler of {filled} bytes), leadership moved to node {}",
                    f + 1,
                    other + 1
                );
            } else {
                println!(
                    "follower {}: disk full (a filler of {filled} bytes), its next snapshot found no room",
                    f + 1
                );
            }
            (t1, "No space left on device")
        }
        Dir::Plain(_) => {
            let t1 = Instant::now();
            cluster.proc(f).limit_file_size(0);
            println!("follower {}: file size limit 0", f + 1);
            (t1, "File too large")
        }
    };
    let failed = expect_clean_failure(&mut cluster, f, t1, error);
    let exited = Instant::now();
    let resumed = writes_resume(&load, exited, f, 20).await;
    println!(
        "follower {} exited after {failed:?}; after that the others acknowledged 20 writes, \
         the first after {resumed:?}",
        f + 1
    );
    if let Dir::Tmpfs(t) = &cluster.dirs[f] {
        t.resize(TMPFS_BIGGER_MIB);
    }
    cluster.start(f);
    tokio::time::sleep(warm_up).await;
    load.stop.store(true, Ordering::SeqCst);
    let sent = writer.await.unwrap();
    let rows = check_converged(&mut cluster, &load, sent).await;
    let acked = load.acked.lock().unwrap().len();
    println!(
        "{acked} writes acknowledged, {rows} rows identical on all 3 nodes, in {:?}",
        started.elapsed()
    );
    for i in 0..3 {
        if let Some(mut p) = cluster.procs[i].take() {
            p.kill();
        }
    }
}
