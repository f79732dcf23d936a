//! Checkpoint and progress lines, as an operator reads them: a checkpoint
//! after more than 1000 WAL frames (and not after every write), progress
//! of a snapshot received by a new node and sent by the leader, and
//! progress of `dqlite-server restore`. The progress interval is cut to
//! nothing with `DQLITE_PROGRESS_INTERVAL_MS=0` (a line at every step), so
//! that operations of a few megabytes show their lines.

use std::process::{Command, Stdio};

use dqlite_client::sql::SqlInfo;
use dqlite_client::{Config, Session};

use super::process::free_port;
use super::{Server, assert_plain_and_quiet};

/// A line at every step of an operation.
const EVERY_STEP: (&str, &str) = ("DQLITE_PROGRESS_INTERVAL_MS", "0");

/// Rows of 3000 random bytes (one 4 KiB page each) inserted per
/// statement; three statements make more than 1000 WAL frames.
const ROWS_PER_STATEMENT: usize = 400;

/// Runs each of `statements` in database `db` through the leader at
/// `address`.
fn exec(address: &str, db: &str, statements: &[String]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = Config::new(db);
        config.add_node(address);
        let mut session = Session::new(config).unwrap();
        for sql in statements {
            session
                .exec_sql(sql, &SqlInfo::new(sql), Vec::new())
                .await
                .unwrap();
        }
    });
}

/// A table `t` and 1200 rows of 3000 random bytes: about 5 MB, 1200
/// pages, in three write transactions.
fn fill(address: &str, db: &str) {
    let mut statements = vec!["CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)".to_owned()];
    for _ in 0..3 {
        statements.push(format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS_PER_STATEMENT}) \
             INSERT INTO t(pad) SELECT randomblob(3000) FROM c"
        ));
    }
    exec(address, db, &statements);
}

/// The number after ` NAME=` in a text log line.
fn field(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!(" {name}="))? + name.len() + 2;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The JSON log lines of `text` whose message is `message`.
fn events(text: &str, message: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == message)
        .collect()
}

/// Checks the stable progress fields of a JSON line counting `unit`.
fn assert_progress_fields(line: &serde_json::Value, unit: &str) {
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["unit"], unit, "{line}");
    let done = line["done"].as_u64().unwrap();
    let total = line["total"].as_u64().unwrap();
    assert!(done > 0 && done <= total, "{line}");
    assert_eq!(
        line["percent"].as_u64().unwrap(),
        done * 100 / total,
        "{line}"
    );
    for name in ["rate_per_sec", "eta_secs", "elapsed_ms"] {
        assert!(line[name].is_u64(), "no {name}: {line}");
    }
}

/// More than 1000 WAL frames of writes make one checkpoint line with the
/// database, the frames folded, the resulting size and the duration;
/// small writes after it make none.
#[test]
fn a_checkpoint_is_one_line_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let node = Server::start(
        &["--address", &address, "--dir", data.to_str().unwrap()],
        &dir.path().join("node.log"),
    );
    node.wait_for(&["this node leads"]);
    fill(&address, "app");
    node.wait_for(&["INFO", "checkpointed a database", "db=app"]);
    // Small writes: no checkpoint each.
    let small: Vec<String> = (0..20)
        .map(|i| format!("INSERT INTO t(pad) VALUES (x'{i:02x}')"))
        .collect();
    exec(&address, "app", &small);
    let log = node.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("checkpointed a database"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let frames = field(lines[0], "frames").unwrap();
    assert!((1000..=1300).contains(&frames), "{log}");
    // The main file holds at least the rows checkpointed so far.
    let bytes = field(lines[0], "db_bytes").unwrap();
    assert!(bytes >= 3000 * 900, "{log}");
    assert!(field(lines[0], "duration_ms").is_some(), "{log}");
    assert_plain_and_quiet("node", &log);
}

/// A node that joins a cluster whose log was compacted receives the
/// leader's snapshot of a few MB in 1 MiB chunks: it logs how far the
/// transfer got (bytes done of the total, rate, time left), and so does
/// the leader sending it.
#[test]
fn a_snapshot_transfer_logs_its_progress_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let first = format!("127.0.0.1:{}", free_port());
    let second = format!("127.0.0.1:{}", free_port());
    let n1 = dir.path().join("n1");
    let n2 = dir.path().join("n2");
    let leader = Server::start_with_env(
        &[
            "--address",
            &first,
            "--dir",
            n1.to_str().unwrap(),
            "--snapshot-every",
            "1",
            // The whole log goes at each snapshot: the follower needs one.
            "--snapshot-trailing",
            "0",
            "--log-format",
            "json",
        ],
        &[EVERY_STEP],
        &dir.path().join("n1.log"),
    );
    leader.wait_for(&["this node leads"]);
    fill(&first, "app");
    // A snapshot of more than one chunk (which snapshots the policy
    // takes depends on timing: at least the first write's): the log
    // before it is gone.
    let deadline = std::time::Instant::now() + super::WAIT;
    while !events(&leader.log(), "took a snapshot")
        .iter()
        .any(|e| e["bytes"].as_u64().unwrap_or(0) > 1_200_000)
    {
        assert!(std::time::Instant::now() < deadline, "{}", leader.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let follower = Server::start_with_env(
        &[
            "--id",
            "2",
            "--address",
            &second,
            "--dir",
            n2.to_str().unwrap(),
            "--join",
            &first,
            "--log-format",
            "json",
        ],
        &[EVERY_STEP],
        &dir.path().join("n2.log"),
    );
    follower.wait_for(&["installed a snapshot from the leader"]);
    leader.wait_for(&["sent a snapshot"]);

    let log = follower.log();
    let installed = &events(&log, "installed a snapshot from the leader")[0];
    let size = installed["bytes"].as_u64().unwrap();
    // The first transfer's lines (the leader, taking a snapshot after
    // every entry, may have to send a newer one next).
    let all = events(&log, "receiving a snapshot");
    let first_end = all
        .iter()
        .position(|l| l["done"] == l["total"])
        .expect("the transfer's last line");
    let received = &all[..=first_end];
    // The stream is the databases and a short header (which travels
    // alone first): one line for it, then one per 1 MiB chunk, the last
    // one included.
    assert!(size > 1 << 20, "{log}");
    let total = received[0]["total"].as_u64().unwrap();
    assert!(total > size && total - size < 4096, "{log}");
    assert_eq!(
        received.len(),
        1 + usize::try_from((total - received[0]["done"].as_u64().unwrap()).div_ceil(1 << 20))
            .unwrap(),
        "{log}"
    );
    for line in received {
        assert_progress_fields(line, "bytes");
        assert_eq!(line["total"].as_u64(), Some(total), "{line}");
        assert_eq!(line["leader"], 1, "{line}");
    }
    assert!(
        received.iter().any(|l| l["done"].as_u64().unwrap() < size),
        "{log}"
    );

    let log = leader.log();
    let sending = events(&log, "sending a snapshot");
    assert!(!sending.is_empty(), "{log}");
    for line in &sending {
        assert_progress_fields(line, "bytes");
        assert_eq!(line["peer"], 2, "{line}");
        assert_eq!(line["total"].as_u64(), Some(total), "{line}");
    }
}

/// `dqlite-server restore` of a file of 3000 rows (copied about 340 rows
/// a statement) logs its progress in rows to its stderr.
#[test]
fn a_restore_logs_its_progress_in_rows() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let node = Server::start(
        &["--address", &address, "--dir", data.to_str().unwrap()],
        &dir.path().join("node.log"),
    );
    node.wait_for(&["this node leads"]);
    let file = dir.path().join("source.db");
    let source = rusqlite::Connection::open(&file).unwrap();
    source
        .execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
             INSERT INTO t(pad) SELECT randomblob(3000) FROM c;",
        )
        .unwrap();
    drop(source);

    let out = Command::new(env!("CARGO_BIN_EXE_dqlite-server"))
        .args(["restore", "--servers", &address, "--db", "copy"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .env(EVERY_STEP.0, EVERY_STEP.1)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains("restoring"))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert!(
            line.contains("db=copy") && line.contains("unit=\"rows\""),
            "{line}"
        );
        assert_eq!(field(line, "total"), Some(3000), "{line}");
        let done = field(line, "done").unwrap();
        assert!(done > 0 && done <= 3000, "{line}");
        for name in ["percent", "rate_per_sec", "eta_secs", "elapsed_ms"] {
            assert!(field(line, name).is_some(), "no {name}: {line}");
        }
    }
    assert!(
        lines.iter().any(|l| field(l, "done") < Some(3000)),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr}");
}

/// A voter that was down while the cluster took 1200 writes comes back:
/// the leader logs its catch-up (entries done of the total) and the line
/// that it caught up.
#[test]
fn a_peer_far_behind_is_reported_catching_up() {
    let dir = tempfile::tempdir().unwrap();
    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let start = |i: usize, run: &str| {
        let data = dir.path().join(format!("n{}", i + 1));
        let id = (i + 1).to_string();
        let mut args = vec![
            "--id",
            &id,
            "--address",
            &addresses[i],
            "--dir",
            data.to_str().unwrap(),
            // No snapshot: the peer catches up from the log.
            "--snapshot-every",
            "100000",
            "--log-format",
            "json",
        ];
        if i > 0 {
            args.extend(["--join", &addresses[0]]);
        }
        Server::start_with_env(
            &args,
            &[EVERY_STEP],
            &dir.path().join(format!("n{}-{run}.log", i + 1)),
        )
    };
    let leader = start(0, "first");
    leader.wait_for(&["this node leads"]);
    let mut others = vec![start(1, "first"), start(2, "first")];
    leader.wait_for(&["cluster membership", "\"voters\":\"1,2,3\""]);
    others[1].kill();
    let mut writes = vec!["CREATE TABLE t(x)".to_owned()];
    writes.extend((0..1200).map(|i| format!("INSERT INTO t VALUES ({i})")));
    exec(&addresses[0], "app", &writes);
    others.push(start(2, "again"));
    leader.wait_for(&["peer caught up"]);

    let log = leader.log();
    let caught_up = events(&log, "peer caught up");
    assert_eq!(caught_up.len(), 1, "{log}");
    assert_eq!(caught_up[0]["peer"], 3, "{log}");
    assert!(caught_up[0]["entries"].as_u64().unwrap() >= 1000, "{log}");
    assert!(caught_up[0]["duration_ms"].is_u64(), "{log}");
    let progress = events(&log, "catching up a peer");
    assert!(!progress.is_empty(), "{log}");
    for line in &progress {
        assert_progress_fields(line, "entries");
        assert_eq!(line["peer"], 3, "{line}");
    }
}
