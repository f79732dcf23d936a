//! SQL-level behaviours deployed go-dqlite users rely on (LXD, Juju,
//! k8s-dqlite), through the wire protocol: foreign keys on by default,
//! VACUUM, RETURNING through QUERY_SQL and EXEC_SQL, BEGIN IMMEDIATE and
//! several statements in one EXEC_SQL, `PRAGMA delete_database`, the
//! pragmas dqlite refuses, the error strings applications match on, and
//! several databases per node. (The busy-timeout write queue is in
//! `server/tests/node`; replication of each in `server/tests/cluster`.)

use dqlite_protocol::Value;
use dqlite_protocol::request::{Dump, Request};
use dqlite_protocol::response::Response;

use crate::util::{Server, decode};

/// The FAILURE a reply is, as (code, message).
fn failure(reply: Vec<u8>) -> (u64, String) {
    match decode(reply) {
        Response::Failure(f) => (f.code, f.message),
        other => panic!("expected FAILURE, got {other:?}"),
    }
}

fn ok(reply: Vec<u8>) {
    match decode(reply) {
        Response::Result(_) => {}
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn count(rows: &[Vec<Value>]) -> i64 {
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Integer(n)) => *n,
        other => panic!("expected a count, got {other:?}"),
    }
}

const NEEDS_WRITE_TX: &str =
    "PRAGMA delete_database must be run in a write transaction. Use BEGIN IMMEDIATE to start one.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_database_empties_a_database_as_juju_drops_a_model() {
    let server = Server::start().await;
    let mut c = server.connect_open("model").await;
    ok(c.exec_sql("CREATE TABLE t(x, pad BLOB)").await);
    ok(c.exec_sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
             INSERT INTO t SELECT i, randomblob(1000) FROM n",
    )
    .await);
    ok(c.exec_sql("CREATE INDEX tx ON t(x)").await);
    let mut other = server.connect_open("model").await;
    assert_eq!(
        count(&other.query_rows("SELECT count(*) FROM t").await),
        500
    );
    let mut kept = server.connect_open("kept").await;
    ok(kept
        .exec_sql("CREATE TABLE k(y); INSERT INTO k VALUES (1)")
        .await);

    // Juju's way: one EXEC_SQL.
    ok(
        c.exec_sql("BEGIN IMMEDIATE; PRAGMA delete_database; COMMIT")
            .await,
    );
    for conn in [&mut c, &mut other] {
        assert_eq!(
            failure(conn.query_sql_raw("SELECT count(*) FROM t").await),
            (1, "no such table: t".to_owned())
        );
    }
    let mut fresh = server.connect_open("model").await;
    assert_eq!(
        count(&fresh.query_rows("SELECT count(*) FROM sqlite_schema").await),
        0
    );
    // Vacuumed down to one page: its pages do not stay in memory.
    match fresh
        .request(Request::from(Dump {
            name: "model".into(),
        }))
        .await
    {
        Response::Files(files) => {
            assert_eq!(files.files[0].data.len(), 4096);
            assert!(files.files[1].data.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // The name works on as an empty database; other databases are intact.
    ok(fresh
        .exec_sql("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        .await);
    assert_eq!(count(&fresh.query_rows("SELECT count(*) FROM t").await), 1);
    assert_eq!(count(&kept.query_rows("SELECT count(*) FROM k").await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_database_outside_a_write_transaction_is_refused() {
    let server = Server::start().await;
    let mut c = server.connect_open("db").await;
    ok(c.exec_sql("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        .await);
    // Autocommit, and a deferred BEGIN (no write lock yet): refused with
    // dqlite's message, nothing deleted.
    assert_eq!(
        failure(c.exec_sql("PRAGMA delete_database").await),
        (1, NEEDS_WRITE_TX.to_owned())
    );
    assert_eq!(
        failure(c.exec_sql("BEGIN; PRAGMA delete_database").await),
        (1, NEEDS_WRITE_TX.to_owned())
    );
    ok(c.exec_sql("ROLLBACK").await);
    // A value is not a delete_database: refused, not ignored.
    assert_eq!(
        failure(
            c.exec_sql("BEGIN IMMEDIATE; PRAGMA delete_database = 1")
                .await
        ),
        (1, "PRAGMA delete_database takes no value".to_owned())
    );
    ok(c.exec_sql("ROLLBACK").await);
    // Rolled back, the delete never happened.
    ok(
        c.exec_sql("BEGIN IMMEDIATE; PRAGMA delete_database; ROLLBACK")
            .await,
    );
    assert_eq!(count(&c.query_rows("SELECT count(*) FROM t").await), 1);
    // Inside the transaction, the database is already empty.
    ok(c.exec_sql("BEGIN IMMEDIATE; PRAGMA delete_database").await);
    assert_eq!(
        failure(c.query_sql_raw("SELECT count(*) FROM t").await),
        (1, "no such table: t".to_owned())
    );
    ok(c.exec_sql("ROLLBACK").await);
    assert_eq!(count(&c.query_rows("SELECT count(*) FROM t").await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pragmas_dqlite_handles_itself_are_not_ignored() {
    let server = Server::start().await;
    let mut c = server.connect_open("db").await;
    ok(c.exec_sql("CREATE TABLE t(x)").await);
    // Every node holds the same pages: the page size cannot change.
    assert_eq!(
        failure(c.exec_sql("PRAGMA page_size = 8192").await),
        (10, "changing page size is not supported".to_owned())
    );
    ok(c.exec_sql("PRAGMA page_size = 4096").await);
    assert_eq!(
        c.query_rows("PRAGMA page_size").await,
        [[Value::Integer(4096)]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_keys_are_enforced_by_default() {
    let server = Server::start().await;
    let mut c = server.connect_open("db").await;
    ok(c.exec_sql(
        "CREATE TABLE parent(id INTEGER PRIMARY KEY); \
             CREATE TABLE child(p INTEGER REFERENCES parent(id))",
    )
    .await);
    assert_eq!(
        c.query_rows("PRAGMA foreign_keys").await,
        [[Value::Integer(1)]]
    );
    assert_eq!(
        failure(c.exec_sql("INSERT INTO child VALUES (7)").await),
        (787, "FOREIGN KEY constraint failed".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_returning_and_transactions_in_one_exec_sql() {
    let server = Server::start().await;
    let mut c = server.connect_open("db").await;
    ok(c.exec_sql("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
        .await);
    // RETURNING through QUERY_SQL: the rows, after the write committed.
    assert_eq!(
        c.query_rows("INSERT INTO t(v) VALUES ('a'), ('b') RETURNING id, v")
            .await,
        [
            [Value::Integer(1), Value::Text(b"a".to_vec())],
            [Value::Integer(2), Value::Text(b"b".to_vec())]
        ]
    );
    // Through EXEC_SQL: the write happens (as latest dqlite), the answer
    // says rows were yielded.
    let (code, message) = failure(
        c.exec_sql("UPDATE t SET v = 'c' WHERE id = 1 RETURNING v")
            .await,
    );
    assert_eq!(code, 1);
    assert!(message.contains("rows yielded"), "{message}");
    assert_eq!(
        c.query_rows("SELECT v FROM t WHERE id = 1").await,
        [[Value::Text(b"c".to_vec())]]
    );
    // BEGIN IMMEDIATE, and "ROLLBACK; BEGIN IMMEDIATE" in one EXEC_SQL
    // (Juju), then COMMIT.
    ok(c.exec_sql("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('x')")
        .await);
    ok(c.exec_sql("ROLLBACK; BEGIN IMMEDIATE").await);
    ok(c.exec_sql("INSERT INTO t(v) VALUES ('y'); COMMIT").await);
    assert_eq!(
        c.query_rows("SELECT v FROM t WHERE id > 2").await,
        [[Value::Text(b"y".to_vec())]]
    );
    // The error strings applications match on.
    ok(c.exec_sql("BEGIN").await);
    assert_eq!(
        failure(c.exec_sql("BEGIN").await),
        (
            1,
            "cannot start a transaction within a transaction".to_owned()
        )
    );
    ok(c.exec_sql("COMMIT").await);
    let mut other = server.connect_open("db").await;
    ok(c.exec_sql("BEGIN IMMEDIATE").await);
    assert_eq!(
        failure(other.exec_sql("INSERT INTO t(v) VALUES ('z')").await),
        (5, "database is locked".to_owned())
    );
    ok(c.exec_sql("COMMIT").await);
    // VACUUM on the main database.
    ok(c.exec_sql("DELETE FROM t; VACUUM").await);
    assert_eq!(count(&c.query_rows("SELECT count(*) FROM t").await), 0);
}
