//! Helpers shared by the integration tests: tracing set up once, unique
//! database names, an in-process `dqlite-server` node (on its own runtime,
//! stopped on drop), a three-node cluster, the real C server
//! (`dqlite-demo`) as a child process, and `run` for the async test bodies.
//! (The node and cluster set-up follows driver-rusqlite's test helpers.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dqlite_server::Node;
use dqlite_server::net::Limits;

/// Installs a tracing subscriber once (RUST_LOG decides the level).
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

/// A database name no other test uses.
pub fn unique_db(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a test body on a runtime of its own (the nodes have theirs).
pub fn run<F: Future>(body: F) -> F::Output {
    runtime().block_on(body)
}

async fn start_node(id: u64, address: &str, listener: TcpListener, dir: &Path) -> Node {
    Node::builder(id, address, dir)
        .serve(listener, Limits::default())
        .start()
        .await
        .unwrap()
}

/// One in-process node with its runtime; stopped on drop.
pub struct TestNode {
    rt: tokio::runtime::Runtime,
    node: Option<Node>,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl TestNode {
    pub fn start() -> Self {
        init_tracing();
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
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

/// Three voters: node 1 bootstraps, 2 and 3 join through it.
pub struct Cluster {
    rt: tokio::runtime::Runtime,
    nodes: Vec<Option<Node>>,
    pub addresses: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    pub fn start() -> Self {
        init_tracing();
        let rt = runtime();
        let mut nodes = Vec::new();
        let mut addresses = Vec::new();
        let mut dirs = Vec::new();
        for id in 1..=3u64 {
            let dir = tempfile::tempdir().unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
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

    /// Stops the current leader (waiting, bounded, for one); returns its
    /// address.
    pub fn stop_leader(&mut self) -> String {
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

/// Where Debian installs the C server's demo program.
pub const DQLITE_DEMO: &str = "/usr/bin/dqlite-demo";

/// The real C server (`dqlite-demo`) on a free 127.0.0.1 port, killed by
/// its pid on drop.
pub struct CServer {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl CServer {
    /// Starts `dqlite-demo`, or returns `None` (printing a notice) when it
    /// is not installed.
    pub fn start() -> Option<Self> {
        init_tracing();
        if !Path::new(DQLITE_DEMO).exists() {
            eprintln!("SKIPPED: {DQLITE_DEMO} is not installed (Debian package go-dqlite)");
            return None;
        }
        for attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let (api, db) = (free_port(), free_port());
            let log = std::fs::File::create(dir.path().join(format!("log-{attempt}"))).unwrap();
            let node_dir = dir.path().join("node");
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new(DQLITE_DEMO)
                .arg("--api")
                .arg(api.to_string())
                .arg("--db")
                .arg(db.to_string())
                .arg("--dir")
                .arg(&node_dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut server = Self {
                child,
                address: db.to_string(),
                _dir: dir,
            };
            if server.wait_ready(db) {
                return Some(server);
            }
        }
        panic!("dqlite-demo did not get ready in 3 attempts");
    }

    fn wait_ready(&mut self, db: SocketAddr) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if leader_known(db) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A URL for a fresh database on this server.
    pub fn url(&self, prefix: &str) -> String {
        format!("dqlite://{}/{}", self.address, unique_db(prefix))
    }

    /// Whether the process still runs (it did not crash).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for CServer {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Whether the node at `address` names a leader that accepts us: one
/// connection attempt of this driver, bounded by a short timeout.
fn leader_known(address: SocketAddr) -> bool {
    use sqlx::ConnectOptions;
    let options = sqlx_dqlite::DqliteConnectOptions::new()
        .node(address.to_string())
        .database("ready-check")
        .connect_timeout(Duration::from_millis(500));
    runtime().block_on(options.connect()).is_ok()
}
