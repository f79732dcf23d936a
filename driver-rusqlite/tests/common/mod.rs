//! Helpers shared by the integration tests: the node, C server and naming
//! helpers both drivers use (`dqlite_compat_tests::drivers`: an in-process
//! node with its own runtime, so blocking tests can run on the test
//! thread), and a cutting TCP proxy.

// Each test binary uses a part of these helpers.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use dqlite_compat_tests::drivers::{
    DemoServer as CServer, TestNode, init_tracing, runtime, start_node, unique_db,
};

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
