//! The VFS against real SQLite connections: a "leader" VFS whose commits
//! are captured, and "follower" VFSes that apply the captured frames.

use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::frames::PAGE_SIZE;
use super::*;

/// A VFS with a name no other test uses (registration is process-wide).
fn vfs(role: &str) -> Vfs {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Registration is for the process's life; so is this directory.
    static FILES: std::sync::LazyLock<tempfile::TempDir> =
        std::sync::LazyLock::new(|| tempfile::tempdir().unwrap());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Vfs::register(
        &format!("test-{role}-{n}"),
        &FILES.path().join(n.to_string()),
    )
    .unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// The frames of the one transaction pending on `vfs`.
fn only_pending(vfs: &Vfs) -> Frames {
    let mut all = vfs.frames_after("db", None).unwrap();
    assert_eq!(all.len(), 1, "one pending transaction");
    all.remove(0)
}

/// Runs `sql` on the leader connection and replicates it: take the
/// frames, publish locally, apply on each follower. Returns the frames.
fn replicate(leader: &Vfs, conn: &Connection, sql: &str, followers: &[&Vfs]) -> Frames {
    conn.execute_batch(sql).unwrap();
    let frames = only_pending(leader);
    leader.publish("db", frames.tx_id).unwrap();
    for follower in followers {
        follower.apply("db", &frames).unwrap();
    }
    frames
}

/// SQLite's own integrity check passes on `conn`'s database.
fn assert_intact(conn: &Connection) {
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
}

fn main_file(vfs: &Vfs) -> Vec<u8> {
    vfs.with("db", false, |db| db.main.read_all().unwrap())
        .unwrap()
}

#[test]
fn commits_pipeline_and_publish_in_order() {
    let leader = vfs("leader");
    let writer = leader.open("db").unwrap();
    let other = leader.open("db").unwrap();
    writer.execute_batch("CREATE TABLE t(x)").unwrap();
    let first = only_pending(&leader);
    assert!(!first.pages.is_empty());
    assert_eq!(first.page_size, PAGE_SIZE);
    let mut ticket = leader.last_tx("db").unwrap().expect("a ticket");
    assert_eq!(ticket.id, first.tx_id);
    assert_eq!(ticket.state(), TxState::Pending);
    // The write lock is free at once: another connection builds on the
    // pending transaction.
    other.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    let both = leader.frames_after("db", None).unwrap();
    assert_eq!(both.len(), 2);
    let second = leader.frames_after("db", Some(first.tx_id)).unwrap();
    assert_eq!(second, vec![both[1].clone()]);
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 1);
    // Raft commits them oldest first.
    assert!(leader.publish("db", second[0].tx_id).is_err());
    leader.publish("db", first.tx_id).unwrap();
    assert_eq!(ticket.state(), TxState::Committed);
    let mut last = leader.last_tx("db").unwrap().expect("a ticket");
    assert_eq!(last.id, second[0].tx_id);
    leader.publish("db", second[0].tx_id).unwrap();
    let settled = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async { (ticket.settled().await, last.settled().await) });
    assert_eq!(settled, (TxState::Committed, TxState::Committed));
    assert!(leader.last_tx("db").unwrap().is_none());
    assert_eq!(leader.wal_frames("db").unwrap(), {
        let n = first.pages.len() + second[0].pages.len();
        u32::try_from(n).unwrap()
    });
}

#[test]
fn an_abort_drops_a_transaction_and_everything_built_on_it() {
    let leader = vfs("leader");
    let writer = leader.open("db").unwrap();
    let reader = leader.open("db").unwrap();
    let reader_id = leader.file_id(&reader).expect("our connection");
    replicate(&leader, &writer, "CREATE TABLE t(x)", &[]);
    writer.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    let first = leader.last_tx("db").unwrap().unwrap();
    writer.execute_batch("INSERT INTO t VALUES (2)").unwrap();
    let second = leader.last_tx("db").unwrap().unwrap();
    writer.execute_batch("INSERT INTO t VALUES (4)").unwrap();
    let third = leader.last_tx("db").unwrap().unwrap();
    // A reader in a transaction sees all three.
    reader.execute_batch("BEGIN").unwrap();
    assert_eq!(count(&reader, "SELECT sum(x) FROM t"), 7);
    leader.publish("db", first.id).unwrap();
    assert!(leader.abort_from("db", second.id).unwrap());
    assert!(!leader.abort_from("db", second.id).unwrap(), "only once");
    assert_eq!(first.state(), TxState::Committed);
    assert_eq!(second.state(), TxState::Aborted);
    assert_eq!(third.state(), TxState::Aborted);
    // The reader's snapshot saw dropped frames: it is fenced, once.
    assert!(leader.take_fenced("db", reader_id).unwrap());
    assert!(!leader.take_fenced("db", reader_id).unwrap());
    reader.execute_batch("ROLLBACK").unwrap();
    assert_eq!(count(&reader, "SELECT sum(x) FROM t"), 1);
    assert_eq!(count(&writer, "SELECT sum(x) FROM t"), 1);
    // The lock is free and the database still consistent.
    replicate(&leader, &writer, "INSERT INTO t VALUES (8)", &[]);
    assert_eq!(count(&reader, "SELECT sum(x) FROM t"), 9);
    assert_intact(&reader);
}

#[test]
fn an_abort_takes_the_write_lock_from_an_open_transaction() {
    let leader = vfs("leader");
    let writer = leader.open("db").unwrap();
    let other = leader.open("db").unwrap();
    let writer_id = leader.file_id(&writer).unwrap();
    replicate(&leader, &writer, "CREATE TABLE t(x)", &[]);
    writer
        .execute_batch("BEGIN; INSERT INTO t VALUES (1);")
        .unwrap();
    let busy = other.execute_batch("INSERT INTO t VALUES (2)").unwrap_err();
    assert_eq!(
        busy.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    // An entry from another node is coming: nothing local may stand.
    leader.abort("db").unwrap();
    assert!(leader.take_fenced("db", writer_id).unwrap());
    replicate(&leader, &other, "INSERT INTO t VALUES (2)", &[]);
    writer.execute_batch("ROLLBACK").unwrap();
    // The evicted writer's rollback did not disturb the new owner's work.
    replicate(&leader, &other, "INSERT INTO t VALUES (4)", &[]);
    assert_eq!(count(&writer, "SELECT sum(x) FROM t"), 6);
    replicate(&leader, &writer, "INSERT INTO t VALUES (8)", &[]);
    assert_eq!(count(&other, "SELECT sum(x) FROM t"), 14);
}

#[test]
fn a_checkpoint_keeps_pending_frames() {
    let leader = vfs("leader");
    let follower = vfs("follower");
    let writer = leader.open("db").unwrap();
    let reader = leader.open("db").unwrap();
    replicate(&leader, &writer, "CREATE TABLE t(x)", &[&follower]);
    replicate(&leader, &writer, "INSERT INTO t VALUES (1)", &[&follower]);
    writer.execute_batch("INSERT INTO t VALUES (2)").unwrap();
    writer.execute_batch("INSERT INTO t VALUES (4)").unwrap();
    let pending = leader.frames_after("db", None).unwrap();
    assert_eq!(pending.len(), 2);
    assert!(leader.checkpoint_if_over("db", 1).unwrap().is_some());
    assert_eq!(leader.wal_frames("db").unwrap(), 0);
    // Still visible here, still pending, and more builds on them.
    assert_eq!(count(&reader, "SELECT sum(x) FROM t"), 7);
    writer.execute_batch("INSERT INTO t VALUES (8)").unwrap();
    let all = leader.frames_after("db", None).unwrap();
    assert_eq!(all[..2], pending[..]);
    for frames in &all {
        leader.publish("db", frames.tx_id).unwrap();
        follower.apply("db", frames).unwrap();
    }
    assert_eq!(count(&reader, "SELECT sum(x) FROM t"), 15);
    assert_eq!(
        count(&follower.open("db").unwrap(), "SELECT sum(x) FROM t"),
        15
    );
    for vfs in [&leader, &follower] {
        assert!(vfs.checkpoint_if_over("db", 1).unwrap().is_some());
    }
    assert_eq!(main_file(&leader), main_file(&follower));
    assert_intact(&reader);
}

#[test]
fn sqlite_checkpoints_wait_for_pending_transactions() {
    let leader = vfs("leader");
    let writer = leader.open("db").unwrap();
    replicate(&leader, &writer, "CREATE TABLE t(x)", &[]);
    writer.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    let (busy, _, _): (i64, i64, i64) = writer
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 1, "the checkpoint was refused");
    assert_eq!(leader.frames_after("db", None).unwrap().len(), 1);
    leader.publish("db", only_pending(&leader).tx_id).unwrap();
    writer
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    assert_eq!(leader.wal_frames("db").unwrap(), 0);
    assert_eq!(count(&writer, "SELECT count(*) FROM t"), 1);
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
    assert!(leader.frames_after("db", None).unwrap().is_empty());
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
    let mut pages: Vec<u32> = frames.pages.iter().map(|p| p.number).collect();
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
        let frames = vfs.wal_frames("db").unwrap();
        assert!(frames > 0);
        let done = vfs.checkpoint_if_over("db", 1).unwrap().unwrap();
        assert_eq!(done.frames, frames);
        assert_eq!(vfs.wal_frames("db").unwrap(), 0);
        assert_eq!(done.db_bytes, main_file(vfs).len() as u64);
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
    assert!(leader.checkpoint_if_over("db", 1).unwrap().is_none());
    reader.execute_batch("COMMIT").unwrap();
    assert!(leader.checkpoint_if_over("db", 1).unwrap().is_some());
}

#[test]
fn main_files_reach_the_disk_as_plain_sqlite_databases() {
    let leader = vfs("leader");
    let conn = leader.open("db").unwrap();
    replicate(
        &leader,
        &conn,
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB)",
        &[],
    );
    // Enough rows for many pages, then a fold of the WAL into the file.
    for i in 0..200 {
        let sql = format!("INSERT INTO t VALUES ({i}, randomblob(1000))");
        replicate(&leader, &conn, &sql, &[]);
    }
    assert!(leader.checkpoint_if_over("db", 1).unwrap().is_some());
    let timeout = std::time::Duration::from_secs(30);
    assert!(leader.wait_written("db", timeout).unwrap());
    let image = leader.image("db").unwrap();
    assert!(image.wal.is_empty());
    assert!(image.main.len() > 200 * 1000);
    // The file on disk holds exactly the database, and plain SQLite
    // opens it.
    let path = leader.state.dir.join("1.db");
    assert_eq!(std::fs::read(&path).unwrap(), image.main);
    let plain = Connection::open(&path).unwrap();
    assert_eq!(count(&plain, "SELECT count(*) FROM t"), 200);
    // Reads after the fold come from the disk.
    assert_eq!(count(&conn, "SELECT count(*) FROM t"), 200);
    assert_eq!(count(&conn, "SELECT sum(length(b)) FROM t"), 200 * 1000);
}

#[test]
fn connections_keep_the_page_cache_they_are_given() {
    let vfs = vfs("cache");
    assert_eq!(count(&vfs.open("db").unwrap(), "PRAGMA cache_size"), -2048);
    vfs.set_cache_size(8 << 20);
    assert_eq!(count(&vfs.open("db").unwrap(), "PRAGMA cache_size"), -8192);
}

#[test]
fn a_snapshot_received_in_odd_pieces_gets_the_checksums_of_its_bytes() {
    let vfs = vfs("incoming");
    vfs.open_durable(&Manifest::default(), 0).unwrap();
    // A real SQLite file, received in pieces that cut blocks anywhere.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.db");
    let src = Connection::open(&path).unwrap();
    src.execute_batch("CREATE TABLE t(x); INSERT INTO t SELECT randomblob(3000) FROM (SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5)")
        .unwrap();
    drop(src);
    let bytes = std::fs::read(&path).unwrap();
    let mut incoming = vfs
        .incoming(&[("db".to_owned(), bytes.len() as u64, 0)])
        .unwrap();
    let mut at = 0;
    for piece in [1, 4095, 4097, 5000, 3].into_iter().cycle() {
        let end = (at + piece).min(bytes.len());
        incoming.write_main(0, at as u64, &bytes[at..end]).unwrap();
        at = end;
        if at == bytes.len() {
            break;
        }
    }
    // Out of order is refused.
    assert!(incoming.write_main(0, 0, &bytes[..1]).is_err());
    let prepared = vfs
        .prepare_install(incoming, 1)
        .blocking_recv()
        .unwrap()
        .unwrap();
    let file = &prepared.files[0];
    let stored = std::fs::read(file.main.path().with_extension("sum")).unwrap();
    let expected: Vec<u8> = bytes
        .chunks(4096)
        .flat_map(|b| super::sums::block_crc(b).to_le_bytes())
        .collect();
    assert_eq!(stored, expected);
    // And the file reads back through them.
    assert_eq!(file.main.durable_content().unwrap(), bytes);
}

#[test]
fn an_incomplete_snapshot_is_not_installed_and_its_files_go() {
    let vfs = vfs("incomplete");
    vfs.open_durable(&Manifest::default(), 0).unwrap();
    let mut incoming = vfs.incoming(&[("db".to_owned(), 8192, 0)]).unwrap();
    incoming.write_main(0, 0, &[0u8; 4096]).unwrap();
    let before: Vec<_> = std::fs::read_dir(vfs.dir()).unwrap().collect();
    assert!(!before.is_empty());
    let refused = vfs.prepare_install(incoming, 1).blocking_recv().unwrap();
    assert!(refused.unwrap_err().to_string().contains("incomplete"));
    assert_eq!(std::fs::read_dir(vfs.dir()).unwrap().count(), 0);
}
