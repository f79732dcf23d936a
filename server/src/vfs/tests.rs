//! The VFS against real SQLite connections: a "leader" VFS whose commits
//! are captured, and "follower" VFSes that apply the captured frames.

use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::*;

/// A VFS with a name no other test uses (registration is process-wide).
fn vfs(role: &str) -> Vfs {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Vfs::register(&format!("test-{role}-{n}")).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Runs `sql` on the leader connection and replicates it: poll, publish
/// locally, apply on each follower. Returns the frames.
fn replicate(leader: &Vfs, conn: &Connection, sql: &str, followers: &[&Vfs]) -> Frames {
    conn.execute_batch(sql).unwrap();
    let frames = leader.poll("db").unwrap().expect("a pending transaction");
    leader.publish("db", frames.tx_id).unwrap();
    for follower in followers {
        follower.apply("db", &frames).unwrap();
    }
    frames
}

fn main_file(vfs: &Vfs) -> Vec<u8> {
    vfs.with("db", false, |db| db.main.clone()).unwrap()
}

#[test]
fn a_commit_is_invisible_until_published() {
    let leader = vfs("leader");
    let writer = leader.open("db").unwrap();
    let reader = leader.open("db").unwrap();
    writer.execute_batch("CREATE TABLE t(x)").unwrap();
    let frames = leader.poll("db").unwrap().expect("pending");
    assert!(!frames.pages.is_empty());
    assert_eq!(frames.page_size, PAGE_SIZE);
    assert_eq!(count(&reader, "SELECT count(*) FROM sqlite_master"), 0);
    // The write lock is kept: another writer is refused meanwhile.
    let err = reader.execute_batch("CREATE TABLE u(y)").unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    leader.publish("db", frames.tx_id).unwrap();
    assert_eq!(leader.poll("db").unwrap(), None);
    assert_eq!(count(&reader, "SELECT count(*) FROM sqlite_master"), 1);
    // Both connections can write again.
    reader.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    let frames = leader.poll("db").unwrap().unwrap();
    leader.publish("db", frames.tx_id).unwrap();
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 1);
}

#[test]
fn an_aborted_commit_never_becomes_visible() {
    let leader = vfs("leader");
    let writer = leader.open("db").unwrap();
    let reader = leader.open("db").unwrap();
    replicate(&leader, &writer, "CREATE TABLE t(x)", &[]);
    writer.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    assert!(leader.poll("db").unwrap().is_some());
    leader.abort("db").unwrap();
    assert_eq!(count(&reader, "SELECT count(*) FROM t"), 0);
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 0);
    // The lock is free and the database still consistent.
    replicate(&leader, &writer, "INSERT INTO t VALUES (2)", &[]);
    assert_eq!(count(&reader, "SELECT sum(x) FROM t"), 2);
    assert_eq!(
        reader
            .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
}

#[test]
fn followers_reproduce_non_deterministic_writes_exactly() {
    let leader = vfs("leader");
    let follower = vfs("follower");
    let conn = leader.open("db").unwrap();
    replicate(&leader, &conn, "CREATE TABLE t(r, d)", &[&follower]);
    for _ in 0..5 {
        replicate(
            &leader,
            &conn,
            "INSERT INTO t VALUES (random(), datetime('now', '+' || abs(random() % 1000) || ' seconds'))",
            &[&follower],
        );
    }
    let rows = |c: &Connection| -> Vec<(i64, String)> {
        let mut stmt = c.prepare("SELECT r, d FROM t ORDER BY rowid").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let replica = follower.open("db").unwrap();
    assert_eq!(rows(&replica).len(), 5);
    assert_eq!(rows(&replica), rows(&conn));
    assert_eq!(
        follower.wal_frames("db").unwrap(),
        leader.wal_frames("db").unwrap()
    );
    // More writes reach a follower that has open readers.
    replicate(
        &leader,
        &conn,
        "INSERT INTO t VALUES (1, 'x')",
        &[&follower],
    );
    assert_eq!(rows(&replica), rows(&conn));
}

#[test]
fn a_rolled_back_transaction_leaves_nothing() {
    let leader = vfs("leader");
    let conn = leader.open("db").unwrap();
    replicate(&leader, &conn, "CREATE TABLE t(x)", &[]);
    let frames_before = leader.wal_frames("db").unwrap();
    // A small cache forces SQLite to spill uncommitted pages into the WAL.
    conn.execute_batch(
        "PRAGMA cache_size=10; BEGIN;
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
         INSERT INTO t SELECT randomblob(100) FROM c;
         ROLLBACK;",
    )
    .unwrap();
    assert_eq!(leader.poll("db").unwrap(), None);
    assert_eq!(leader.wal_frames("db").unwrap(), frames_before);
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 0);
    replicate(&leader, &conn, "INSERT INTO t VALUES (1)", &[]);
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 1);
}

#[test]
fn a_transaction_larger_than_the_page_cache_replicates() {
    let leader = vfs("leader");
    let follower = vfs("follower");
    let conn = leader.open("db").unwrap();
    replicate(&leader, &conn, "CREATE TABLE t(x)", &[&follower]);
    let frames = replicate(
        &leader,
        &conn,
        "PRAGMA cache_size=10; BEGIN;
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
         INSERT INTO t SELECT randomblob(100) FROM c;
         UPDATE t SET x = randomblob(50) WHERE rowid % 2 = 0;
         COMMIT;",
        &[&follower],
    );
    // Pages spilled then changed again are rewritten in place, except that
    // the commit frame is always appended: a page may appear twice, and the
    // later frame wins when applied.
    let mut pages: Vec<u32> = frames.pages.iter().map(|(p, _)| *p).collect();
    let total = pages.len();
    pages.sort_unstable();
    pages.dedup();
    assert!(
        total > 100 && total - pages.len() <= 1,
        "{total} frames, {} pages",
        pages.len()
    );
    let replica = follower.open("db").unwrap();
    let digest = "SELECT count(*), sum(length(x)), hex(max(x)) FROM t";
    let read = |c: &Connection| -> (i64, i64, String) {
        c.query_row(digest, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
    };
    assert_eq!(read(&replica), read(&conn));
    assert_eq!(read(&replica).0, 5000);
}

#[test]
fn checkpoints_empty_the_wal_and_databases_stay_byte_identical() {
    let leader = vfs("leader");
    let follower = vfs("follower");
    let conn = leader.open("db").unwrap();
    let replica = follower_conn_after(&leader, &follower, &conn);
    for i in 0..20 {
        replicate(
            &leader,
            &conn,
            &format!("INSERT INTO t VALUES ({i}, randomblob(300))"),
            &[&follower],
        );
    }
    for (vfs, c) in [(&leader, &conn), (&follower, &replica)] {
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(vfs.wal_frames("db").unwrap(), 0);
    }
    assert!(!main_file(&leader).is_empty());
    assert_eq!(main_file(&leader), main_file(&follower));
    // Writing and applying go on after the WAL was emptied.
    replicate(
        &leader,
        &conn,
        "INSERT INTO t VALUES (100, x'00')",
        &[&follower],
    );
    assert_eq!(count(&replica, "SELECT count(*) FROM t"), 21);
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 21);
    for c in [&conn, &replica] {
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    assert_eq!(main_file(&leader), main_file(&follower));
}

/// Creates table `t(a, b)` on the leader, replicated to the follower, and
/// opens a follower connection.
fn follower_conn_after(leader: &Vfs, follower: &Vfs, conn: &Connection) -> Connection {
    replicate(leader, conn, "CREATE TABLE t(a, b)", &[follower]);
    follower.open("db").unwrap()
}

#[test]
fn vfs_checkpoint_folds_the_wal_and_connections_read_on() {
    let leader = vfs("leader");
    let follower = vfs("follower");
    let writer = leader.open("db").unwrap();
    let reader = leader.open("db").unwrap();
    replicate(&leader, &writer, "CREATE TABLE t(x)", &[&follower]);
    for i in 0..5 {
        replicate(
            &leader,
            &writer,
            &format!("INSERT INTO t VALUES ({i})"),
            &[&follower],
        );
    }
    assert_eq!(count(&reader, "SELECT count(*) FROM t"), 5);
    for vfs in [&leader, &follower] {
        assert!(vfs.checkpoint_if_over("db", 1).unwrap());
        assert_eq!(vfs.wal_frames("db").unwrap(), 0);
    }
    assert_eq!(main_file(&leader), main_file(&follower));
    assert_eq!(count(&reader, "SELECT count(*) FROM t"), 5);
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 5);
    replicate(&leader, &writer, "INSERT INTO t VALUES (5)", &[&follower]);
    assert_eq!(count(&reader, "SELECT count(*) FROM t"), 6);
    assert_eq!(
        count(&follower.open("db").unwrap(), "SELECT count(*) FROM t"),
        6
    );
    // Not while a connection is inside a transaction.
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM t;")
        .unwrap();
    assert!(!leader.checkpoint_if_over("db", 1).unwrap());
    reader.execute_batch("COMMIT").unwrap();
    assert!(leader.checkpoint_if_over("db", 1).unwrap());
}
