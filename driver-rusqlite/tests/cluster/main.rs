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

use common::unique_db;
use dqlite_compat_tests::drivers::TestCluster as Cluster;

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
