//! Bounded resources under abuse: idle connections at the limit, idle and
//! stalled connections, many large requests at once, statements prepared
//! and never finalized, junk members. Each is a case of issue 14 where a
//! client (or a careless operator) could starve the node.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use dqlite_protocol::request::{Add, Finalize, Leader, Prepare, Request};
use dqlite_protocol::response::Response;
use dqlite_protocol::{Schema, codes};
use dqlite_server::net::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::process::{free_port, request, spawn_node_logging};
use crate::util::{Server, decode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_make_room_for_a_new_client_at_the_limit() {
    let server = Server::start_with(Limits {
        max_connections: 64,
        ..Limits::default()
    })
    .await;
    // More idle connections (handshake done) than the limit allows.
    // (Each answered once, so that the server saw them in this order.)
    let mut idle = Vec::new();
    for _ in 0..80 {
        let mut c = server.connect().await;
        c.call("0100000000000000 0000000000000000").await;
        idle.push(c);
    }
    // A client arriving now is served at once.
    let started = Instant::now();
    let mut c = server.connect_open("app").await;
    let reply = decode(c.exec_sql("CREATE TABLE t(x)").await);
    assert!(matches!(reply, Response::Result(_)), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The connections idle longest made room: the first ones are closed.
    let first = idle.remove(0);
    assert!(first.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_stalled_connections_are_closed() {
    let server = Server::start_with(Limits {
        idle_timeout: Duration::from_millis(600),
        stall_timeout: Duration::from_millis(600),
        ..Limits::default()
    })
    .await;
    let idle = server.connect().await;
    // A connection that keeps asking stays open past the idle timeout.
    let mut busy = server.connect().await;
    for _ in 0..8 {
        assert_eq!(
            busy.call("0100000000000000 0000000000000000").await,
            server.leader_reply()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(idle.closed_within(Duration::from_millis(100)).await);
    // Half a request, then nothing.
    let mut stalled = server.connect().await;
    stalled.send("0100000000000000").await;
    assert!(stalled.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_are_bounded_per_connection() {
    let server = Server::start_with(Limits {
        max_statements: 100,
        ..Limits::default()
    })
    .await;
    let mut c = server.connect_open("app").await;
    let prepare = |i: usize| {
        Request::from(Prepare {
            db_id: 0,
            sql: format!("SELECT {i}"),
            schema: Schema::V0,
        })
    };
    for i in 0..100 {
        assert!(
            matches!(c.request(prepare(i)).await, Response::Stmt(_)),
            "statement {i}"
        );
    }
    match c.request(prepare(100)).await {
        Response::Failure(f) => {
            assert_eq!(f.code, codes::SQLITE_ERROR);
            assert!(f.message.contains("too many prepared statements"), "{f:?}");
        }
        other => panic!("{other:?}"),
    }
    // Finalizing one makes room again; other connections have their own.
    let finalized = c
        .request(Request::from(Finalize {
            db_id: 0,
            stmt_id: 7,
        }))
        .await;
    assert!(matches!(finalized, Response::Empty(_)), "{finalized:?}");
    assert!(matches!(c.request(prepare(100)).await, Response::Stmt(_)));
    let mut other = server.connect_open("app").await;
    assert!(matches!(other.request(prepare(0)).await, Response::Stmt(_)));
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// A field of `/proc/PID/status`, as a number.
fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Connects and waits (bounded) until the server names a leader.
async fn connect_ready(address: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut stream) = TcpStream::connect(address).await {
            stream.write_all(&1u64.to_le_bytes()).await.unwrap();
            if let Some(Response::Server(s)) = request(&mut stream, &Request::from(Leader)).await
                && !s.address.is_empty()
            {
                return stream;
            }
        }
        assert!(Instant::now() < deadline, "no server at {address}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_stalled_large_requests_stay_within_the_request_budget() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let (server, _log) = spawn_node_logging(&address, dir.path(), &[]);
    let pid = server.pid();
    let mut probe = connect_ready(&address).await;
    let before = rss(pid);
    // Twelve connections each send 59 MiB of a 60 MiB request and stall.
    let body_words: u32 = 60 * 1024 * 1024 / 8;
    let mut stalled = Vec::new();
    for _ in 0..12 {
        let address = address.clone();
        stalled.push(std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&address).unwrap();
            s.write_all(&1u64.to_le_bytes()).unwrap();
            let mut header = body_words.to_le_bytes().to_vec();
            header.extend_from_slice(&[5, 0, 0, 0]); // EXEC_SQL
            s.write_all(&header).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let chunk = vec![0x20u8; 1024 * 1024];
            let mut sent = 0;
            for _ in 0..59 {
                // A connection waiting for its share is not read from:
                // its writes block, and time out.
                if s.write_all(&chunk).is_err() {
                    break;
                }
                sent += 1;
            }
            (s, sent)
        }));
    }
    let stalled: Vec<(std::net::TcpStream, usize)> =
        stalled.into_iter().map(|t| t.join().unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = rss(pid).saturating_sub(before);
    // A small request is still answered meanwhile.
    let answer = request(&mut probe, &Request::from(Leader)).await;
    assert!(matches!(answer, Some(Response::Server(_))), "{answer:?}");
    let sent: usize = stalled.iter().map(|(_, n)| n).sum();
    println!(
        "12 stalled 60 MiB requests ({sent} MiB sent): RSS grew by {} MiB",
        grown >> 20
    );
    // The default budget is 256 MiB; without it, 708 MiB.
    assert!(grown < 320 << 20, "RSS grew by {} MiB", grown >> 20);
    // The stalled connections are closed after the stall timeout (10 s).
    for (mut s, _) in stalled {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut byte = [0u8; 1];
        assert!(matches!(s.read(&mut byte), Ok(0) | Err(_)));
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_members_are_refused_and_unreachable_ones_cost_little() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let (server, log) = spawn_node_logging(&address, dir.path(), &[]);
    let pid = server.pid();
    let mut c = connect_ready(&address).await;
    // Distinct ports where nothing listens.
    let mut used = std::collections::HashSet::new();
    let mut dead_address = move || loop {
        let port = free_port();
        if used.insert(port) {
            return format!("127.0.0.1:{port}");
        }
    };
    let add = |id: u64, address: &str| {
        Request::from(Add {
            id,
            address: address.to_owned(),
        })
    };
    for junk in [
        "garbage 17",
        "",
        "@",
        "host",
        "x:0",
        "a b:80",
        "127.0.0.1:99999",
    ] {
        match request(&mut c, &add(17, junk)).await {
            Some(Response::Failure(f)) => {
                assert_eq!(f.code, codes::SQLITE_ERROR, "{junk}");
                assert!(
                    f.message.starts_with("server address is not valid"),
                    "{f:?}"
                );
            }
            other => panic!("{junk:?}: {other:?}"),
        }
    }
    // Forty valid addresses where nothing listens: the node dials them,
    // with backoff, and says so with backoff.
    let threads_before = status_field(pid, "Threads:");
    for id in 2..42u64 {
        let dead = dead_address();
        let added = request(&mut c, &add(id, &dead)).await;
        assert!(matches!(added, Some(Response::Empty(_))), "{added:?}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let logged = std::fs::metadata(&log).unwrap().len();
    let cpu = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let ticks_before = cpu(pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ticks = cpu(pid) - ticks_before;
    let log_rate = (std::fs::metadata(&log).unwrap().len() - logged) / 5;
    let threads = status_field(pid, "Threads:");
    println!(
        "40 unreachable members: {ticks} CPU ticks in 5 s, {log_rate} log bytes/s, {threads} threads (from {threads_before})"
    );
    // At 100 ticks a second, under 20% of a core.
    assert!(ticks < 100, "{ticks} ticks in 5 s");
    assert!(log_rate < 5000, "{log_rate} log bytes per second");
    assert!(threads < threads_before + 16, "{threads} threads");
    // The number of members is bounded.
    let mut refused = None;
    for id in 42..300u64 {
        match request(&mut c, &add(id, &dead_address())).await {
            Some(Response::Empty(_)) => {}
            Some(Response::Failure(f)) => {
                refused = Some((id, f.message));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let (id, message) = refused.expect("the member bound was never reached");
    assert_eq!(id, 42 + 256 - 41, "{message}");
    assert!(message.contains("256 members"), "{message}");
    drop(server);
}
