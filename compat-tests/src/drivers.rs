//! Test support the client drivers share (`dqlite-rusqlite` and
//! `sqlx-dqlite` dev-depend on this crate): tracing set up once, unique
//! database names, an in-process `dqlite-server` node on its own runtime,
//! and the C server ([`CServer`]) wrapped for driver tests, which skip with
//! a notice when `dqlite-demo` is not installed.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use dqlite_server::Node;
use dqlite_server::net::Limits;

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
    Node::builder(id, address, dir)
        .serve(listener, Limits::default())
        .start()
        .await
        .expect("the node starts")
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
        init_tracing();
        let rt = runtime();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("a bound address").to_string();
        let node = rt.block_on(start_node(1, &address, listener, dir.path()));
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
