//! Chaos: three `dqlite-server` processes under a write load, killed with
//! SIGKILL at random moments for minutes: followers and leaders, two at
//! once (no quorum), and nodes killed again a moment after they restart
//! (while they install a snapshot or catch up on the log). Snapshots are
//! taken every 32 entries, so the log is purged all the time and a node
//! that was down comes back through a snapshot install.
//!
//! Every restart must succeed (the process starts, stays up and answers),
//! and in the end the three copies of the database are identical and hold
//! every acknowledged write exactly once.
//!
//! Knobs: `DQLITE_CHAOS_SECS` (default 180), `DQLITE_CHAOS_SEED` (default:
//! from the clock; printed, to replay a run).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dqlite_protocol::request::{Leader, Request};
use dqlite_protocol::response::Response;

use crate::cluster_kill::{converged, three_voters};
use crate::load::{INSTALLED, Load, bulk_load, check_image, count_logged, write_load};
use crate::process::{ServerProcess, dial, exec, free_port, request};
use crate::rng::Rng;

struct Nodes {
    addresses: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    logs: Vec<PathBuf>,
    procs: Vec<Option<ServerProcess>>,
    restarts: usize,
}

impl Nodes {
    fn start(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.logs[i])
            .unwrap();
        let id = (i + 1).to_string();
        let mut command = Command::new(env!("CARGO_BIN_EXE_dqlite-server"));
        command
            .args(["--id", &id, "--address", &self.addresses[i], "--dir"])
            .arg(self.dirs[i].path())
            .args(["--snapshot-every", "32", "--snapshot-trailing", "0"])
            .args(["--join-timeout", "30"])
            .env("RUST_LOG", "info,openraft=error")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log);
        if i > 0 {
            // Ignored once the node is a member, as on a real restart
            // with the same command line.
            command.args(["--join", &self.addresses[0]]);
        }
        self.procs[i] = Some(ServerProcess::from_child(command.spawn().unwrap()));
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
    }

    /// Fails the test if a node that should run has exited by itself.
    fn check_alive(&mut self) {
        for i in 0..self.procs.len() {
            if let Some(p) = self.procs[i].as_mut()
                && !p.running()
            {
                let log = std::fs::read_to_string(&self.logs[i]).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                // Its last start: from the last "node started" line (the
                // errors, not the backtrace frames, are what matter).
                let last_start = lines
                    .iter()
                    .rposition(|l| l.contains("node started") || l.contains("listening"))
                    .unwrap_or(0);
                let shown: Vec<&str> = lines[last_start.saturating_sub(5)..]
                    .iter()
                    .filter(|l| {
                        !l.trim_start().starts_with(|c: char| c.is_ascii_digit())
                            && !l.trim_start().starts_with("at ")
                    })
                    .take(60)
                    .copied()
                    .collect();
                if let Ok(keep) = std::env::var("DQLITE_CHAOS_KEEP") {
                    // Keep the evidence: every node's directory and log.
                    for (j, dir) in self.dirs.iter().enumerate() {
                        let to = PathBuf::from(&keep).join(format!("n{}", j + 1));
                        let _ = Command::new("cp")
                            .arg("-a")
                            .arg(dir.path())
                            .arg(&to)
                            .status();
                        let _ = std::fs::copy(&self.logs[j], to.with_extension("log"));
                    }
                }
                panic!(
                    "node {} exited by itself after restart {}; its log:\n{}",
                    i + 1,
                    self.restarts,
                    shown.join("\n")
                );
            }
        }
    }

    /// Restarts node `i` and waits (bounded) until it answers.
    async fn restart(&mut self, i: usize) {
        self.start(i);
        self.restarts += 1;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.check_alive();
            if let Some(mut s) = dial(&self.addresses[i]).await
                && let Some(Response::Server(_)) = request(&mut s, &Request::from(Leader)).await
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not come back",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn leader(&self) -> Option<usize> {
        crate::process::leader(&self.addresses).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_for_minutes_every_restart_succeeds() {
    let secs: u64 = std::env::var("DQLITE_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let seed: u64 = std::env::var("DQLITE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            now.as_secs().wrapping_mul(1_000_000_007) ^ u64::from(now.subsec_nanos()) | 1
        });
    println!("chaos: {secs} s, DQLITE_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let logs = tempfile::tempdir().unwrap();
    let mut nodes = Nodes {
        addresses: (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect(),
        dirs: (0..3).map(|_| tempfile::tempdir().unwrap()).collect(),
        logs: (1..=3)
            .map(|i| logs.path().join(format!("node{i}.log")))
            .collect(),
        procs: vec![None, None, None],
        restarts: 0,
    };
    nodes.start(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes.start(1);
    nodes.start(2);
    let first = nodes.addresses[0].clone();
    tokio::select! {
        () = three_voters(&first) => {}
        () = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                nodes.check_alive();
            }
        } => {}
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut last = None;
        if let Some((_, mut setup)) = crate::load::open_on_leader(&nodes.addresses).await {
            let create = exec("CREATE TABLE IF NOT EXISTS t(i INTEGER)".into());
            match request(&mut setup, &create).await {
                Some(Response::Result(_)) => break,
                other => last = Some(other),
            }
        }
        assert!(
            Instant::now() < deadline,
            "the table was never created: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let load = Arc::new(Load::default());
    let writer = tokio::spawn(write_load(nodes.addresses.clone(), load.clone()));
    let bulk_done = Arc::new(AtomicU64::new(0));
    let bulk = tokio::spawn(bulk_load(
        nodes.addresses.clone(),
        crate::load::load_stop(&load),
        bulk_done.clone(),
    ));

    let end = Instant::now() + Duration::from_secs(secs);
    let mut kinds = [0usize; 4];
    while Instant::now() < end {
        tokio::time::sleep(rng.millis(300, 1500)).await;
        nodes.check_alive();
        let leader = nodes.leader().await;
        let kind = rng.below(4);
        kinds[kind] += 1;
        match kind {
            // A follower (or any node, while no leader is known).
            0 => {
                let i = match leader {
                    Some(l) => (l + 1 + rng.below(2)) % 3,
                    None => rng.below(3),
                };
                nodes.kill(i);
                tokio::time::sleep(rng.millis(200, 3000)).await;
                nodes.restart(i).await;
            }
            // The leader.
            1 => {
                let i = leader.unwrap_or_else(|| rng.below(3));
                nodes.kill(i);
                tokio::time::sleep(rng.millis(200, 3000)).await;
                nodes.restart(i).await;
            }
            // Two nodes: no quorum until one is back.
            2 => {
                let a = rng.below(3);
                let b = (a + 1 + rng.below(2)) % 3;
                nodes.kill(a);
                tokio::time::sleep(rng.millis(0, 500)).await;
                nodes.kill(b);
                tokio::time::sleep(rng.millis(200, 2000)).await;
                nodes.restart(a).await;
                tokio::time::sleep(rng.millis(0, 1000)).await;
                nodes.restart(b).await;
            }
            // A node killed again while it catches up (snapshot install,
            // log replay), then once more.
            _ => {
                let i = rng.below(3);
                nodes.kill(i);
                tokio::time::sleep(rng.millis(500, 3000)).await;
                nodes.start(i);
                tokio::time::sleep(rng.millis(10, 400)).await;
                nodes.kill(i);
                tokio::time::sleep(rng.millis(0, 300)).await;
                nodes.restart(i).await;
            }
        }
    }
    nodes.check_alive();

    // Writes resume, then stop.
    let before = load.acked_count();
    load.resumed_after(before, Duration::from_secs(60)).await;
    load.stop.store(true, Ordering::SeqCst);
    let sent = writer.await.unwrap();
    bulk.await.unwrap();

    let image = converged(&nodes.addresses).await;
    nodes.check_alive();
    let installs = count_logged(&nodes.logs, INSTALLED);
    for i in 0..3 {
        nodes.kill(i);
    }
    check_image(&image, &load, sent);
    let acked = load.acked.lock().unwrap();
    // (A short run, to try the test itself, may see none.)
    assert!(
        installs > 0 || secs < 60,
        "no node ever installed a snapshot"
    );
    println!(
        "chaos: {} restarts survived ({} follower, {} leader, {} double, {} repeated kills), \
         {installs} snapshot installs, {} writes acknowledged and all present, {} bulk statements",
        nodes.restarts,
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        acked.len(),
        bulk_done.load(Ordering::Relaxed)
    );
}
