//! The Debian `dqlite` shell with `-c`/`-k` (go-dqlite's
//! `SimpleDialTLSConfig`: it names the server by the certificate's first
//! DNS name) against three of our nodes running mutual TLS with one
//! cluster certificate made by `openssl req -x509` (self-signed, marked
//! CA:TRUE, the model of LXD's cluster.crt), the second and third joined
//! over TLS. The shell without the certificate gets nothing.
//!
//! Knobs: `CI`, `DQLITE_COMPAT_SHELL` and `DQLITE_COMPAT_TIMEOUT_SECS` as
//! in `shell.rs`; `DQLITE_COMPAT_OPENSSL` (default `/usr/bin/openssl`).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use dqlite_compat_tests::tls::{cluster_certificate, openssl_or_skip};
use dqlite_compat_tests::{DEFAULT_SHELL, require_tool, shell};
use dqlite_server::Node;
use dqlite_server::net::Limits;
use dqlite_server::tls::Tls;

async fn start(id: u64, dir: &Path, tls: &Tls) -> (Node, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let node = Node::builder(id, address.clone(), dir)
        .tls(tls.clone())
        .serve(listener, Limits::default())
        .start()
        .await
        .unwrap();
    (node, address)
}

#[test]
fn dqlite_shell_over_mutual_tls() {
    let Some(dqlite) = require_tool("the dqlite shell", "DQLITE_COMPAT_SHELL", DEFAULT_SHELL)
    else {
        return;
    };
    let Some(openssl) = openssl_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = cluster_certificate(&openssl, dir.path());
    let tls = Tls::from_files(files.clone()).unwrap();
    assert_eq!(tls.current().server_name(), "dqlite");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (n1, a1) = runtime.block_on(start(1, &dir.path().join("n1"), &tls));
    let (n2, a2) = runtime.block_on(start(2, &dir.path().join("n2"), &tls));
    let (n3, a3) = runtime.block_on(start(3, &dir.path().join("n3"), &tls));
    for node in [&n2, &n3] {
        runtime
            .block_on(node.join(std::slice::from_ref(&a1), Duration::from_secs(30)))
            .unwrap();
    }

    let cert = files.cert.to_str().unwrap();
    let key = files.key.to_str().unwrap();
    let run = |address: &str, command: &str| {
        let out = shell(
            &dqlite,
            ["-s", address, "-c", cert, "-k", key, "app", command],
            None,
        );
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "dqlite {command:?}\n{}",
            out.transcript()
        );
        out.stdout
    };
    assert_eq!(run(&a1, "CREATE TABLE t (x)"), "");
    // Through the second node: the shell finds the leader over TLS.
    assert_eq!(run(&a2, "INSERT INTO t VALUES (1), (2)"), "");
    assert_eq!(run(&a3, "SELECT count(*) FROM t"), "2\n");
    assert_eq!(
        run(&a2, ".cluster"),
        format!("1|{a1}|voter\n2|{a2}|voter\n3|{a3}|voter\n")
    );

    runtime.block_on(async {
        n3.stop().await.unwrap();
        n2.stop().await.unwrap();
        n1.stop().await.unwrap();
    });
}
