//! Pools: concurrent users, acquire, transactions returned to the pool.

use std::time::Duration;

use sqlx::Executor;
use sqlx_dqlite::{DqlitePool, DqlitePoolOptions};

use crate::util::{TestNode, run};

#[test]
fn a_pool_serves_concurrent_tasks() {
    let node = TestNode::start();
    run(async {
        let pool = DqlitePoolOptions::new()
            .max_connections(3)
            .acquire_timeout(Duration::from_secs(20))
            .connect(&node.url("pool"))
            .await
            .unwrap();
        pool.execute("CREATE TABLE hits (task INTEGER, n INTEGER)")
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for task in 0..8_i64 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..10_i64 {
                    sqlx::query("INSERT INTO hits VALUES (?, ?)")
                        .bind(task)
                        .bind(n)
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM hits")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 80);
        assert!(pool.size() <= 3);

        // A transaction dropped with its pooled connection is rolled back
        // before the connection is used again.
        for _ in 0..3 {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO hits VALUES (-1, -1)")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let mut conn = pool.acquire().await.unwrap();
        assert!(!conn.in_transaction());
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM hits")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, 80);
        drop(conn);
        pool.close().await;
    });
}

#[test]
fn pool_connect_lazy_and_url_parameters() {
    let node = TestNode::start();
    run(async {
        let url = format!(
            "{}?statement_cache_capacity=5&request_timeout=10s",
            node.url("lazy")
        );
        let pool = DqlitePool::connect_lazy(&url).unwrap();
        let v: i64 = sqlx::query_scalar("SELECT 40 + ?")
            .bind(2)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(v, 42);
    });
}
