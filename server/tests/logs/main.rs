//! What an operator sees of `dqlite-server`: its log (stderr, redirected
//! to a file as under a supervisor) with the default filter (`RUST_LOG`
//! unset), `--log-format json`, `--version`, its errors, how fast the
//! last node standing stops on SIGTERM, and (`progress.rs`) checkpoint
//! and progress lines of long operations.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

#[path = "../common/logged.rs"]
mod logged;
#[path = "../common/process.rs"]
mod process;
mod progress;

use std::process::{Command, Stdio};
use std::time::Duration;

use logged::{Server, WAIT, wait_bounded};
use process::free_port;

/// What no default log line may hold: colour codes (the log is a file),
/// openraft's own lines (its INFO internals, the `RaftState` dump) and
/// ERROR lines.
fn assert_plain_and_quiet(name: &str, log: &str) {
    assert!(
        !log.contains('\x1b'),
        "{name}: ANSI escapes in a redirected log:\n{log}"
    );
    assert!(
        !log.contains("RaftState"),
        "{name}: openraft's state dump:\n{log}"
    );
    assert!(
        !log.contains("openraft"),
        "{name}: openraft lines by default:\n{log}"
    );
    assert!(
        !log.lines().any(|l| l.contains(" ERROR ")),
        "{name}: an ERROR line:\n{log}"
    );
}

/// The README's three-node cluster, as a new user starts it: node 1,
/// then nodes 2 and 3 at once with `--join`. The default log is plain
/// text without openraft's chatter or any ERROR; the last node standing
/// stops at once on SIGTERM; a restart does not call itself fresh.
#[test]
fn the_readme_cluster_logs_plainly_and_its_last_node_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let args = |i: usize| -> Vec<String> {
        let mut args = vec![
            "--id".to_owned(),
            (i + 1).to_string(),
            "--address".to_owned(),
            addresses[i].clone(),
            "--dir".to_owned(),
            dir.path().join(format!("n{}", i + 1)).display().to_string(),
        ];
        if i > 0 {
            args.extend(["--join".to_owned(), addresses[0].clone()]);
        }
        args
    };
    let start = |i: usize, run: &str| {
        let args = args(i);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start(&args, &dir.path().join(format!("n{}-{run}.log", i + 1)))
    };
    let first = start(0, "first");
    first.wait_for(&["INFO", "this node leads", "term=1"]);
    let mut nodes = vec![first, start(1, "first"), start(2, "first")];
    for node in &nodes[1..] {
        node.wait_for(&["INFO", "joined the cluster"]);
    }
    nodes[0].wait_for(&["cluster membership", "voters=1,2,3"]);
    for (i, node) in nodes.iter().enumerate() {
        let log = node.log();
        assert_plain_and_quiet(&format!("node {}", i + 1), &log);
        assert!(log.contains("fresh=true"), "node {}:\n{log}", i + 1);
    }

    // Nodes 2 and 3 die; node 1, the leader, is told to stop: it has no
    // one to hand leadership to and must not wait for them.
    nodes[1].kill();
    nodes[2].kill();
    std::thread::sleep(Duration::from_millis(1500));
    let (status, took) = nodes[0].terminate();
    let log = nodes[0].log();
    assert!(status.success(), "{status:?}:\n{log}");
    assert!(
        took < Duration::from_secs(2),
        "the last node took {took:?} to stop:\n{log}"
    );
    assert!(
        log.contains("shutting down") && log.contains("reason=\"SIGTERM\""),
        "{log}"
    );
    assert!(log.contains("no other voter answers"), "{log}");
    assert!(
        !log.contains("no longer leads"),
        "node 1 did not lead:\n{log}"
    );
    drop(nodes);

    // A restart of all three: members already, none is fresh.
    let nodes = [start(0, "again"), start(1, "again"), start(2, "again")];
    for node in &nodes {
        node.wait_for(&["INFO", "node started", "fresh=false"]);
        node.wait_for(&["leader="]);
    }
    for (i, node) in nodes.iter().enumerate() {
        let log = node.log();
        assert_plain_and_quiet(&format!("node {} restarted", i + 1), &log);
        assert!(!log.contains("fresh=true"), "node {}:\n{log}", i + 1);
    }
}

/// `--log-format json`: every line is one JSON object with the stable
/// fields, and the significant events carry theirs.
#[test]
fn json_log_lines_parse_with_stable_fields() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let log = dir.path().join("node.log");
    let mut node = Server::start(
        &[
            "--address",
            &address,
            "--dir",
            data.to_str().unwrap(),
            "--log-format",
            "json",
        ],
        &log,
    );
    node.wait_for(&["\"listening\""]);
    node.wait_for(&["this node leads"]);
    let (status, _) = node.terminate();
    assert!(status.success());
    let text = node.log();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line[field].is_string(), "no {field}: {line}");
        }
    }
    let event = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in:\n{text}"))
    };
    let started = event("node started");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["id"], 1);
    assert_eq!(started["address"], address.as_str());
    assert_eq!(started["fresh"], true);
    let leads = event("this node leads: it won the election");
    assert_eq!(leads["leader"], 1);
    assert!(leads["term"].as_u64().unwrap() >= 1);
    assert_eq!(event("cluster membership")["voters"], "1");
    assert_eq!(event("shutting down")["reason"], "SIGTERM");
    assert_eq!(event("node stopped")["id"], 1);
    assert!(!text.contains('\x1b'));
}

/// `--version` names the server's version, the dqlite protocol and the
/// SQLite it embeds.
#[test]
fn version_names_the_server_the_protocol_and_sqlite() {
    let out = Command::new(env!("CARGO_BIN_EXE_dqlite-server"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("dqlite-server {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("dqlite protocol 1"), "{text}");
    let sqlite = text
        .lines()
        .find_map(|l| l.strip_prefix("SQLite "))
        .unwrap_or_else(|| panic!("no SQLite version: {text}"));
    assert!(sqlite.starts_with("3."), "{text}");
}

/// A port in use is one ERROR line and exit status 1, with no backtrace
/// even when `RUST_BACKTRACE` asks for them.
#[test]
fn address_in_use_is_one_line_without_backtrace() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dqlite-server"))
        .args(["--address", &address, "--dir"])
        .arg(dir.path().join("data"))
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(!text.contains("acktrace"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains(&format!("cannot listen on {address}"))
            && errors[0].contains("Address already in use"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// A node other than node 1, on an empty directory and without
/// `--join`, says that it waits to be added.
#[test]
fn a_node_without_a_cluster_says_it_waits_to_be_added() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let node = Server::start(
        &[
            "--id",
            "2",
            "--address",
            &address,
            "--dir",
            data.to_str().unwrap(),
        ],
        &dir.path().join("node.log"),
    );
    node.wait_for(&["WARN", "waits to be added", "--join"]);
    assert_plain_and_quiet("node 2", &node.log());
}
