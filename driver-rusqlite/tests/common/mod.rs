//! Helpers shared by the integration tests: tracing set up once, an
//! in-process `dqlite-server` node on 127.0.0.1 port 0 (with its own
//! runtime, so blocking tests can run on the test thread), the real C
//! server (`dqlite-demo`) as a child process, and a cutting TCP proxy.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// A runtime for the in-process nodes.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts node `id` serving on `listener`, reporting `address` as its own.
pub async fn start_node(id: u64, address: &str, listener: TcpListener, dir: &Path) -> Node {
    Node::builder(id, address, dir)
        .serve(listener, Limits::default())
        .start()
        .await
        .unwrap()
}

/// One in-process node with its runtime; stopped on drop.
pub struct TestNode {
    pub rt: tokio::runtime::Runtime,
    pub node: Option<Node>,
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

/// Where Debian installs the C server's demo program.
pub const DQLITE_DEMO: &str = "/usr/bin/dqlite-demo";

/// The real C server (libdqlite 1.11.1 in `dqlite-demo`) on a free
/// 127.0.0.1 port, killed by its pid on drop.
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
        let dir = tempfile::tempdir().unwrap();
        for attempt in 0..3 {
            let (api, db) = (free_port(), free_port());
            let node_dir = dir.path().join(format!("node-{attempt}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let log = std::fs::File::create(dir.path().join(format!("log-{attempt}"))).unwrap();
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
                _dir: tempfile::tempdir().unwrap(),
            };
            if server.wait_ready(db) {
                server._dir = dir;
                return Some(server);
            }
            drop(server);
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

/// Handshake + LEADER; whether a leader with an address is named.
fn leader_known(address: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = 1u64.to_le_bytes().to_vec();
    request.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    request.extend_from_slice(&[0; 8]);
    if s.write_all(&request).is_err() {
        return false;
    }
    let mut header = [0u8; 8];
    if s.read_exact(&mut header).is_err() || header[4] != 1 {
        return false;
    }
    let words = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let mut body = vec![0u8; usize::try_from(words).unwrap() * 8];
    s.read_exact(&mut body).is_ok() && body.len() > 8 && body[8] != 0
}

/// A TCP proxy in front of a node: it forwards both ways, and when told
/// to, cuts the next connection that gets an answer from the server,
/// before the client sees that answer.
pub struct CuttingProxy {
    pub address: String,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    /// Listens on 127.0.0.1 port 0 and forwards to whatever address
    /// `target` holds once a connection arrives.
    pub fn start(rt: &tokio::runtime::Runtime, target: Arc<std::sync::Mutex<String>>) -> Self {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let cut_flag = cut.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let to = target.lock().unwrap().clone();
                let cut = cut_flag.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                        return;
                    };
                    forward(client, server, cut).await;
                });
            }
        });
        Self { address, cut }
    }

    /// Cuts the next answer (once).
    pub fn cut_next_answer(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Whether the cut happened.
    pub fn cut_done(&self) -> bool {
        !self.cut.load(Ordering::SeqCst)
    }
}

async fn forward(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    cut: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut.swap(false, Ordering::SeqCst) {
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    upstream.abort();
}
