//! Test support the client drivers share (`dqlite-rusqlite` and
//! `sqlx-dqlite` dev-depend on this crate): tracing set up once, unique
//! database names, an in-process `dqlite-server` node and a three-node
//! cluster on runtimes of their own, and the C server ([`CServer`]) wrapped for driver tests, which skip with
//! a notice when `dqlite-demo` is not installed; for TLS, certificates
//! made with rcgen ([`TestCert`]) and the same node and cluster serving
//! TLS ([`TestNode::start_tls`], [`TestCluster::start_tls`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use dqlite_server::Node;
use dqlite_server::net::Limits;
use dqlite_server::tls::{Tls, TlsFiles};

use crate::{CServer, DEFAULT_DEMO};

/// Installs a tracing subscriber once (`RUST_LOG` decides the level).
///
/// # Panics
///
/// Never; a subscriber installed elsewhere first is kept.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

/// A database name no other test of this process uses.
pub fn unique_db(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A two-worker runtime (for in-process nodes, or a test body).
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Starts node `id` serving on `listener`, reporting `address` as its own.
///
/// # Panics
///
/// If the node does not start.
pub async fn start_node(id: u64, address: &str, listener: TcpListener, dir: &Path) -> Node {
    start_node_with(id, address, listener, dir, None).await
}

/// As [`start_node`], speaking TLS with `tls` if given.
///
/// # Panics
///
/// If the node does not start.
pub async fn start_node_with(
    id: u64,
    address: &str,
    listener: TcpListener,
    dir: &Path,
    tls: Option<Tls>,
) -> Node {
    let mut builder = Node::builder(id, address, dir).serve(listener, Limits::default());
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    builder.start().await.expect("the node starts")
}

/// A certificate and its key as PEM files in a directory of their own.
pub struct TestCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The certificate's text.
    pub cert_pem: String,
    /// The key's text.
    pub key_pem: String,
    _dir: tempfile::TempDir,
}

impl TestCert {
    /// A self-signed `CA:TRUE` certificate for the DNS names `names` (the
    /// shared cluster certificate of go-dqlite's model when `names` is
    /// `["dqlite"]`), valid from yesterday for a year.
    ///
    /// # Panics
    ///
    /// If rcgen fails or the files cannot be written.
    pub fn self_signed(names: &[&str]) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let key = KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("certificate parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert_pem = params.self_signed(&key).expect("a certificate").pem();
        let key_pem = key.serialize_pem();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (cert, key) = (
            dir.path().join("cluster.crt"),
            dir.path().join("cluster.key"),
        );
        std::fs::write(&cert, &cert_pem).expect("the certificate is written");
        std::fs::write(&key, &key_pem).expect("the key is written");
        Self {
            cert,
            key,
            cert_pem,
            key_pem,
            _dir: dir,
        }
    }

    /// The node side: this certificate, trusting itself.
    ///
    /// # Panics
    ///
    /// If the files do not load.
    pub fn node_tls(&self) -> Tls {
        Tls::from_files(TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
            ca: None,
            admin_ca: None,
        })
        .expect("the node's TLS configuration loads")
    }

    /// The `tls_cert=…&tls_key=…` part of a URL (percent-encoded).
    pub fn url_keys(&self) -> String {
        format!(
            "tls_cert={}&tls_key={}",
            percent_encode(&self.cert.to_string_lossy()),
            percent_encode(&self.key.to_string_lossy())
        )
    }
}

/// Escapes everything but unreserved characters and `/`.
fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One in-process node on 127.0.0.1 (port 0) with its runtime; stopped on
/// drop.
pub struct TestNode {
    /// The node's runtime.
    pub rt: tokio::runtime::Runtime,
    /// The node, until dropped.
    pub node: Option<Node>,
    /// Its address.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// Starts node 1 on a fresh directory.
    ///
    /// # Panics
    ///
    /// If it cannot bind or start.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts node 1 serving TLS with `cert` (trusting itself).
    ///
    /// # Panics
    ///
    /// If it cannot bind or start.
    pub fn start_tls(cert: &TestCert) -> Self {
        Self::start_with(Some(cert.node_tls()))
    }

    fn start_with(tls: Option<Tls>) -> Self {
        init_tracing();
        let rt = runtime();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("a bound address").to_string();
        let node = rt.block_on(start_node_with(1, &address, listener, dir.path(), tls));
        Self {
            rt,
            node: Some(node),
            address,
            _dir: dir,
        }
    }

    /// A URL for a fresh database on this node.
    pub fn url(&self, prefix: &str) -> String {
        format!("dqlite://{}/{}", self.address, unique_db(prefix))
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let _ = self.rt.block_on(node.stop());
        }
    }
}

/// The C server (`dqlite-demo`) for a driver test.
pub struct DemoServer(CServer);

impl DemoServer {
    /// Starts `dqlite-demo`, or returns `None` after printing a notice
    /// when it is not installed (Debian package `go-dqlite`; CI has it).
    ///
    /// # Panics
    ///
    /// If it is installed but does not get ready (see [`CServer::start`]).
    pub fn start() -> Option<Self> {
        init_tracing();
        let demo = Path::new(DEFAULT_DEMO);
        if !demo.exists() {
            assert!(
                !crate::in_ci(),
                "{DEFAULT_DEMO} is not installed (Debian package go-dqlite; \
                 ./scripts/prerequisites installs it)"
            );
            eprintln!("SKIPPED: {DEFAULT_DEMO} is not installed (Debian package go-dqlite)");
            return None;
        }
        Some(Self(CServer::start(demo)))
    }

    /// Its dqlite address.
    pub fn address(&self) -> &str {
        self.0.address()
    }

    /// A URL for a fresh database on this server.
    pub fn url(&self, prefix: &str) -> String {
        format!("dqlite://{}/{}", self.address(), unique_db(prefix))
    }

    /// Whether the process still runs (it did not crash).
    pub fn is_running(&mut self) -> bool {
        self.0.is_running()
    }
}

/// Three in-process voters on 127.0.0.1 (node 1 bootstraps, 2 and 3 join
/// through it), on a runtime of their own; stopped on drop.
pub struct TestCluster {
    rt: tokio::runtime::Runtime,
    nodes: Vec<Option<Node>>,
    /// The nodes' addresses, node 1 first.
    pub addresses: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl TestCluster {
    /// Starts the three nodes and joins them.
    ///
    /// # Panics
    ///
    /// If a node does not start or join within 20 s.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// As [`start`](Self::start), every node serving and dialing TLS
    /// with `cert` (the one shared cluster certificate).
    ///
    /// # Panics
    ///
    /// If a node does not start or join within 20 s.
    pub fn start_tls(cert: &TestCert) -> Self {
        Self::start_with(Some(cert))
    }

    fn start_with(cert: Option<&TestCert>) -> Self {
        init_tracing();
        let rt = runtime();
        let mut nodes = Vec::new();
        let mut addresses = Vec::new();
        let mut dirs = Vec::new();
        for id in 1..=3u64 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            let address = listener.local_addr().expect("a bound address").to_string();
            nodes.push(Some(rt.block_on(start_node_with(
                id,
                &address,
                listener,
                dir.path(),
                cert.map(TestCert::node_tls),
            ))));
            addresses.push(address);
            dirs.push(dir);
        }
        let seed = vec![addresses[0].clone()];
        for node in nodes[1..].iter().flatten() {
            rt.block_on(node.join(&seed, std::time::Duration::from_secs(20)))
                .expect("the node joins");
        }
        Self {
            rt,
            nodes,
            addresses,
            _dirs: dirs,
        }
    }

    /// Stops the current leader (waiting, bounded, for one); returns its
    /// address.
    ///
    /// # Panics
    ///
    /// If no node leads within 15 s, or the leader does not stop.
    pub fn stop_leader(&mut self) -> String {
        use std::time::{Duration, Instant};
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self
                .nodes
                .iter()
                .position(|n| n.as_ref().is_some_and(Node::is_leader))
                && let Some(node) = self.nodes[i].take()
            {
                self.rt.block_on(node.stop()).expect("the leader stops");
                return self.addresses[i].clone();
            }
            assert!(Instant::now() < deadline, "no leader");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            let _ = self.rt.block_on(node.stop());
        }
    }
}
