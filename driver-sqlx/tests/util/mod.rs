//! Helpers shared by the integration tests: the node, cluster, C server
//! and naming helpers both drivers use (`dqlite_compat_tests::drivers`),
//! and `run` for the async test bodies.

// Each test binary uses a part of these helpers.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

pub use dqlite_compat_tests::drivers::{
    DemoServer as CServer, TestCluster as Cluster, TestNode, init_tracing, runtime, start_node,
    unique_db,
};

/// Runs a test body on a runtime of its own (the nodes have theirs).
pub fn run<F: Future>(body: F) -> F::Output {
    runtime().block_on(body)
}
