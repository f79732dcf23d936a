//! The driver against one in-process `dqlite-server` node (and, in
//! `c_server.rs`, the same scenarios against the C server): the blocking
//! API, the async API, and what happens to requests whose connection is
//! cut.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/scenarios.rs"]
mod scenarios;

mod asynchronous;
mod c_server;
mod failures;

use common::TestNode;

#[test]
fn execute_and_counters() {
    let node = TestNode::start();
    scenarios::execute_and_counters(&node.url("exec")).unwrap();
}

#[test]
fn parameters() {
    let node = TestNode::start();
    scenarios::parameters(&node.url("params")).unwrap();
}

#[test]
fn prepared_statements() {
    let node = TestNode::start();
    scenarios::prepared_statements(&node.url("prepared")).unwrap();
}

#[test]
fn streaming() {
    let node = TestNode::start();
    scenarios::streaming(&node.url("stream")).unwrap();
}

#[test]
fn transactions() {
    let node = TestNode::start();
    scenarios::transactions(&node.url("tx")).unwrap();
}

#[test]
fn values_nulls_blobs() {
    let node = TestNode::start();
    scenarios::values_nulls_blobs(&node.url("values")).unwrap();
}

#[cfg(feature = "chrono")]
#[test]
fn dates() {
    let node = TestNode::start();
    scenarios::dates(&node.url("dates")).unwrap();
}

#[test]
fn returning_rows_from_a_write() {
    let node = TestNode::start();
    let conn = dqlite_rusqlite::Connection::open(node.url("returning")).unwrap();
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", [])
        .unwrap();
    let mut stmt = conn
        .prepare("INSERT INTO t (v) VALUES (?1), (?2) RETURNING id, v")
        .unwrap();
    // Columns of a write are known once it ran.
    assert_eq!(stmt.column_count(), 0);
    let rows: Vec<(i64, String)> = stmt
        .query_map(["a", "b"], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<dqlite_rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(rows, [(1, "a".to_owned()), (2, "b".to_owned())]);
    assert_eq!(stmt.column_names().collect::<Vec<_>>(), ["id", "v"]);
}

#[test]
fn urls_and_settings_are_checked() {
    use dqlite_rusqlite::{Builder, Connection, Error};
    assert!(matches!(
        Connection::open("sqlite://x/y"),
        Err(Error::InvalidConfig(_))
    ));
    // A node that does not answer: bounded by the connect timeout.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = unused.local_addr().unwrap().to_string();
    drop(unused);
    let started = std::time::Instant::now();
    let err = Builder::new("db")
        .node(address)
        .connect_timeout(std::time::Duration::from_millis(500))
        .backoff(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_millis(100),
        )
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::NoLeader { .. }), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Inside a task, tokio's cooperative budget would run out after some
/// hundred socket operations and, never reset while the task is blocked,
/// leave every later one pending: the blocking API polls outside it.
#[test]
fn the_blocking_api_in_an_async_task_outlasts_the_task_budget() {
    let node = TestNode::start();
    let url = node.url("budget");
    let rt = common::runtime();
    let task = rt.spawn(async move {
        let conn = dqlite_rusqlite::Connection::open(&url)?;
        let mut sum = 0_i64;
        for i in 0..600_i64 {
            sum += conn.query_row("SELECT ?1", [i], |r| r.get::<_, i64>(0))?;
        }
        Ok::<_, dqlite_rusqlite::Error>(sum)
    });
    let sum = rt
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(60), task).await })
        .expect("the blocking calls finish")
        .unwrap()
        .unwrap();
    assert_eq!(sum, 599 * 600 / 2);
    rt.shutdown_background();
}

#[test]
fn the_blocking_api_runs_inside_a_runtime() {
    // Once refused with InvalidConfig; its IO now runs on the crate's own
    // thread, so a runtime's context on the calling thread is no obstacle.
    let node = TestNode::start();
    let url = node.url("inside");
    let answer: i64 = node
        .rt
        .block_on(async {
            let conn = dqlite_rusqlite::Connection::open(&url)?;
            conn.query_row("SELECT 40 + 2", [], |r| r.get(0))
        })
        .unwrap();
    assert_eq!(answer, 42);
}
