//! The driver over TLS (feature `tls`) against in-process nodes that
//! share one self-signed `CA:TRUE` certificate, as go-dqlite's clusters:
//! connecting by builder and by URL, a client whose certificate the
//! cluster does not trust, and the leader stopped under a TLS client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dqlite_compat_tests::drivers::{TestCert, TestCluster, TestNode, unique_db};
use dqlite_rusqlite::tls::ClientTls;
use dqlite_rusqlite::{Builder, Connection, Error};

fn write_and_read(conn: &Connection) {
    conn.execute("CREATE TABLE t (v TEXT)", []).unwrap();
    conn.execute("INSERT INTO t VALUES (?1)", ["over tls"])
        .unwrap();
    let v: String = conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "over tls");
}

#[test]
fn by_builder_and_by_url() {
    let cert = TestCert::self_signed(&["dqlite"]);
    let node = TestNode::start_tls(&cert);

    let tls = ClientTls::from_files(&cert.cert, &cert.key, None).unwrap();
    assert_eq!(tls.server_name(), "dqlite");
    let conn = Builder::new(unique_db("tls-builder"))
        .node(&node.address)
        .tls(tls)
        .open()
        .unwrap();
    write_and_read(&conn);

    let url = format!("{}?{}", node.url("tls-url"), cert.url_keys());
    write_and_read(&Connection::open(&url).unwrap());

    // A ready rustls configuration, and the name given explicitly.
    let config = ClientTls::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), None)
        .unwrap()
        .config();
    let tls = ClientTls::from_config(config, "dqlite").unwrap();
    let conn = Builder::new(unique_db("tls-config"))
        .node(&node.address)
        .tls(tls)
        .open()
        .unwrap();
    write_and_read(&conn);
}

#[test]
fn a_wrong_certificate_gets_a_clear_error() {
    let cert = TestCert::self_signed(&["dqlite"]);
    let node = TestNode::start_tls(&cert);
    let stranger = TestCert::self_signed(&["dqlite"]);
    let started = std::time::Instant::now();
    let err = Builder::new(unique_db("tls-wrong"))
        .node(&node.address)
        .connect_timeout(Duration::from_secs(2))
        .tls(ClientTls::from_files(&stranger.cert, &stranger.key, None).unwrap())
        .open()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(text.contains("TLS handshake"), "{text}");
    assert!(
        text.contains("neither one of the trusted certificates"),
        "{text}"
    );

    // A client that trusts the cluster but presents a certificate the
    // cluster does not trust: the server's refusal.
    let err = Builder::new(unique_db("tls-refused"))
        .node(&node.address)
        .connect_timeout(Duration::from_secs(2))
        .tls(ClientTls::from_files(&stranger.cert, &stranger.key, Some(&cert.cert)).unwrap())
        .open()
        .unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    assert!(text.contains("certificate"), "{text}");

    // A plaintext client gets an error too, not a hang.
    let err = Builder::new(unique_db("tls-plain"))
        .node(&node.address)
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(2)))
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::NoLeader { .. }), "{err:?}");

    // A name that the certificate does not carry.
    let misnamed = ClientTls::from_files(&cert.cert, &cert.key, None)
        .unwrap()
        .with_server_name("elsewhere")
        .unwrap();
    let err = Builder::new(unique_db("tls-name"))
        .node(&node.address)
        .connect_timeout(Duration::from_secs(2))
        .tls(misnamed)
        .open()
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn the_leader_is_stopped_under_a_tls_client() {
    let cert = TestCert::self_signed(&["dqlite"]);
    let mut cluster = TestCluster::start_tls(&cert);
    let url = format!(
        "dqlite://{}/{}?{}",
        cluster.addresses[2],
        unique_db("tls-failover"),
        cert.url_keys()
    );
    let conn = Connection::open(&url).unwrap();
    assert_eq!(conn.nodes().len(), 3);
    conn.execute("CREATE TABLE t (v INTEGER)", []).unwrap();
    conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
    let old = cluster.stop_leader();
    // Reads are retried on the new leader; the write goes there.
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    conn.execute("INSERT INTO t VALUES (2)", []).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    assert!(!conn.nodes().is_empty(), "{old}");
}
