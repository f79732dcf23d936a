//! A node that is the only voter of its cluster leads from its very first
//! answer, as C dqlite's does: go-dqlite programs (and go-dqlite's own
//! tests) start a node and talk to it at once. The `dqlite-server` binary
//! is started again and again, and from the instant its port accepts a
//! connection, LEADER must name it and a write must succeed, on fresh
//! directories and on restarts (after kill -9) with existing data.
//!
//! Knobs: `DQLITE_PROBE_FRESH` (default 200) and `DQLITE_PROBE_RESTARTS`
//! (default 50) starts.

use std::time::{Duration, Instant};

use dqlite_protocol::request::{Leader, Open, Request};
use dqlite_protocol::response::Response;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::process::{exec, free_port, request, spawn_server};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Connects the instant the port accepts, asks LEADER, opens a database
/// and writes. `Err` says what the first answers were.
async fn probe(address: &str, write: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        if let Ok(stream) = TcpStream::connect(address).await {
            break stream;
        }
        if Instant::now() > deadline {
            return Err("the port never accepted".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    stream
        .write_all(&1u64.to_le_bytes())
        .await
        .map_err(|e| e.to_string())?;
    match request(&mut stream, &Request::from(Leader)).await {
        Some(Response::Server(s)) if s.id == 1 && s.address == address => {}
        other => return Err(format!("first LEADER answered {other:?}")),
    }
    let open = Request::from(Open {
        name: "probe".into(),
        flags: 0,
        vfs: "volatile".into(),
    });
    match request(&mut stream, &open).await {
        Some(Response::Db(_)) => {}
        other => return Err(format!("OPEN answered {other:?}")),
    }
    let sql = format!("CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES ({write})");
    match request(&mut stream, &exec(sql)).await {
        Some(Response::Result(_)) => Ok(()),
        other => Err(format!("the first write answered {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_voter_leads_from_its_first_answer_on_every_start() {
    let fresh = knob("DQLITE_PROBE_FRESH", 200);
    let restarts = knob("DQLITE_PROBE_RESTARTS", 50);
    let mut failures = Vec::new();
    let started = Instant::now();
    for i in 0..fresh {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let mut server = spawn_server(&address, dir.path());
        if let Err(e) = probe(&address, i).await {
            failures.push(format!("fresh start {i}: {e}"));
        }
        server.kill();
    }
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    for i in 0..=restarts {
        let mut server = spawn_server(&address, dir.path());
        if let Err(e) = probe(&address, i).await {
            failures.push(format!("start {i} on the same directory: {e}"));
        }
        // SIGKILL: the next start finds whatever was on disk.
        server.kill();
    }
    println!(
        "{fresh} fresh starts and {restarts} restarts probed in {:?}: {} without a leader at once",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
