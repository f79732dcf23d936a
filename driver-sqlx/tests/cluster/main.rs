//! The driver against a three-node in-process cluster: a pool keeps
//! working while the leader is stopped (connections go to the new leader
//! on their next use), acknowledged writes are all there once, a write of
//! unknown outcome says so, an open transaction is reported lost; and the
//! migration lock holds across migrators that reach the cluster through
//! different nodes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../util/mod.rs"]
mod util;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection, Executor};
use sqlx_core::migrate::{Migrate, Migrator};
use sqlx_dqlite::{DqliteClientError, DqliteConnectOptions, DqlitePoolOptions, client_error};

use util::{Cluster, run, unique_db};

#[test]
fn a_pool_survives_the_loss_of_the_leader() {
    let mut cluster = Cluster::start();
    // One node in the URL: the others are learnt from the leader.
    let url = format!(
        "dqlite://{}/{}",
        cluster.addresses[2],
        unique_db("failover")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pool = rt.block_on(async {
        let pool = DqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .unwrap();
        pool.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        pool
    });
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (pool, acked) = (pool.clone(), acked.clone());
        rt.spawn(async move {
            let (mut ok, mut unknown) = (BTreeSet::new(), BTreeSet::new());
            for v in 0..300_i64 {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    match sqlx::query("INSERT INTO t VALUES (?)")
                        .bind(v)
                        .execute(&pool)
                        .await
                    {
                        Ok(done) => {
                            assert_eq!(done.rows_affected(), 1);
                            ok.insert(v);
                            acked.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => match client_error(&e) {
                            Some(DqliteClientError::OutcomeUnknown(_)) => {
                                unknown.insert(v);
                                break;
                            }
                            // No leader yet, or the old one answered: try
                            // again (nothing was written).
                            _ if Instant::now() < deadline => {
                                tracing::debug!(error = %e, v, "retrying");
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            _ => panic!("insert {v}: {e:?}"),
                        },
                    }
                }
            }
            (ok, unknown)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "the writer made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A transaction open (it only reads) when the leader goes.
    let mut tx_conn = rt
        .block_on(sqlx_dqlite::DqliteConnection::connect(&url))
        .unwrap();
    let old_leader_of_tx = tx_conn.leader().unwrap().to_owned();
    let lost = rt.block_on(async {
        let mut tx = tx_conn.begin().await.unwrap();
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx
    });

    let old_leader = cluster.stop_leader();
    assert_eq!(old_leader, old_leader_of_tx);

    let (ok, unknown) = rt.block_on(writer).unwrap();
    assert!(ok.len() >= 250, "only {} writes acknowledged", ok.len());
    rt.block_on(async move {
        let mut tx = lost;
        let err = sqlx::query("INSERT INTO t VALUES (-1)")
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert!(
            matches!(client_error(&err), Some(DqliteClientError::TransactionLost)),
            "{err:?}"
        );
        tx.rollback().await.unwrap();
    });
    rt.block_on(async {
        let values: BTreeSet<i64> = sqlx::query_scalar("SELECT v FROM t")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert!(ok.is_subset(&values), "acknowledged writes are missing");
        assert!(values.iter().all(|v| ok.contains(v) || unknown.contains(v)));
        let mut conn = pool.acquire().await.unwrap();
        assert_ne!(conn.leader(), Some(old_leader.as_str()));
        conn.ping().await.unwrap();
        // The connection whose transaction was lost works again.
        sqlx::query("INSERT INTO t VALUES (-2)")
            .execute(&mut tx_conn)
            .await
            .unwrap();
        assert_ne!(tx_conn.leader(), Some(old_leader.as_str()));
    });
    rt.block_on(pool.close());
}

#[test]
fn the_migration_lock_holds_across_nodes() {
    let cluster = Cluster::start();
    let db = unique_db("migrate-cluster");
    let via = |i: usize| -> DqliteConnectOptions {
        format!("dqlite://{}/{db}", cluster.addresses[i])
            .parse()
            .unwrap()
    };
    run(async {
        // Held through node 1: a migrator coming through node 3 waits,
        // then gives up.
        let mut first = via(0).connect().await.unwrap();
        let mut second = via(2)
            .migration_lock_timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap();
        first.lock().await.unwrap();
        let err = second.lock().await.unwrap_err();
        assert!(err.to_string().contains("migration lock is held"), "{err}");
        first.unlock().await.unwrap();
        second.lock().await.unwrap();
        second.unlock().await.unwrap();

        // Three migrators through three nodes at once: each succeeds, the
        // migrations run once.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migrations");
        let mut tasks = Vec::new();
        for i in 0..3 {
            let options = via(i);
            let dir = dir.clone();
            tasks.push(tokio::spawn(async move {
                let migrator = Migrator::new(dir).await.unwrap();
                let mut conn = options.connect().await.unwrap();
                migrator.run_direct(None, &mut conn, false).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let mut conn = via(1).connect().await.unwrap();
        let people: i64 = sqlx::query_scalar("SELECT count(*) FROM people")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(people, 2, "the seed migration ran once");
    });
}
