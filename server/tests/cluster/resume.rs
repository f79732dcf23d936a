//! A snapshot transfer cut midway resumes where it stopped.

use std::time::{Duration, Instant};

use dqlite_server::Node;
use dqlite_server::net::Limits;

use crate::http::{get, must};
use crate::proxy::Proxy;

/// Bytes of data the leader holds: the snapshot node 3 needs is about
/// this large.
const DATA: u64 = 24 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_transfer_cut_midway_resumes_where_it_stopped() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("dqlite_server=info")
        .with_test_writer()
        .try_init();
    // Node 3 advertises a proxy that counts what node 1 sends it and cuts
    // node 1's connection once half the data went through.
    let mut dirs = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut proxy = None;
    let mut http = Vec::new();
    for id in 1..=3u64 {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut address = listener.local_addr().unwrap().to_string();
        if id == 3 {
            let p = Proxy::start(address).await;
            address = p.address.clone();
            proxy = Some(p);
        }
        let mut builder = Node::builder(id, address, dir.path())
            .snapshot_every(8)
            .snapshot_trailing(0)
            .serve(listener, Limits::default());
        if id != 2 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            http.push(Some(listener.local_addr().unwrap()));
            builder = builder.http(listener);
        } else {
            http.push(None);
        }
        let node = builder.start().await.unwrap();
        nodes.push(node);
        dirs.push(dir);
    }
    let proxy = proxy.unwrap();
    let seed = [nodes[0].address().to_owned()];
    nodes[1].join(&seed, Duration::from_secs(20)).await.unwrap();
    let s = nodes[0].session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER PRIMARY KEY, b BLOB)")
        .await
        .unwrap();
    let rows = DATA / 16_000;
    for first in (0..rows).step_by(100) {
        s.exec(&format!(
            "WITH RECURSIVE c(x) AS (SELECT {first} UNION ALL SELECT x + 1 FROM c WHERE x < {}) \
             INSERT INTO t SELECT x, randomblob(16000) FROM c",
            (first + 99).min(rows - 1)
        ))
        .await
        .unwrap();
    }
    // Small writes until node 1 makes a durable point after all the
    // data (compacting the log before it): node 3 starts from a snapshot
    // holding all of it.
    let taken = |metrics: &str| must(metrics, "dqlite_snapshots_total{kind=\"taken\"}");
    let before = taken(&get(http[0].unwrap(), "/metrics").await.1);
    let mut writes = 0;
    while taken(&get(http[0].unwrap(), "/metrics").await.1) <= before {
        assert!(writes < 500, "no durable point after the load");
        s.exec(&format!(
            "INSERT INTO t VALUES ({}, x'00')",
            rows + 1000 + writes
        ))
        .await
        .unwrap();
        writes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    proxy.cut_after(1, DATA / 2);
    // Writes go on while node 3 joins and receives the snapshot.
    let writer = async {
        for i in 0..50u64 {
            s.exec(&format!("INSERT INTO t VALUES ({}, x'00')", rows + i))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (joined, ()) = tokio::join!(nodes[2].join(&seed, Duration::from_secs(60)), writer);
    joined.unwrap();

    // Node 3 has every row, byte for byte as the leader.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = nodes[0].session("app").await.unwrap().dump().await.unwrap();
        if nodes[2].has_database("app") {
            let b = nodes[2].session("app").await.unwrap().dump().await.unwrap();
            if a == b {
                break;
            }
        }
        assert!(Instant::now() < deadline, "node 3 did not converge");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It got there through a snapshot (the log was compacted) ...
    let (_, metrics) = get(http[2].unwrap(), "/metrics").await;
    assert!(must(&metrics, "dqlite_snapshots_total{kind=\"installed\"}") >= 1.0);
    // ... whose transfer was cut, and went on went on from where it stopped:
    // node 1 sent the data about once, not the first half twice.
    let relayed = proxy.relayed_from(1);
    assert!(relayed >= DATA, "{relayed} bytes relayed");
    assert!(
        relayed < DATA + DATA * 3 / 10,
        "{relayed} bytes relayed for {DATA} bytes of data: the transfer started over"
    );
}
