//! Helpers shared by the integration tests: the node, C server and naming
//! helpers both drivers use (`dqlite_compat_tests::drivers`), a three-node
//! cluster, and `run` for the async test bodies.

// Each test binary uses a part of these helpers.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

pub use dqlite_compat_tests::drivers::{
    DemoServer as CServer, TestNode, init_tracing, runtime, start_node, unique_db,
};
use dqlite_server::Node;

/// Runs a test body on a runtime of its own (the nodes have theirs).
pub fn run<F: Future>(body: F) -> F::Output {
    runtime().block_on(body)
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
