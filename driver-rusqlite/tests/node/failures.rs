//! Requests whose connection is cut: a read is sent again, a write is
//! reported as of unknown outcome and never sent again, a transaction is
//! reported lost; the connection goes on afterwards.

use std::sync::{Arc, Mutex};

use dqlite_rusqlite::{Connection, Error};

use crate::common::{CuttingProxy, init_tracing, runtime, start_node, unique_db};

/// A node that reports the proxy's address as its own, so that clients
/// reach it through the proxy.
struct Proxied {
    proxy: CuttingProxy,
    rt: tokio::runtime::Runtime,
    node: Option<dqlite_server::Node>,
    _dir: tempfile::TempDir,
}

impl Proxied {
    fn start() -> Self {
        init_tracing();
        let rt = runtime();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Arc::new(Mutex::new(listener.local_addr().unwrap().to_string()));
        let proxy = CuttingProxy::start(&rt, target);
        let dir = tempfile::tempdir().unwrap();
        let node = rt.block_on(start_node(1, &proxy.address, listener, dir.path()));
        Self {
            proxy,
            rt,
            node: Some(node),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("dqlite://{}/{}", self.proxy.address, unique_db("cut"))
    }
}

impl Drop for Proxied {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let _ = self.rt.block_on(node.stop());
        }
    }
}

#[test]
fn a_write_whose_answer_is_lost_is_reported_and_not_retried() {
    let p = Proxied::start();
    let conn = Connection::open(p.url()).unwrap();
    conn.execute("CREATE TABLE t (x)", []).unwrap();
    p.proxy.cut_next_answer();
    let err = conn.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
    assert!(p.proxy.cut_done());
    assert!(matches!(err, Error::OutcomeUnknown(_)), "{err:?}");
    assert!(err.is_cluster_error());
    // The next call reconnects; the write ran exactly once.
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_read_whose_answer_is_lost_is_sent_again() {
    let p = Proxied::start();
    let conn = Connection::open(p.url()).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (7)")
        .unwrap();
    let mut stmt = conn.prepare("SELECT x FROM t").unwrap();
    p.proxy.cut_next_answer();
    let x: i64 = stmt.query_row([], |r| r.get(0)).unwrap();
    assert!(p.proxy.cut_done());
    assert_eq!(x, 7);
    // The statement was prepared again on the new connection.
    let x: i64 = stmt.query_row([], |r| r.get(0)).unwrap();
    assert_eq!(x, 7);
}

#[test]
fn a_transaction_cut_off_is_lost_until_rolled_back() {
    let p = Proxied::start();
    let mut conn = Connection::open(p.url()).unwrap();
    conn.execute("CREATE TABLE t (x)", []).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
    p.proxy.cut_next_answer();
    let err = tx.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
    assert!(matches!(err, Error::TransactionLost), "{err:?}");
    // Never silently in autocommit mode: still lost.
    let err = tx.execute("INSERT INTO t VALUES (3)", []).unwrap_err();
    assert!(matches!(err, Error::TransactionLost), "{err:?}");
    let err = tx.commit().unwrap_err();
    assert!(matches!(err, Error::TransactionLost), "{err:?}");
    assert!(conn.is_autocommit());
    // Nothing of it was committed; the connection works again.
    conn.execute("INSERT INTO t VALUES (4)", []).unwrap();
    let xs: Vec<i64> = conn
        .prepare("SELECT x FROM t")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<dqlite_rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(xs, [4]);
}
