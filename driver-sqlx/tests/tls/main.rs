//! The driver over TLS (feature `tls`) against in-process nodes sharing
//! one self-signed `CA:TRUE` certificate: options by builder and by URL,
//! a client whose certificate is refused, and a pool that outlives the
//! leader of a TLS cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../util/mod.rs"]
mod util;

use std::time::Duration;

use dqlite_compat_tests::drivers::TestCert;
use sqlx::{ConnectOptions, Connection, Executor, Row};
use sqlx_dqlite::tls::ClientTls;
use sqlx_dqlite::{DqliteConnectOptions, DqliteConnection, DqlitePoolOptions};

use util::{Cluster, TestNode, run, unique_db};

async fn write_and_read(conn: &mut DqliteConnection) {
    conn.execute("CREATE TABLE t (v TEXT)").await.unwrap();
    sqlx::query("INSERT INTO t VALUES (?)")
        .bind("over tls")
        .execute(&mut *conn)
        .await
        .unwrap();
    let row = sqlx::query("SELECT v FROM t")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "over tls");
}

#[test]
fn by_builder_and_by_url() {
    let cert = TestCert::self_signed(&["dqlite"]);
    let node = TestNode::start_tls(&cert);
    run(async {
        let options = DqliteConnectOptions::new()
            .node(&node.address)
            .database(unique_db("tls-builder"))
            .tls(ClientTls::from_files(&cert.cert, &cert.key, None).unwrap());
        let mut conn = options.connect().await.unwrap();
        write_and_read(&mut conn).await;
        conn.close().await.unwrap();

        let url = format!("{}?{}", node.url("tls-url"), cert.url_keys());
        let mut conn = DqliteConnection::connect(&url).await.unwrap();
        write_and_read(&mut conn).await;
        conn.close().await.unwrap();
    });
}

#[test]
fn a_wrong_certificate_gets_a_clear_error() {
    let cert = TestCert::self_signed(&["dqlite"]);
    let node = TestNode::start_tls(&cert);
    let stranger = TestCert::self_signed(&["dqlite"]);
    run(async {
        // The client refuses the server's certificate…
        let err = DqliteConnectOptions::new()
            .node(&node.address)
            .database(unique_db("tls-wrong"))
            .connect_timeout(Duration::from_secs(2))
            .tls(ClientTls::from_files(&stranger.cert, &stranger.key, None).unwrap())
            .connect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("TLS handshake"), "{err}");
        // …and the server refuses the client's.
        let err = DqliteConnectOptions::new()
            .node(&node.address)
            .database(unique_db("tls-refused"))
            .connect_timeout(Duration::from_secs(2))
            .tls(ClientTls::from_files(&stranger.cert, &stranger.key, Some(&cert.cert)).unwrap())
            .connect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("refused the TLS session"), "{err}");
        // A URL whose certificate file is missing fails at parsing.
        let url = format!(
            "{}?tls_cert=/nonexistent/c.crt&tls_key=/nonexistent/c.key",
            node.url("tls-missing")
        );
        let err = url.parse::<DqliteConnectOptions>().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/c.crt"), "{err}");
    });
}

#[test]
fn a_pool_survives_the_loss_of_a_tls_leader() {
    let cert = TestCert::self_signed(&["dqlite"]);
    let mut cluster = Cluster::start_tls(&cert);
    let url = format!(
        "dqlite://{}/{}?{}",
        cluster.addresses[2],
        unique_db("tls-failover"),
        cert.url_keys()
    );
    let rt = util::runtime();
    let pool = rt.block_on(async {
        let pool = DqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .unwrap();
        pool.execute("CREATE TABLE t (v INTEGER)").await.unwrap();
        pool.execute("INSERT INTO t VALUES (1)").await.unwrap();
        pool
    });
    cluster.stop_leader();
    rt.block_on(async {
        // The first use of a connection to the old leader may report the
        // loss; the next goes to the new leader.
        let mut inserted = false;
        for _ in 0..20 {
            if pool.execute("INSERT INTO t VALUES (2)").await.is_ok() {
                inserted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(inserted, "no write reached the new leader");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE v = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1);
        pool.close().await;
    });
}
