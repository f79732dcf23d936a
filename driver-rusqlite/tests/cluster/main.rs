//! The driver against a three-node in-process cluster whose leader is
//! stopped in the middle of the work: calls reconnect to the new leader on
//! their own, prepared statements survive, acknowledged writes are all
//! there exactly once, writes of unknown outcome are reported as such, and
//! an open transaction is reported lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dqlite_rusqlite::{Connection, Error};
use dqlite_server::Node;

use common::{init_tracing, runtime, start_node, unique_db};

struct Cluster {
    rt: tokio::runtime::Runtime,
    nodes: Vec<Option<Node>>,
    addresses: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// Three voters: node 1 bootstraps, 2 and 3 join through it.
    fn start() -> Self {
        init_tracing();
        let rt = runtime();
        let mut nodes = Vec::new();
        let mut addresses = Vec::new();
        let mut dirs = Vec::new();
        for id in 1..=3u64 {
            let dir = tempfile::tempdir().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap().to_string();
            nodes.push(Some(rt.block_on(start_node(
                id,
                &address,
                listener,
                dir.path(),
            ))));
            addresses.push(address);
            dirs.push(dir);
        }
        let seed = vec![addresses[0].clone()];
        for node in &nodes[1..] {
            rt.block_on(node.as_ref().unwrap().join(&seed, Duration::from_secs(20)))
                .unwrap();
        }
        Self {
            rt,
            nodes,
            addresses,
            _dirs: dirs,
        }
    }

    /// Stops the current leader (waiting, bounded, for one); returns its address.
    fn stop_leader(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self
                .nodes
                .iter()
                .position(|n| n.as_ref().is_some_and(Node::is_leader))
            {
                let node = self.nodes[i].take().unwrap();
                self.rt.block_on(node.stop()).unwrap();
                return self.addresses[i].clone();
            }
            assert!(Instant::now() < deadline, "no leader");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            let _ = self.rt.block_on(node.stop());
        }
    }
}

#[test]
fn the_leader_is_stopped_in_the_middle() {
    let mut cluster = Cluster::start();
    // Only one node in the URL: the others are learnt from CLUSTER.
    let url = format!(
        "dqlite://{}/{}",
        cluster.addresses[2],
        unique_db("failover")
    );
    let conn = Connection::open(&url).unwrap();
    assert_eq!(
        conn.nodes().into_iter().collect::<BTreeSet<_>>(),
        cluster.addresses.iter().cloned().collect::<BTreeSet<_>>()
    );
    conn.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)", [])
        .unwrap();
    let mut count = conn.prepare("SELECT count(*) FROM t").unwrap();
    let mut tx_conn = Connection::open(&url).unwrap();

    // A writer that keeps inserting while the leader goes away.
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let url = url.clone();
        let acked = acked.clone();
        std::thread::spawn(move || {
            let conn = Connection::open(&url).unwrap();
            let mut insert = conn.prepare_cached("INSERT INTO t VALUES (?1)").unwrap();
            let (mut ok, mut unknown) = (BTreeSet::new(), BTreeSet::new());
            for v in 0..300i64 {
                match insert.execute([v]) {
                    Ok(1) => {
                        ok.insert(v);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(Error::OutcomeUnknown(_)) => {
                        unknown.insert(v);
                    }
                    other => panic!("insert {v}: {other:?}"),
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
    // A transaction that reads (a writing one would hold the write lock
    // the writer needs).
    let tx = tx_conn.transaction().unwrap();
    let _: i64 = tx
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();

    let old_leader = cluster.stop_leader();

    let (ok, unknown) = writer.join().unwrap();
    assert!(ok.len() >= 200, "only {} writes acknowledged", ok.len());
    // The transaction died with its connection, and says so.
    let err = tx.execute("INSERT INTO t VALUES (-2)", []).unwrap_err();
    assert!(matches!(err, Error::TransactionLost), "{err:?}");
    tx.rollback().unwrap();

    // The prepared statement is prepared again on the new leader.
    let n: i64 = count.query_row([], |r| r.get(0)).unwrap();
    let values: BTreeSet<i64> = conn
        .prepare("SELECT v FROM t")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<dqlite_rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(usize::try_from(n).unwrap(), values.len());
    // Every acknowledged write is there once; an unknown one maybe; no other.
    assert!(ok.is_subset(&values), "acknowledged writes are missing");
    assert!(
        values.iter().all(|v| ok.contains(v) || unknown.contains(v)),
        "{values:?}"
    );
    let new_leader = conn.leader().unwrap();
    assert_ne!(new_leader, old_leader);
    // The lost transaction's connection works again.
    tx_conn.execute("INSERT INTO t VALUES (-3)", []).unwrap();
    let n2: i64 = count.query_row([], |r| r.get(0)).unwrap();
    assert_eq!(n2, n + 1);
}
