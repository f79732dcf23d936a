//! The async API, in a tokio program.

use std::sync::Arc;

use dqlite_rusqlite::asynchronous::Connection;
use dqlite_rusqlite::{Error, OptionalExtension, named_params};

use crate::common::{init_tracing, start_node, unique_db};

async fn node() -> (dqlite_server::Node, String, tempfile::TempDir) {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let node = start_node(1, &address, listener, dir.path()).await;
    (node, address, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_names_with_await() {
    let (node, address, _dir) = node().await;
    let url = format!("dqlite://{address}/{}", unique_db("async"));
    let mut conn = Connection::open(&url).await.unwrap();
    conn.execute_batch("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)")
        .await
        .unwrap();
    for i in 0..2000 {
        if i % 500 == 0 {
            // Batches of inserts in transactions.
            let tx = conn.transaction().await.unwrap();
            for j in i..i + 500 {
                tx.execute(
                    "INSERT INTO kv VALUES (:k, :v)",
                    named_params! {":k": format!("k{j}"), ":v": j},
                )
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
    let v: i64 = conn
        .query_row("SELECT v FROM kv WHERE k = ?1", ["k42"], |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(v, 42);
    let none = conn
        .query_row("SELECT v FROM kv WHERE k = ?1", ["nope"], |r| {
            r.get::<_, i64>(0)
        })
        .await
        .optional()
        .unwrap();
    assert_eq!(none, None);
    let mut stmt = conn
        .prepare("SELECT k, v FROM kv ORDER BY v")
        .await
        .unwrap();
    assert_eq!(stmt.column_names().collect::<Vec<_>>(), ["k", "v"]);
    let mut rows = stmt.query([]).await.unwrap();
    let mut n = 0;
    while let Some(row) = rows.next().await.unwrap() {
        assert_eq!(row.get::<_, i64>(1).unwrap(), n);
        n += 1;
    }
    assert_eq!(n, 2000);
    drop(rows);
    let sum: Vec<i64> = stmt
        .query_map([], |r| r.get(1))
        .await
        .unwrap()
        .collect::<dqlite_rusqlite::Result<_>>()
        .await
        .unwrap();
    assert_eq!(sum.iter().sum::<i64>(), 1999 * 2000 / 2);
    drop(stmt);

    // A transaction dropped without commit is rolled back in the
    // background: another connection can write right after.
    {
        let tx = conn.transaction().await.unwrap();
        tx.execute("DELETE FROM kv", []).await.unwrap();
    }
    let other = Connection::open(&url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match other
            .execute("INSERT INTO kv VALUES ('late', -1)", [])
            .await
        {
            Ok(_) => break,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "still locked: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    let count: i64 = conn
        .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(count, 2001);
    assert!(conn.is_autocommit());
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_shared_between_tasks() {
    let (node, address, _dir) = node().await;
    let url = format!("dqlite://{address}/{}", unique_db("tasks"));
    let conn = Arc::new(Connection::open(&url).await.unwrap());
    conn.execute("CREATE TABLE t (task INTEGER, i INTEGER)", [])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..4i64 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25i64 {
                // Tuples are `Send`; `params![]` (a slice of `&dyn ToSql`)
                // is not, so it cannot be held across an await in a
                // spawned task.
                conn.execute("INSERT INTO t VALUES (?1, ?2)", (task, i))
                    .await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(n, 100);
    node.stop().await.unwrap();
}
