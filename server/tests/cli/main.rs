//! The `dqlite-server` command line as an operator uses it: the TOML
//! config file and its precedence, Raft timing flags,
//! `--advertise-address` apart from the bind address (a three-node
//! cluster whose nodes are reached through forwarded ports), and the
//! offline subcommands `describe` and `recover` on stopped nodes'
//! directories.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

#[path = "../common/logged.rs"]
mod logged;
#[path = "../common/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dqlite_protocol::Role;
use dqlite_protocol::request::{Cluster, Open, QuerySql, Request};
use dqlite_protocol::response::Response;
use dqlite_protocol::{Params, Value};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use logged::{Server, WAIT};
use process::{dial, exec, free_port, leader, request};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_dqlite-server");

/// Runs the binary to completion (bounded by its own work: these
/// subcommands and refusals end at once).
fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A run that fails: its one ERROR line, after checking the exit status.
fn refused(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].to_owned()
}

fn address() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[test]
fn config_file_values_take_effect_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (in_file, on_command_line) = (address(), address());
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "# a node's settings\nid = 1\naddress = \"{in_file}\"\ndir = \"{}\"\n\
             election-timeout = 1000\nheartbeat-interval = 200\nsnapshot-bytes = 1048576\n",
            data.display()
        ),
    )
    .unwrap();
    let node = Server::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--address",
            &on_command_line,
            "--heartbeat-interval",
            "250",
        ],
        &dir.path().join("node.log"),
    );
    let listening = node.wait_for(&["listening"]);
    // From the command line: the address and the heartbeat.
    assert!(
        listening.contains(&format!("address={on_command_line}")),
        "{listening}"
    );
    assert!(
        listening.contains("heartbeat_interval_ms=250"),
        "{listening}"
    );
    // From the file: the election timeout and the data directory.
    assert!(
        listening.contains("election_timeout_ms=1000"),
        "{listening}"
    );
    let identity = std::fs::read_to_string(data.join("node")).unwrap();
    assert_eq!(identity, format!("1\n{on_command_line}\n"));
}

#[test]
fn bad_config_files_and_timing_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "election-timeout = 1000\nelection_timout = 5\n").unwrap();
    let error = refused(&[
        "--config",
        config.to_str().unwrap(),
        "--dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        error.contains("unknown key \"election_timout\"") && error.contains("bad.toml"),
        "{error}"
    );
    // A value of the wrong kind is blamed on the file.
    std::fs::write(&config, "join = 5\nelection-timeout = \"soon\"\n").unwrap();
    let error = refused(&[
        "--config",
        config.to_str().unwrap(),
        "--dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        error.contains("bad.toml") && error.contains("soon"),
        "{error}"
    );
    // The heartbeat must come before the election timeout, whether from
    // the file or from the command line.
    std::fs::write(&config, "election-timeout = 200\n").unwrap();
    let error = refused(&[
        "--config",
        config.to_str().unwrap(),
        "--heartbeat-interval",
        "200",
        "--dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        error.contains(
            "--heartbeat-interval (200 ms) must be above 0 and below --election-timeout (200 ms)"
        ),
        "{error}"
    );
    // Addresses no one can dial are never advertised.
    let port = free_port().to_string();
    for (flags, needle) in [
        (vec!["--address", "0.0.0.0:0"], "give --advertise-address"),
        (vec!["--advertise-address", "0.0.0.0:9001"], "any interface"),
        (vec!["--advertise-address", "[::]:9001"], "any interface"),
        (vec!["--advertise-address", "10.0.0.5:0"], "port 0"),
    ] {
        let mut args = flags.clone();
        let bind = format!("127.0.0.1:{port}");
        if flags[0] != "--address" {
            args.extend(["--address", &bind]);
        }
        args.extend(["--dir", data.to_str().unwrap()]);
        let error = refused(&args);
        assert!(error.contains(needle), "{flags:?}: {error}");
    }
    // Nothing was started: no identity recorded.
    assert!(!data.join("node").exists());
}

/// Listens on 127.0.0.1:0 and relays every connection to `backend`, as a
/// forwarded port (NAT, a container's published port) would. Returns the
/// address to dial.
async fn forward(backend: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let backend = backend.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    address
}

/// A connection to the node that leads among `addresses`, with `db` open
/// (bounded wait).
async fn open_on_leader(addresses: &[String], db: &str) -> TcpStream {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(i) = leader(addresses).await
            && let Some(mut stream) = dial(&addresses[i]).await
            && let Some(Response::Db(_)) = request(
                &mut stream,
                &Request::from(Open {
                    name: db.into(),
                    flags: 0,
                    vfs: "volatile".into(),
                }),
            )
            .await
        {
            return stream;
        }
        assert!(Instant::now() < deadline, "no leader among {addresses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `sql` on the leader, again while leadership settles (bounded).
async fn write(addresses: &[String], sql: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut stream = open_on_leader(addresses, "test").await;
        match request(&mut stream, &exec(sql.into())).await {
            Some(Response::Result(_)) => return,
            other => assert!(Instant::now() < deadline, "{sql}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The integers of `SELECT i FROM t` on the leader.
async fn rows(addresses: &[String]) -> Vec<i64> {
    let mut stream = open_on_leader(addresses, "test").await;
    let query = Request::from(QuerySql {
        db_id: 0,
        sql: "SELECT i FROM t ORDER BY i".into(),
        params: Params::default(),
    });
    match request(&mut stream, &query).await {
        Some(Response::Rows(rows)) => rows
            .rows
            .into_iter()
            .map(|row| match row[..] {
                [Value::Integer(i)] => i,
                _ => panic!("{row:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The members `address` lists (CLUSTER), once there are `count` voters.
async fn voters(address: &str, count: usize) -> Vec<(u64, String)> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(mut stream) = dial(address).await
            && let Some(Response::Servers(s)) =
                request(&mut stream, &Request::from(Cluster { format: 1 })).await
            && s.nodes
                .iter()
                .filter(|n| n.role == Some(Role::Voter))
                .count()
                == count
        {
            let mut members: Vec<(u64, String)> =
                s.nodes.into_iter().map(|n| (n.id, n.address)).collect();
            members.sort();
            return members;
        }
        assert!(
            Instant::now() < deadline,
            "{address} never listed {count} voters"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reached_through_forwarded_ports_advertise_them() {
    let dir = tempfile::tempdir().unwrap();
    let binds: Vec<String> = (0..3).map(|_| address()).collect();
    let mut advertised = Vec::new();
    for bind in &binds {
        advertised.push(forward(bind.clone()).await);
    }
    let mut nodes = Vec::new();
    for i in 0..3 {
        let id = (i + 1).to_string();
        let data = dir.path().join(format!("node{id}"));
        let mut args = vec![
            "--id",
            &id,
            "--address",
            &binds[i],
            "--advertise-address",
            &advertised[i],
            "--dir",
            data.to_str().unwrap(),
        ];
        if i > 0 {
            args.extend(["--join", &advertised[0]]);
        }
        let node = Server::start(&args, &dir.path().join(format!("node{id}.log")));
        if i == 0 {
            node.wait_for(&["listening"]);
        }
        nodes.push(node);
    }
    // The cluster lists the advertised addresses, which are the only ones
    // the nodes know each other by: they joined and vote through them.
    let listed = voters(&advertised[0], 3).await;
    let expected: Vec<(u64, String)> = (1..=3).zip(advertised.iter().cloned()).collect();
    assert_eq!(listed, expected);
    for bind in &binds {
        assert!(!listed.iter().any(|(_, a)| a == bind), "{listed:?}");
    }
    write(&advertised, "CREATE TABLE t(i INTEGER)").await;
    write(&advertised, "INSERT INTO t VALUES (1), (2), (3)").await;
    // The leader goes; the two others elect one of them, which has the
    // rows: they were replicated through the forwarded ports.
    let old = leader(&advertised).await.unwrap();
    nodes[old].kill();
    let deadline = Instant::now() + WAIT;
    loop {
        match leader(&advertised).await {
            Some(new) if new != old => break,
            _ => assert!(Instant::now() < deadline, "no new leader"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows(&advertised).await, [1, 2, 3]);
}

/// GET `path` from the HTTP endpoints at `http`: the body of a 200.
async fn http_get(http: &str, path: &str) -> String {
    tokio::time::timeout(WAIT, async {
        let stream = TcpStream::connect(http).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get(path)
            .header("host", http)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    })
    .await
    .expect("an HTTP answer in time")
}

/// The value of an integer gauge without labels in a `/metrics` body.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

/// The value of `key: value` in `describe`'s output.
fn field<'a>(described: &'a str, key: &str) -> &'a str {
    described
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {key} in:\n{described}"))
}

fn describe(dir: &Path) -> String {
    let out = run(&["describe", "--dir", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_prints_the_last_entry_the_node_had_when_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (address, http) = (address(), address());
    let mut node = Server::start(
        &[
            "--address",
            &address,
            "--http-address",
            &http,
            "--dir",
            data.to_str().unwrap(),
        ],
        &dir.path().join("node.log"),
    );
    node.wait_for(&["listening"]);
    let nodes = [address.clone()];
    write(&nodes, "CREATE TABLE t(i INTEGER)").await;
    for i in 0..7 {
        write(&nodes, &format!("INSERT INTO t VALUES ({i})")).await;
    }
    // What the node says of its log once everything is applied.
    let deadline = Instant::now() + WAIT;
    let (index, term) = loop {
        let metrics = http_get(&http, "/metrics").await;
        let last = sample(&metrics, "dqlite_raft_last_log_index");
        if last >= 8 && sample(&metrics, "dqlite_raft_applied_index") == last {
            break (last, sample(&metrics, "dqlite_raft_term"));
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A running node's directory is refused: its log is changing.
    let error = refused(&["describe", "--dir", data.to_str().unwrap()]);
    assert!(
        error.contains("is locked") && error.contains("running"),
        "{error}"
    );
    let (status, _) = node.terminate();
    assert!(status.success(), "{status}:\n{}", node.log());

    let described = describe(&data);
    assert_eq!(field(&described, "index"), index.to_string(), "{described}");
    assert_eq!(field(&described, "term"), term.to_string(), "{described}");
    assert_eq!(field(&described, "id"), "1");
    assert_eq!(field(&described, "address"), address);
    assert_eq!(field(&described, "configuration-index"), "0");
    assert_eq!(field(&described, "member"), format!("1 {address} voter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_lets_a_lone_survivor_lead_a_new_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let addresses: Vec<String> = (0..3).map(|_| address()).collect();
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("node{i}")))
        .collect();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let id = (i + 1).to_string();
        let mut args = vec![
            "--id",
            &id,
            "--address",
            &addresses[i],
            "--dir",
            dirs[i].to_str().unwrap(),
        ];
        if i > 0 {
            args.extend(["--join", &addresses[0]]);
        }
        let node = Server::start(&args, &dir.path().join(format!("node{id}.log")));
        if i == 0 {
            node.wait_for(&["listening"]);
        }
        nodes.push(node);
    }
    voters(&addresses[0], 3).await;
    write(&addresses, "CREATE TABLE t(i INTEGER)").await;
    write(&addresses, "INSERT INTO t VALUES (1), (2)").await;
    // The whole cluster goes down.
    for node in &mut nodes {
        node.kill();
    }
    // The most up-to-date survivor: the greatest (term, index).
    let last = |d: &Path| {
        let described = describe(d);
        let term: u64 = field(&described, "term").parse().unwrap();
        let index: u64 = field(&described, "index").parse().unwrap();
        assert_eq!(described.matches("member: ").count(), 3, "{described}");
        (term, index)
    };
    let best = (0..3).max_by_key(|&i| last(&dirs[i])).unwrap();
    let (_, index_before) = last(&dirs[best]);
    let id = (best + 1).to_string();
    // It alone comes back, on another port.
    let moved = address();
    let out = run(&[
        "recover",
        "--dir",
        dirs[best].to_str().unwrap(),
        "--member",
        &format!("{id},{moved},voter"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let described = describe(&dirs[best]);
    assert_eq!(field(&described, "index"), (index_before + 1).to_string());
    assert_eq!(field(&described, "address"), moved);
    assert_eq!(field(&described, "member"), format!("{id} {moved} voter"));

    let _survivor = Server::start(
        &[
            "--id",
            &id,
            "--address",
            &moved,
            "--dir",
            dirs[best].to_str().unwrap(),
        ],
        &dir.path().join("survivor.log"),
    );
    let only = [moved.clone()];
    assert_eq!(voters(&moved, 1).await, [(best as u64 + 1, moved.clone())]);
    assert_eq!(rows(&only).await, [1, 2]);
    write(&only, "INSERT INTO t VALUES (3)").await;
    assert_eq!(rows(&only).await, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_bytes_takes_a_snapshot_before_the_entry_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (address, http) = (address(), address());
    let _node = Server::start(
        &[
            "--address",
            &address,
            "--http-address",
            &http,
            "--dir",
            data.to_str().unwrap(),
            "--snapshot-every",
            "100000",
            "--snapshot-bytes",
            "262144",
        ],
        &dir.path().join("node.log"),
    );
    let nodes = [address.clone()];
    write(&nodes, "CREATE TABLE b(x BLOB)").await;
    // A few entries only, far below --snapshot-every, but 512 KiB of
    // pages: more than --snapshot-bytes.
    for _ in 0..4 {
        write(&nodes, "INSERT INTO b VALUES (randomblob(131072))").await;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = http_get(&http, "/metrics").await;
        let taken = metrics
            .lines()
            .find_map(|l| l.strip_prefix("dqlite_snapshots_total{kind=\"taken\"} "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{metrics}"));
        if taken >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot was taken:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
