//! Backup and restore of a database of a running three-node cluster
//! (`dqlite_server::backup`, and the `dqlite-server backup` / `restore`
//! subcommands): a backup taken during a write load holds a prefix of the
//! writes, never half a transaction; a restore reaches every node.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use dqlite_protocol::{Role, Value};
use dqlite_server::Node;
use dqlite_server::backup::{self, BackupError, Target};
use dqlite_server::net::Limits;
use rusqlite::Connection;

/// Three voters on 127.0.0.1 ports, node 1 leading.
struct Cluster {
    nodes: Vec<Node>,
    addresses: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start() -> Self {
        let (mut nodes, mut addresses, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
        for id in 1..=3 {
            let dir = tempfile::tempdir().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap().to_string();
            let node = Node::builder(id, address.clone(), dir.path())
                .manage_roles(false)
                .serve(listener, Limits::default())
                .start()
                .await
                .unwrap();
            nodes.push(node);
            addresses.push(address);
            dirs.push(dir);
        }
        for id in [2, 3] {
            nodes[0]
                .add_node(id, &addresses[usize::try_from(id - 1).unwrap()])
                .await
                .unwrap();
            nodes[0].assign(id, Role::Voter).await.unwrap();
        }
        Self {
            nodes,
            addresses,
            _dirs: dirs,
        }
    }

    fn target(&self, db: &str) -> Target {
        let mut target = Target::new(self.addresses.clone(), db);
        target.timeout = Duration::from_secs(30);
        target
    }

    /// Every node's image of `db` once they are all the same (bounded wait).
    async fn converged(&self, db: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut images = Vec::new();
            for node in &self.nodes {
                if node.has_database(db) {
                    images.push(node.session(db).await.unwrap().dump().await.unwrap());
                }
            }
            if images.len() == self.nodes.len() && images.windows(2).all(|w| w[0] == w[1]) {
                return images.pop().unwrap();
            }
            assert!(Instant::now() < deadline, "the nodes did not converge");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        for node in &self.nodes {
            node.stop().await.unwrap();
        }
    }
}

/// The rows of `sql` on `conn`, as text (one line per row).
fn rows(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |row| {
        Ok((0..width)
            .map(|i| match row.get::<_, rusqlite::types::Value>(i).unwrap() {
                // Blobs by length and hash, so that a failure stays readable.
                rusqlite::types::Value::Blob(blob) => {
                    let mut hasher = std::hash::DefaultHasher::new();
                    std::hash::Hash::hash(&blob, &mut hasher);
                    format!(
                        "Blob({}, {:x})",
                        blob.len(),
                        std::hash::Hasher::finish(&hasher)
                    )
                }
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_writes_holds_every_acknowledged_write_and_no_torn_transaction() {
    let cluster = Cluster::start().await;
    let writer = cluster.nodes[0].session("app").await.unwrap();
    writer
        .exec("CREATE TABLE t(id INTEGER PRIMARY KEY); CREATE TABLE u(id INTEGER PRIMARY KEY, pad BLOB)")
        .await
        .unwrap();

    // Each transaction writes id into both tables: a torn image would hold
    // it in one table only.
    // The writer and the backups run concurrently in this task (a
    // node's session is not Sync, so it stays off other threads).
    let (acked, stop) = (AtomicI64::new(0), AtomicBool::new(false));
    let load = async {
        let mut id = 0i64;
        while !stop.load(Ordering::SeqCst) && id < 100_000 {
            id += 1;
            writer
                .exec_sql(
                    "BEGIN; INSERT INTO t VALUES (?); INSERT INTO u VALUES (?, randomblob(2000)); COMMIT",
                    vec![Value::Integer(id), Value::Integer(id)],
                )
                .await
                .unwrap();
            acked.store(id, Ordering::SeqCst);
        }
    };
    let backups = async {
        take_backups(&cluster, &acked).await;
        stop.store(true, Ordering::SeqCst);
    };
    tokio::join!(load, backups);
    cluster.stop().await;
}

/// Three backups, each after 200 more writes, checked.
async fn take_backups(cluster: &Cluster, acked: &AtomicI64) {
    let dir = tempfile::tempdir().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for round in 0..3 {
        // Let writes accumulate between backups.
        let wanted = 200 * (round + 1);
        while acked.load(Ordering::SeqCst) < wanted {
            assert!(Instant::now() < deadline, "the writer is too slow");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let out = dir.path().join(format!("app-{round}.db"));
        let before = acked.load(Ordering::SeqCst);
        let report = backup::backup(&cluster.target("app"), &out).await.unwrap();
        let after = acked.load(Ordering::SeqCst);
        assert_eq!(report.leader, cluster.addresses[0]);
        assert_eq!(report.objects, 2);

        // Standalone: no WAL beside it, rollback journal, intact.
        let mut wal = out.clone().into_os_string();
        wal.push("-wal");
        assert!(!Path::new(&wal).exists());
        let conn = Connection::open(&out).unwrap();
        assert_eq!(integrity(&conn), "ok");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        let (count, max): (i64, i64) = conn
            .query_row("SELECT count(*), coalesce(max(id), 0) FROM t", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        // A prefix of the ids, with every one acknowledged before the
        // backup, and at most the one in flight when it ended.
        assert_eq!(count, max, "ids have gaps");
        assert!(
            max >= before,
            "backup has {max} ids, {before} were acknowledged before it"
        );
        assert!(
            max <= after + 1,
            "backup has {max} ids, {after} acknowledged after it"
        );
        let torn: i64 = conn
            .query_row(
                "SELECT count(*) FROM t FULL JOIN u USING (id) WHERE t.id IS NULL OR u.id IS NULL",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(torn, 0, "a transaction is half in the backup");
        // No file but the backup is left in the directory.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| !name.starts_with("app-") || name.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    }
}

/// A source file with what a restore must carry over: AUTOINCREMENT with
/// a counter above the largest id, a generated column, a WITHOUT ROWID
/// table, rowids with gaps, an index, a view, a trigger (which must not
/// fire on restored rows), blobs large enough to span several batches.
fn source_file(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT, twice INT GENERATED ALWAYS AS (id * 2));
         CREATE TABLE b(x, y);
         CREATE TABLE w(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
         CREATE TABLE \"odd \"\"name\"(rowid_ TEXT);
         CREATE INDEX b_y ON b(y);
         CREATE VIEW a_view AS SELECT id, v FROM a WHERE v IS NOT NULL;
         CREATE TRIGGER b_log AFTER INSERT ON b BEGIN INSERT INTO a(v) VALUES ('fired'); END;
         INSERT INTO a(v) VALUES ('one'), ('two'), (NULL), ('four');
         DELETE FROM a WHERE id = 4;
         INSERT INTO \"odd \"\"name\" VALUES ('quoted');
         PRAGMA user_version = 42;",
    )
    .unwrap();
    for i in 0..40i64 {
        conn.execute("INSERT INTO b VALUES (?1, randomblob(100000))", [i * 3])
            .unwrap();
    }
    conn.execute_batch(
        "DELETE FROM b WHERE x % 2 = 1;
         INSERT INTO w VALUES ('k1', zeroblob(5)), ('k0', x'00ff'), ('k2', NULL);
         DELETE FROM a WHERE id = (SELECT max(id) FROM a);",
    )
    .unwrap();
}

/// What must be equal between the source and a restored copy.
fn content(conn: &Connection) -> Vec<String> {
    let mut all = rows(
        conn,
        "SELECT type, name, sql FROM sqlite_schema ORDER BY type, name",
    );
    for sql in [
        "SELECT id, v, twice FROM a ORDER BY id",
        "SELECT rowid, x, y FROM b ORDER BY rowid",
        "SELECT k, v FROM w ORDER BY k",
        "SELECT rowid, * FROM \"odd \"\"name\"",
        "SELECT * FROM a_view",
        "SELECT name, seq FROM sqlite_sequence ORDER BY name",
        "PRAGMA user_version",
    ] {
        all.push(sql.to_owned());
        all.extend(rows(conn, sql));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_reaches_every_node_and_refuses_a_database_that_is_not_empty() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    source_file(&source);
    let expected = content(&Connection::open(&source).unwrap());

    let report = backup::restore(&cluster.target("copy"), &source, false)
        .await
        .unwrap();
    assert_eq!(report.tables, 4);
    // a: 3 rows, and one per row of b the trigger logged in the source,
    // but the last.
    assert_eq!(report.rows, (3 + 40 - 1) + 20 + 3 + 1);
    assert_eq!(report.others, 3);

    // Every node holds the same image, with the source's content.
    let image = cluster.converged("copy").await;
    let copy = dir.path().join("copy.db");
    std::fs::write(&copy, &image).unwrap();
    let conn = Connection::open(&copy).unwrap();
    assert_eq!(integrity(&conn), "ok");
    assert_eq!(content(&conn), expected);
    drop(conn);
    // The restored trigger works on the cluster (39 rows it logged in the
    // source, copied, and one for this insert).
    let session = cluster.nodes[0].session("copy").await.unwrap();
    session.exec("INSERT INTO b VALUES (1, 2)").await.unwrap();
    let fired = session
        .query("SELECT count(*) FROM a WHERE v = 'fired'")
        .await
        .unwrap();
    assert_eq!(fired, [[rusqlite::types::Value::Integer(40)]]);
    drop(session);

    // Not empty now: refused, and nothing changed.
    let before = cluster.converged("copy").await;
    let refused = backup::restore(&cluster.target("copy"), &source, false).await;
    assert!(
        matches!(&refused, Err(BackupError::NotEmpty { db, .. }) if db == "copy"),
        "{refused:?}"
    );
    assert_eq!(cluster.converged("copy").await, before);

    // With force: replaced, the extra row and trigger firing gone.
    let report = backup::restore(&cluster.target("copy"), &source, true)
        .await
        .unwrap();
    assert_eq!(report.dropped, 7);
    let image = cluster.converged("copy").await;
    std::fs::write(&copy, &image).unwrap();
    assert_eq!(content(&Connection::open(&copy).unwrap()), expected);

    // A file that is not a database is refused before the cluster is touched.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 8192]).unwrap();
    assert!(
        backup::restore(&cluster.target("other"), &junk, false)
            .await
            .is_err()
    );
    cluster.stop().await;
}

/// The subcommands, as an operator runs them: a backup, then a restore of
/// it into another database, then the same restore refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_back_up_and_restore() {
    let cluster = Cluster::start().await;
    let session = cluster.nodes[0].session("app").await.unwrap();
    session
        .exec(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a'), ('b')",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.db");
    let servers = cluster.addresses.join(",");
    let bin = env!("CARGO_BIN_EXE_dqlite-server");
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin).args(args).output().unwrap()
        })
    };
    let args = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let out_text = out.to_str().unwrap();

    let backup = run(args(&[
        "backup",
        "--servers",
        &servers,
        "--db",
        "app",
        "--out",
        out_text,
    ]))
    .await
    .unwrap();
    assert!(backup.status.success(), "{backup:?}");
    let stdout = String::from_utf8_lossy(&backup.stdout);
    assert!(stdout.contains("backed up database \"app\""), "{stdout}");
    let conn = Connection::open(&out).unwrap();
    assert_eq!(
        rows(&conn, "SELECT v FROM t ORDER BY id"),
        ["Text(\"a\")", "Text(\"b\")"]
    );
    drop(conn);

    let restore = args(&["restore", "--servers", &servers, "--db", "again", out_text]);
    let first = run(restore.clone()).await.unwrap();
    assert!(first.status.success(), "{first:?}");
    // Every node, followers included, holds the rows.
    let image = cluster.converged("again").await;
    let copy = dir.path().join("again.db");
    std::fs::write(&copy, &image).unwrap();
    let conn = Connection::open(&copy).unwrap();
    assert_eq!(
        rows(&conn, "SELECT v FROM t ORDER BY id"),
        ["Text(\"a\")", "Text(\"b\")"]
    );
    drop(conn);
    let second = run(restore).await.unwrap();
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("is not empty") && stderr.contains("--force"),
        "{stderr}"
    );

    // Node flags and a subcommand do not mix.
    let mixed = run(args(&[
        "--id",
        "2",
        "backup",
        "--servers",
        &servers,
        "--db",
        "app",
        "--out",
        out_text,
    ]))
    .await
    .unwrap();
    assert_eq!(mixed.status.code(), Some(2), "{mixed:?}");
    cluster.stop().await;
}

/// A name the cluster does not have: an error, nothing written (an
/// existing --out file is kept as it was), and the backup does not create
/// the database on the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_of_a_database_the_cluster_does_not_have_fails_and_writes_nothing() {
    let cluster = Cluster::start().await;
    let session = cluster.nodes[0].session("app").await.unwrap();
    session.exec("CREATE TABLE t(x)").await.unwrap();
    drop(session);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nosuch.db");

    let refused = backup::backup(&cluster.target("nosuch"), &out).await;
    assert!(
        matches!(&refused, Err(BackupError::NoSuchDatabase(db)) if db == "nosuch"),
        "{refused:?}"
    );
    assert!(!out.exists());
    assert!(
        cluster
            .nodes
            .iter()
            .all(|node| !node.has_database("nosuch")),
        "the backup created the database"
    );

    let servers = cluster.addresses.join(",");
    let kept = dir.path().join("kept.db");
    std::fs::write(&kept, b"an older backup").unwrap();
    for path in [&out, &kept] {
        let args = [
            "backup",
            "--servers",
            &servers,
            "--db",
            "nosuch",
            "--out",
            path.to_str().unwrap(),
        ]
        .map(str::to_owned);
        let bin = env!("CARGO_BIN_EXE_dqlite-server");
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin).args(args).output().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no database named \"nosuch\" on the cluster"),
            "{stderr}"
        );
    }
    assert!(!out.exists());
    assert_eq!(std::fs::read(&kept).unwrap(), b"an older backup");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["kept.db"]);

    // The database that exists is backed up as before.
    let report = backup::backup(&cluster.target("app"), &out).await.unwrap();
    assert_eq!(report.objects, 1);
    cluster.stop().await;
}
