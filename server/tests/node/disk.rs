//! What a node reads back from its disk is checked: a damaged snapshot,
//! a lost identity file or an impossible stored vote stop the start with
//! an error naming the file, never a panic nor wrong data served.

use std::path::Path;
use std::time::{Duration, Instant};

use dqlite_server::internals::log_file::LogFile;
use dqlite_server::internals::typ::Vote;
use dqlite_server::{Error, Node};
use rusqlite::types::Value;

const ROWS: i64 = 600;

/// A node with `ROWS` rows and a snapshot on disk, stopped.
async fn node_with_a_snapshot(dir: &Path) {
    let node = Node::builder(1, "127.0.0.1:9001", dir)
        .snapshot_every(5)
        .start()
        .await
        .unwrap();
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER, pad BLOB)").await.unwrap();
    for chunk in 0..ROWS / 100 {
        s.exec(&format!(
            "WITH RECURSIVE n(i) AS (SELECT {} UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
             INSERT INTO t SELECT i, randomblob(200) FROM n",
            chunk * 100,
            chunk * 100 + 99
        ))
        .await
        .unwrap();
    }
    // The snapshot policy looks every 100 ms; wait for a durable point
    // taken after the last insert was applied (each round writes, then
    // deletes, a 16 KiB blob, so that points keep coming).
    let deadline = Instant::now() + Duration::from_secs(60);
    let path = dir.join("state/applied");
    let mut rounds = 0;
    loop {
        if path.exists() && rounds >= 6 {
            break;
        }
        rounds += 1;
        assert!(Instant::now() < deadline, "no snapshot was taken");
        s.exec("INSERT INTO t VALUES (-1, randomblob(16384))")
            .await
            .unwrap();
        s.exec("DELETE FROM t WHERE i = -1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(s);
    node.stop().await.unwrap();
}

async fn start(dir: &Path) -> Result<Node, Error> {
    Node::builder(1, "127.0.0.1:9001", dir).start().await
}

/// Starts the node of `dir`, checks that it reads every row written by
/// [`node_with_a_snapshot`], and stops it.
async fn serves_every_row(dir: &Path) {
    let node = start(dir).await.unwrap();
    let s = node.session("app").await.unwrap();
    assert_eq!(
        s.query("SELECT count(*) FROM t WHERE i >= 0")
            .await
            .unwrap(),
        [[Value::Integer(ROWS)]]
    );
    drop(s);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_file_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    node_with_a_snapshot(dir.path()).await;
    let path = dir.path().join("state/applied");
    let intact = std::fs::read(&path).unwrap();

    // The node serves every row from the intact files.
    serves_every_row(dir.path()).await;

    // One flipped byte anywhere, and a truncated file: the node does not
    // start, and names the file.
    let len = intact.len();
    for (what, at) in [
        ("the middle", len / 2),
        ("the magic", 3),
        ("the length", 9),
        ("the checksum", 13),
        ("the last byte", len - 1),
    ] {
        let mut damaged = intact.clone();
        damaged[at] ^= 0x10;
        std::fs::write(&path, &damaged).unwrap();
        let err = start(dir.path()).await.unwrap_err().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("damaged"),
            "{what}: {err}"
        );
    }
    std::fs::write(&path, &intact[..len - 3]).unwrap();
    let err = start(dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("damaged"), "truncated: {err}");

    // Put back, the file serves again.
    std::fs::write(&path, &intact).unwrap();
    serves_every_row(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_file_is_required_once_the_directory_holds_raft_state() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await.unwrap();
    node.session("app")
        .await
        .unwrap()
        .exec("CREATE TABLE t(x)")
        .await
        .unwrap();
    node.stop().await.unwrap();
    std::fs::remove_file(dir.path().join("node")).unwrap();
    // Not even the right id and address may start without it: nothing
    // says whose state this is.
    let err = start(dir.path()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("no identity file")),
        "{err}"
    );
    let err = Node::builder(2, "127.0.0.1:9002", dir.path())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    // An empty directory still starts (and records its identity).
    let fresh = tempfile::tempdir().unwrap();
    start(fresh.path()).await.unwrap().stop().await.unwrap();
    assert!(fresh.path().join("node").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_stored_vote_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    start(dir.path()).await.unwrap().stop().await.unwrap();
    // What a forged vote at term u64::MAX left on disk before the
    // network refused such votes.
    let mut log = LogFile::open(dir.path().join("raft-log")).unwrap();
    let vote = postcard::to_allocvec(&Vote::new(u64::MAX, 99)).unwrap();
    log.set_meta("raft.vote", &vote).unwrap();
    drop(log);
    let err = start(dir.path()).await.unwrap_err().to_string();
    assert!(err.contains("stored vote's term"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_file_is_an_error_never_data() {
    let dir = tempfile::tempdir().unwrap();
    node_with_a_snapshot(dir.path()).await;
    // The database's file at the durable point, one bit flipped in the
    // middle (table data no write touched since).
    let file = std::fs::read_dir(dir.path().join("db"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 100_000, "{} bytes", bytes.len());
    let at = bytes.len() / 2;
    bytes[at] ^= 0x08;
    std::fs::write(&file, &bytes).unwrap();

    // The node starts (nothing is read whole at start), and the scan
    // that reaches the damaged block fails instead of answering.
    let node = start(dir.path()).await.unwrap();
    let s = node.session("app").await.unwrap();
    let err = s
        .query("SELECT count(*), sum(length(pad)) FROM t")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("malformed"), "{err}");
    drop(s);
    node.stop().await.unwrap();

    // Put back, the same query answers.
    bytes[at] ^= 0x08;
    std::fs::write(&file, &bytes).unwrap();
    serves_every_row(dir.path()).await;
}
