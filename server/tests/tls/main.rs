//! Mutual TLS (`--tls-cert`, `--tls-key`, `--tls-ca`) on the binary:
//! a cluster that forms with `--join` and takes writes over TLS, with a
//! self-signed `CA:TRUE` cluster certificate shared by all and with
//! leaves of a CA; refusals of plaintext clients, clients without a
//! certificate and clients or nodes of another CA; SIGHUP reloads;
//! `dqlite-server backup` and `restore` with their `--tls-*` flags.
//! Certificates are made here with rcgen.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

#[path = "../common/process.rs"]
mod process;

mod admin;
mod backup;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dqlite_protocol::Params;
use dqlite_protocol::request::{Cluster, ExecSql, Leader, Open, Request};
use dqlite_protocol::response::Response;
use dqlite_server::tls::TlsConfig;
use process::{ServerProcess, free_port, spawn_node_logging};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

/// The DNS name every certificate here carries.
const NAME: &str = "dqlite";

/// A certificate and its key, PEM.
#[derive(Clone)]
struct Pair {
    cert: String,
    key: String,
}

impl Pair {
    /// A self-signed certificate marked CA:TRUE, as `openssl req -x509`
    /// makes one: a cluster certificate.
    fn self_signed() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![NAME.to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes `NAME.crt` and `NAME.key` in `dir`.
    fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }

    /// A client configuration presenting this pair and trusting `ca`
    /// (PEM; `None`: this certificate).
    fn client(&self, ca: Option<&str>) -> Arc<rustls::ClientConfig> {
        TlsConfig::from_pem(
            self.cert.as_bytes(),
            self.key.as_bytes(),
            ca.map(str::as_bytes),
        )
        .unwrap()
        .client_config()
    }
}

/// A certificate authority.
struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("dqlite test CA {} {n}", std::process::id()),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    fn pem(&self) -> String {
        self.0.pem()
    }

    /// Writes its certificate to `ca.crt` in `dir`.
    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.crt");
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// A leaf certificate for [`NAME`] it signs.
    fn leaf(&self) -> Pair {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![NAME.to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.0).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A TLS connection to `address` that has sent the protocol version, or
/// `None` if the handshake or the write fails.
async fn tls_dial(
    address: &str,
    config: Arc<rustls::ClientConfig>,
) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await.ok()?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::try_from(NAME).unwrap();
    let connect = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp));
    process::send_version(connect.await.ok()?.ok()?).await
}

/// One request and its reply within 5 s; `None` once the connection is
/// gone.
async fn call<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: impl Into<Request>,
) -> Option<Response> {
    let request = request.into();
    tokio::time::timeout(Duration::from_secs(5), process::request(stream, &request))
        .await
        .ok()
        .flatten()
}

fn exec(sql: &str) -> ExecSql {
    ExecSql {
        db_id: 0,
        sql: sql.into(),
        params: Params::default(),
    }
}

fn open() -> Open {
    Open {
        name: "app".into(),
        flags: 0,
        vfs: "volatile".into(),
    }
}

/// Whether a TLS client with `config` gets an answer from `address`.
async fn answers(address: &str, config: Arc<rustls::ClientConfig>) -> bool {
    match tls_dial(address, config).await {
        Some(mut stream) => matches!(call(&mut stream, Leader).await, Some(Response::Server(_))),
        None => false,
    }
}

/// Waits (up to 20 s) until `check` holds.
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Starts node `id` on `address` with the TLS files `tls` (certificate,
/// key, CA, admin CA, as many as given) and the flags `extra`.
fn start(
    dirs: &Path,
    id: u64,
    address: &str,
    tls: &[&Path],
    extra: &[&str],
) -> (ServerProcess, PathBuf) {
    let dir = dirs.join(format!("n{id}"));
    let mut args: Vec<String> = vec!["--id".into(), id.to_string()];
    let names = ["--tls-cert", "--tls-key", "--tls-ca", "--tls-admin-ca"];
    for (flag, path) in names.iter().zip(tls) {
        args.push((*flag).to_owned());
        args.push(path.display().to_string());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_node_logging(address, &dir, &args)
}

fn address() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// The members node `address` reports.
async fn members(address: &str, config: Arc<rustls::ClientConfig>) -> usize {
    let Some(mut stream) = tls_dial(address, config).await else {
        return 0;
    };
    match call(&mut stream, Cluster { format: 1 }).await {
        Some(Response::Servers(servers)) => servers.nodes.len(),
        _ => 0,
    }
}

/// Opens `app` on the leader among `addresses` and runs `sql` there.
async fn write(addresses: &[String], config: &Arc<rustls::ClientConfig>, sql: &str) -> bool {
    for address in addresses {
        let Some(mut stream) = tls_dial(address, config.clone()).await else {
            continue;
        };
        if !matches!(call(&mut stream, open()).await, Some(Response::Db(_))) {
            continue;
        }
        if matches!(
            call(&mut stream, exec(sql)).await,
            Some(Response::Result(_))
        ) {
            return true;
        }
    }
    false
}

/// Starts three nodes, node `id` with the TLS files `files(id)`, the
/// second and third joining the first; checks that they form a cluster
/// and take writes from a client with `client` (table `t` of database
/// `app` holds one row). Returns their addresses and processes.
async fn three_nodes(
    dirs: &Path,
    files: impl Fn(u64) -> Vec<PathBuf>,
    client: Arc<rustls::ClientConfig>,
) -> (Vec<String>, Vec<ServerProcess>) {
    let addresses: Vec<String> = (0..3).map(|_| address()).collect();
    let first = files(1);
    let first: Vec<&Path> = first.iter().map(PathBuf::as_path).collect();
    let mut nodes = vec![start(dirs, 1, &addresses[0], &first, &[]).0];
    assert!(eventually(|| answers(&addresses[0], client.clone())).await);
    for id in 2..=3 {
        let join = ["--join", addresses[0].as_str()];
        let i = usize::try_from(id - 1).unwrap();
        let tls = files(id);
        let tls: Vec<&Path> = tls.iter().map(PathBuf::as_path).collect();
        nodes.push(start(dirs, id, &addresses[i], &tls, &join).0);
    }
    assert!(
        eventually(|| async { members(&addresses[0], client.clone()).await == 3 }).await,
        "the nodes joined over TLS"
    );
    assert!(eventually(|| write(&addresses, &client, "CREATE TABLE t(x)")).await);
    assert!(write(&addresses, &client, "INSERT INTO t VALUES (1)").await);
    for node in &mut nodes {
        assert!(node.running());
    }
    (addresses, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_shares_one_self_signed_certificate() {
    let dirs = tempfile::tempdir().unwrap();
    let pair = Pair::self_signed();
    let (cert, key) = pair.write(dirs.path(), "cluster");
    three_nodes(
        dirs.path(),
        |_| vec![cert.clone(), key.clone()],
        pair.client(None),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_leaves_signed_by_a_ca() {
    let dirs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_file = ca.write(dirs.path());
    let leaves: Vec<(PathBuf, PathBuf)> = (1..=3)
        .map(|id| ca.leaf().write(dirs.path(), &format!("node{id}")))
        .collect();
    let files = |id: u64| {
        let (cert, key) = &leaves[usize::try_from(id - 1).unwrap()];
        vec![cert.clone(), key.clone(), ca_file.clone()]
    };
    three_nodes(dirs.path(), files, ca.leaf().client(Some(&ca.pem()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_a_trusted_certificate_are_refused() {
    let dirs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_file = ca.write(dirs.path());
    let (cert, key) = ca.leaf().write(dirs.path(), "node1");
    let a = address();
    let (mut node, log) = start(dirs.path(), 1, &a, &[&cert, &key, &ca_file], &[]);
    let good = ca.leaf().client(Some(&ca.pem()));
    assert!(eventually(|| answers(&a, good.clone())).await);

    // Plaintext: the version word is no TLS handshake. The node answers
    // with a TLS alert at most, and closes.
    let mut plain = process::dial(&a).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut got)).await;
    assert!(matches!(read, Ok(Ok(_) | Err(_))), "{read:?}");
    assert!(
        got.is_empty() || got[0] == 21,
        "a TLS alert record: {got:?}"
    );
    assert!(
        process::request(&mut plain, &process::exec("SELECT 1".into()))
            .await
            .is_none()
    );

    // No certificate: the server asks for one and gets none.
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(ca.pem().as_bytes());
        roots.add(der.unwrap()).unwrap();
        Arc::new(roots)
    };
    let anonymous = rustls::ClientConfig::builder()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    assert!(!answers(&a, Arc::new(anonymous)).await);

    // A certificate of another CA, for a client that trusts the server.
    let stranger = Ca::new().leaf();
    let strange = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(stranger.cert.as_bytes()).unwrap()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(stranger.key.as_bytes()).unwrap(),
        )
        .unwrap();
    assert!(!answers(&a, Arc::new(strange)).await);
    // A self-signed cluster certificate of its own.
    assert!(!answers(&a, Pair::self_signed().client(None)).await);

    // The node goes on serving, and said why it refused each.
    assert!(answers(&a, good.clone()).await);
    assert!(write(std::slice::from_ref(&a), &good, "CREATE TABLE t(x)").await);
    assert!(node.running());
    let warned = |reason: &'static str| {
        let log = log.clone();
        async move {
            std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .any(|l| l.contains("WARN") && l.contains("127.0.0.1:") && l.contains(reason))
        }
    };
    for reason in [
        "not a TLS handshake",
        "no client certificate presented",
        "certificate refused: UnknownIssuer",
    ] {
        assert!(
            eventually(|| warned(reason)).await,
            "no WARN line with {reason:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_does_not_hold_its_connection() {
    // The binary's handshake timeout is 10 s: the TLS handshake shares it.
    let dirs = tempfile::tempdir().unwrap();
    let pair = Pair::self_signed();
    let (cert, key) = pair.write(dirs.path(), "cluster");
    let a = address();
    let (_node, log) = start(dirs.path(), 1, &a, &[&cert, &key], &[]);
    assert!(eventually(|| answers(&a, pair.client(None))).await);
    let mut silent = TcpStream::connect(&a).await.unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
    // Logged right after the connection is closed.
    let logged = || async {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("no TLS handshake within 10s")
    };
    assert!(eventually(logged).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_pair_and_keeps_the_old_one_if_bad() {
    let dirs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_file = ca.write(dirs.path());
    let first = ca.leaf();
    let (cert, key) = first.write(dirs.path(), "node");
    let a = address();
    let (node, log) = start(dirs.path(), 1, &a, &[&cert, &key, &ca_file], &[]);
    let client = ca.leaf().client(Some(&ca.pem()));
    assert!(eventually(|| answers(&a, client.clone())).await);
    let mut established = tls_dial(&a, client.clone()).await.unwrap();
    assert!(matches!(
        call(&mut established, open()).await,
        Some(Response::Db(_))
    ));
    let presented = |stream: &tokio_rustls::client::TlsStream<TcpStream>| {
        stream.get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    let der = |pair: &Pair| CertificateDer::from_pem_slice(pair.cert.as_bytes()).unwrap();
    assert_eq!(presented(&established), der(&first));
    let hangup = || {
        let pid = i32::try_from(node.pid()).unwrap();
        // SAFETY: a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    };

    // A new pair: new connections get it, the established one goes on.
    let second = ca.leaf();
    second.write(dirs.path(), "node");
    hangup();
    let now_second = || async {
        match tls_dial(&a, client.clone()).await {
            Some(stream) => presented(&stream) == der(&second),
            None => false,
        }
    };
    assert!(eventually(now_second).await, "the new pair is used");
    assert!(matches!(
        call(&mut established, exec("CREATE TABLE t(x)")).await,
        Some(Response::Result(_))
    ));

    // A bad pair (the key of another certificate; then no PEM at all):
    // the node keeps the second pair and says why.
    let kept = |count: usize| {
        let log = log.clone();
        eventually(move || {
            let log = log.clone();
            async move {
                std::fs::read_to_string(&log)
                    .unwrap()
                    .matches("keeping the current one")
                    .count()
                    >= count
            }
        })
    };
    std::fs::write(&key, ca.leaf().key).unwrap();
    hangup();
    assert!(kept(1).await, "a mismatched key is refused");
    std::fs::write(&cert, "not a certificate").unwrap();
    hangup();
    assert!(kept(2).await, "a file without a certificate is refused");
    assert!(now_second().await, "the second pair is kept");
    assert!(matches!(
        call(&mut established, exec("INSERT INTO t VALUES (1)")).await,
        Some(Response::Result(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_wrong_certificate_cannot_join() {
    let dirs = tempfile::tempdir().unwrap();
    let pair = Pair::self_signed();
    let (cert, key) = pair.write(dirs.path(), "cluster");
    let (a, b) = (address(), address());
    let (_node, log) = start(dirs.path(), 1, &a, &[&cert, &key], &[]);
    let client = pair.client(None);
    assert!(eventually(|| answers(&a, client.clone())).await);
    let (other_cert, other_key) = Pair::self_signed().write(dirs.path(), "other");
    let join = ["--join", a.as_str(), "--join-timeout", "3"];
    let (mut intruder, intruder_log) = start(dirs.path(), 2, &b, &[&other_cert, &other_key], &join);
    let exited = eventually(|| {
        let running = intruder.running();
        async move { !running }
    })
    .await;
    assert!(exited, "the node with another certificate gave up joining");
    assert_eq!(members(&a, client.clone()).await, 1);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("refused a connection during the TLS handshake"),
        "{log}"
    );
    let said = std::fs::read_to_string(intruder_log).unwrap();
    assert!(said.contains("cannot join the cluster"), "{said}");
}
