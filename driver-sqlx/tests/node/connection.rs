//! Connecting, the query API, placeholders, streaming and the statement
//! cache.

use futures_util::{StreamExt, TryStreamExt};
use sqlx::{Connection, Executor, Row, SqlSafeStr};
use sqlx_dqlite::{DqliteConnectOptions, DqliteConnection};

use crate::util::{TestNode, run};

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Person {
    id: i64,
    name: String,
    age: Option<i32>,
}

#[test]
fn the_query_api() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("api")).await.unwrap();
        assert_eq!(conn.leader(), Some(node.address.as_str()));
        conn.execute(
            "CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)",
        )
        .await
        .unwrap();
        let done = sqlx::query("INSERT INTO person (name, age) VALUES (?, ?)")
            .bind("Ada")
            .bind(36)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        assert_eq!(done.last_insert_rowid(), 1);
        let done = sqlx::query("INSERT INTO person (name, age) VALUES (?, ?), (?, ?)")
            .bind("Grace")
            .bind(None::<i32>)
            .bind("Linus")
            .bind(54)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!((done.rows_affected(), done.last_insert_rowid()), (2, 3));

        let people: Vec<Person> = sqlx::query_as("SELECT id, name, age FROM person ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(people.len(), 3);
        assert_eq!(
            people[1],
            Person {
                id: 2,
                name: "Grace".into(),
                age: None
            }
        );
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM person")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 3);
        let nobody: Option<Person> =
            sqlx::query_as("SELECT id, name, age FROM person WHERE id = ?")
                .bind(99)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        assert_eq!(nobody, None);
        let err = sqlx::query("SELECT 1 WHERE 0")
            .fetch_one(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(err, sqlx::Error::RowNotFound), "{err:?}");
        let names: Vec<String> = sqlx::query("SELECT name FROM person ORDER BY id DESC")
            .fetch(&mut conn)
            .map_ok(|row| row.get::<String, _>(0))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(names, ["Linus", "Grace", "Ada"]);

        // RETURNING runs as a query: rows, and the count as rows affected.
        let ids: Vec<i64> =
            sqlx::query_scalar("UPDATE person SET age = 1 WHERE age IS NOT NULL RETURNING id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(ids.len(), 2);
        let done = sqlx::query("DELETE FROM person WHERE id > 1 RETURNING id")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 2);

        // Several statements in one text: each runs, rows included.
        let steps: Vec<_> = conn
            .fetch_many("INSERT INTO person (name) VALUES ('x'); SELECT name FROM person ORDER BY id; DELETE FROM person")
            .try_collect()
            .await
            .unwrap();
        let rows = steps.iter().filter(|s| s.is_right()).count();
        let results: Vec<u64> = steps
            .iter()
            .filter_map(|s| s.as_ref().left().map(|r| r.rows_affected()))
            .collect();
        assert_eq!((rows, results), (2, vec![1, 0, 2]));
        conn.close().await.unwrap();
    });
}

#[test]
fn placeholders_and_argument_counts() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("placeholders"))
            .await
            .unwrap();
        let row = sqlx::query("SELECT $2, $1, $2, ?1")
            .bind(10)
            .bind(20)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let got: (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(got, (20, 10, 20, 20));
        let named: (String, String) = sqlx::query_as("SELECT :a, :b || :a")
            .bind("x")
            .bind("y")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(named, ("x".into(), "yx".into()));
        let err = sqlx::query("SELECT ?, ?")
            .bind(1)
            .fetch_one(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(err, sqlx::Error::InvalidArgument(_)), "{err:?}");
        let err = sqlx::query("SELECT 1")
            .bind(1)
            .fetch_one(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(err, sqlx::Error::InvalidArgument(_)), "{err:?}");
        // The connection is still usable.
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(one, 1);
    });
}

#[test]
fn large_results_stream_and_can_be_dropped_early() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("stream"))
            .await
            .unwrap();
        conn.execute(
            "CREATE TABLE big (i INTEGER PRIMARY KEY, pad TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO big SELECT i, printf('%0100d', i) FROM n",
        )
        .await
        .unwrap();
        // About 2.4 MB of rows: hundreds of ROWS messages, read one at a time.
        let mut rows = sqlx::query("SELECT i, pad FROM big ORDER BY i").fetch(&mut conn);
        let mut expected = 1_i64;
        while let Some(row) = rows.try_next().await.unwrap() {
            assert_eq!(row.get::<i64, _>(0), expected);
            expected += 1;
        }
        assert_eq!(expected, 20_001);
        drop(rows);

        // Take a few rows and drop the rest: the result is interrupted and
        // the connection goes on.
        for _ in 0..3 {
            let first: Vec<i64> = sqlx::query_scalar::<_, i64>("SELECT i FROM big ORDER BY i")
                .fetch(&mut conn)
                .take(10)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(first, (1..=10).collect::<Vec<_>>());
            let one: Option<i64> = sqlx::query_scalar("SELECT i FROM big WHERE i > ? ORDER BY i")
                .bind(19_990)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
            assert_eq!(one, Some(19_991));
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM big")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 20_000);
    });
}

#[test]
fn prepared_statements_are_cached_per_connection() {
    let node = TestNode::start();
    run(async {
        let options: DqliteConnectOptions = node.url("cache").parse().unwrap();
        let mut conn = options
            .clone()
            .statement_cache_capacity(2)
            .connect()
            .await
            .unwrap();
        use sqlx::ConnectOptions;
        for i in 0..5_i64 {
            let v: i64 = sqlx::query_scalar("SELECT ? + 1")
                .bind(i)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(v, i + 1);
        }
        assert_eq!(conn.cached_statements_size(), 1);
        let _: i64 = sqlx::query_scalar("SELECT 2")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let _: i64 = sqlx::query_scalar("SELECT 3")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(conn.cached_statements_size(), 2, "capacity 2");
        let _: i64 = sqlx::query_scalar("SELECT 4")
            .persistent(false)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(conn.cached_statements_size(), 2);
        conn.clear_cached_statements().await.unwrap();
        assert_eq!(conn.cached_statements_size(), 0);

        // A prepared statement: parameters and columns known up front.
        use sqlx::{Column, Statement};
        let stmt = conn
            .prepare("SELECT ? AS a, 'x' AS b".into_sql_str())
            .await
            .unwrap();
        assert_eq!(stmt.parameters(), Some(sqlx::Either::Right(1)));
        let names: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["a", "b"]);
        let row = stmt.query().bind(7).fetch_one(&mut conn).await.unwrap();
        assert_eq!(row.get::<i64, _>("a"), 7);
        assert!(
            conn.prepare("SELECT 1; SELECT 2".into_sql_str())
                .await
                .is_err()
        );

        // No cache at all: still works.
        let mut plain = options.statement_cache_capacity(0).connect().await.unwrap();
        let v: i64 = sqlx::query_scalar("SELECT ?")
            .bind(5)
            .fetch_one(&mut plain)
            .await
            .unwrap();
        assert_eq!((v, plain.cached_statements_size()), (5, 0));
    });
}

#[test]
fn urls_and_connect_errors() {
    let node = TestNode::start();
    run(async {
        // A dead node first in the list: the next one is the leader.
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let url = format!(
            "dqlite://{dead},{}/urls?connect_timeout=5s&dial_timeout=200ms",
            node.address
        );
        let mut conn = DqliteConnection::connect(&url).await.unwrap();
        conn.ping().await.unwrap();
        assert!(conn.nodes().contains(&node.address));

        let err = DqliteConnection::connect(&format!(
            "dqlite://{dead}/x?connect_timeout=300ms&dial_timeout=100ms&backoff=50ms"
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(
                sqlx_dqlite::client_error(&err),
                Some(sqlx_dqlite::DqliteClientError::NoLeader { .. })
            ),
            "{err:?}"
        );
        let err = DqliteConnection::connect("dqlite://nowhere/")
            .await
            .unwrap_err();
        assert!(matches!(err, sqlx::Error::Configuration(_)), "{err:?}");
    });
}
