//! A single-voter node driven through its Rust API: every committed write
//! goes through Raft as WAL frames, survives a restart, and transactions
//! behave as in SQLite.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

mod disk;

use dqlite_server::{Error, Node};
use rusqlite::types::Value;

async fn start(dir: &std::path::Path) -> Node {
    Node::builder(1, "127.0.0.1:9001", dir)
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_a_restart_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE t(r, d, b)").await.unwrap();
    for _ in 0..3 {
        s.exec("INSERT INTO t VALUES (random(), datetime('now'), randomblob(64))")
            .await
            .unwrap();
    }
    let before = s
        .query("SELECT r, d, b FROM t ORDER BY rowid")
        .await
        .unwrap();
    assert_eq!(before.len(), 3);
    drop(s);
    node.stop().await.unwrap();

    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    assert_eq!(
        s.query("SELECT r, d, b FROM t ORDER BY rowid")
            .await
            .unwrap(),
        before
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_transactions_commit_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let a = node.session("app").await.unwrap();
    let b = node.session("app").await.unwrap();
    a.exec("CREATE TABLE t(x)").await.unwrap();
    a.exec("BEGIN").await.unwrap();
    a.exec("INSERT INTO t VALUES (1)").await.unwrap();
    a.exec("INSERT INTO t VALUES (2)").await.unwrap();
    assert_eq!(
        b.query("SELECT count(*) FROM t").await.unwrap(),
        [[Value::Integer(0)]]
    );
    // Another writer is refused while the transaction is open.
    let err = b.exec("INSERT INTO t VALUES (9)").await.unwrap_err();
    assert!(matches!(err, Error::Sqlite { code: 5, .. }), "{err}");
    a.exec("COMMIT").await.unwrap();
    assert_eq!(
        b.query("SELECT sum(x) FROM t").await.unwrap(),
        [[Value::Integer(3)]]
    );
    a.exec("BEGIN; INSERT INTO t VALUES (100)").await.unwrap();
    a.exec("ROLLBACK").await.unwrap();
    assert_eq!(
        b.query("SELECT sum(x) FROM t").await.unwrap(),
        [[Value::Integer(3)]]
    );
    // A session closed inside a transaction rolls it back and frees the lock.
    a.exec("BEGIN; INSERT INTO t VALUES (1000)").await.unwrap();
    drop(a);
    b.exec("INSERT INTO t VALUES (4)").await.unwrap();
    assert_eq!(
        b.query("SELECT sum(x) FROM t").await.unwrap(),
        [[Value::Integer(7)]]
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_larger_than_the_page_cache_commits_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    s.exec(
        "PRAGMA cache_size=10; CREATE TABLE t(x);
         BEGIN;
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
         INSERT INTO t SELECT randomblob(200) FROM c;
         COMMIT;",
    )
    .await
    .unwrap();
    let digest = "SELECT count(*), sum(length(x)), hex(min(x)) FROM t";
    let before = s.query(digest).await.unwrap();
    drop(s);
    node.stop().await.unwrap();
    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    assert_eq!(s.query(digest).await.unwrap(), before);
    assert_eq!(before[0][0], Value::Integer(5000));
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_returning_is_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
        .await
        .unwrap();
    let rows = s
        .query("INSERT INTO t(v) VALUES ('a'), ('b') RETURNING id, v")
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    drop(s);
    node.stop().await.unwrap();
    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    assert_eq!(
        s.query("SELECT id, v FROM t ORDER BY id").await.unwrap(),
        rows
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_rebuilt_from_snapshot_and_log_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::builder(1, "127.0.0.1:9001", dir.path())
        .snapshot_every(5)
        .start()
        .await
        .unwrap();
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE t(x)").await.unwrap();
    let other = node.session("other").await.unwrap();
    other.exec("CREATE TABLE u(y)").await.unwrap();
    for i in 0..23 {
        s.exec(&format!("INSERT INTO t VALUES ({i})"))
            .await
            .unwrap();
    }
    other.exec("INSERT INTO u VALUES ('kept')").await.unwrap();
    // The snapshot policy looks every 100 ms.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !dir.path().join("state/applied").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot was taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop((s, other));
    node.stop().await.unwrap();

    let node = Node::builder(1, "127.0.0.1:9001", dir.path())
        .start()
        .await
        .unwrap();
    let s = node.session("app").await.unwrap();
    assert_eq!(
        s.query("SELECT count(*), sum(x) FROM t").await.unwrap(),
        [[Value::Integer(23), Value::Integer(253)]]
    );
    let other = node.session("other").await.unwrap();
    assert_eq!(
        other.query("SELECT y FROM u").await.unwrap(),
        [[Value::Text("kept".into())]]
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_belongs_to_one_node() {
    let dir = tempfile::tempdir().unwrap();
    start(dir.path()).await.stop().await.unwrap();
    let err = Node::builder(2, "127.0.0.1:9002", dir.path())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = Node::builder(0, "127.0.0.1:9002", dir.path())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_is_a_standalone_database() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    let image = tokio::time::timeout(std::time::Duration::from_secs(5), s.dump())
        .await
        .expect("dump finishes")
        .unwrap();
    let path = dir.path().join("dump.db");
    std::fs::write(&path, image).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        conn.query_row("SELECT sum(x) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        3
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_pipeline_without_locking_each_other_out() {
    // Each writer's transaction frees the write lock as soon as SQLite
    // commits it (the next one builds on it while Raft replicates), so
    // autocommit writers never see "database is locked", even with no
    // busy timeout. (Before pipelining they did, and a writer refused that
    // way once submitted another connection's pending transaction a
    // second time, which stopped Raft.)
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    node.session("app")
        .await
        .unwrap()
        .exec("CREATE TABLE t(w, i)")
        .await
        .unwrap();
    // Each writer drives its session from a thread of its own, so their
    // SQLite work really runs side by side with the node's thread.
    let mut writers = Vec::new();
    for w in 0..8 {
        let s = node.session("app").await.unwrap();
        writers.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                for i in 0..40 {
                    let wrote = s.exec(&format!("INSERT INTO t VALUES ({w}, {i})")).await;
                    assert_eq!(wrote.unwrap().rows_affected, 1, "writer {w}");
                }
            });
        }));
    }
    for writer in writers {
        writer.join().unwrap();
    }
    let s = node.session("app").await.unwrap();
    assert_eq!(
        s.query("SELECT count(*), count(DISTINCT w * 100 + i) FROM t")
            .await
            .unwrap(),
        [[Value::Integer(320), Value::Integer(320)]]
    );
    node.stop().await.unwrap();
}

/// A node with `timeout` as busy timeout and two sessions, the first
/// inside a write transaction.
async fn writer_holding_the_lock(
    dir: &std::path::Path,
    timeout: std::time::Duration,
) -> (Node, dqlite_server::Session, dqlite_server::Session) {
    let node = Node::builder(1, "127.0.0.1:9001", dir)
        .busy_timeout(timeout)
        .start()
        .await
        .unwrap();
    let a = node.session("app").await.unwrap();
    let b = node.session("app").await.unwrap();
    a.exec("CREATE TABLE t(x)").await.unwrap();
    a.exec("BEGIN").await.unwrap();
    a.exec("INSERT INTO t VALUES (1)").await.unwrap();
    (node, a, b)
}

#[tokio::test]
async fn a_busy_timeout_queues_a_second_writer_until_the_first_commits() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let (node, a, b) = writer_holding_the_lock(dir.path(), Duration::from_secs(5)).await;
    let started = Instant::now();
    // B's insert waits for A's transaction; A commits 300 ms later.
    let (waited, committed) = tokio::join!(b.exec("INSERT INTO t VALUES (2)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.exec("COMMIT").await
    });
    committed.unwrap();
    waited.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the commit"
    );
    assert_eq!(
        b.query("SELECT x FROM t ORDER BY x").await.unwrap(),
        [[Value::Integer(1)], [Value::Integer(2)]]
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_busy_timeout_expires_with_database_is_locked() {
    use std::time::{Duration, Instant};
    for timeout in [Duration::ZERO, Duration::from_millis(400)] {
        let dir = tempfile::tempdir().unwrap();
        let (node, a, b) = writer_holding_the_lock(dir.path(), timeout).await;
        let started = Instant::now();
        let err = b.exec("INSERT INTO t VALUES (2)").await.unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, Error::Sqlite { code: 5, .. }), "{err}");
        assert_eq!(err.failure(), (5, "database is locked".into()));
        assert!(waited >= timeout, "{waited:?} < {timeout:?}");
        assert!(waited < timeout + Duration::from_secs(2), "{waited:?}");
        // Closing A rolls its transaction back; B can write at once.
        drop(a);
        b.exec("INSERT INTO t VALUES (3)").await.unwrap();
        node.stop().await.unwrap();
    }
}

/// Bytes of every file under `dir`.
fn disk_use(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                disk_use(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_stays_bounded_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    // The log behind a snapshot keeps its default 8192 entries, but no
    // more than 8 MiB of them.
    let node = Node::builder(1, "127.0.0.1:9001", dir.path())
        .snapshot_every(64)
        .snapshot_trailing_bytes(8 << 20)
        .start()
        .await
        .unwrap();
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
        .await
        .unwrap();
    // 1,600 transactions of 16 pages or more: over 100 MiB of log for a
    // database that never holds more than 8 rows of 64 KiB.
    let mut peak = 0;
    for i in 0..1600 {
        s.exec(&format!(
            "INSERT OR REPLACE INTO t VALUES ({}, randomblob(65536))",
            i % 8
        ))
        .await
        .unwrap();
        if i % 100 == 99 {
            peak = peak.max(disk_use(dir.path()));
        }
    }
    // A few 16 MiB log segments (one of them a spare, preallocated: the
    // 8 MiB kept, the entries since the last snapshot) and a database of
    // well under 1 MiB, with room to spare; the 8192 entries would be
    // over 100 MiB.
    assert!(peak < 64 << 20, "{} MiB on disk", peak >> 20);
    assert_eq!(
        s.query("SELECT count(*), sum(length(v)) FROM t")
            .await
            .unwrap(),
        [[Value::Integer(8), Value::Integer(8 * 65536)]]
    );
    node.stop().await.unwrap();
}

/// As with C dqlite (whose log go-dqlite's `ReadLastEntryInfo` reads): a
/// fresh sole voter leads at term 1, and each restart adds one election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_voter_is_elected_once_per_start() {
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let node = start(dir.path()).await;
        node.session("app")
            .await
            .unwrap()
            .exec("CREATE TABLE t(n)")
            .await
            .unwrap();
        assert_eq!(node.term(), 1, "fresh start {round}");
        node.stop().await.unwrap();
        if round % 10 == 0 {
            let node = start(dir.path()).await;
            assert_eq!(node.term(), 2, "restart after fresh start {round}");
            node.stop().await.unwrap();
        }
    }
}
