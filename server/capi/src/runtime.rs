//! Running the node's async operations for C callers on any thread.
//!
//! A node runs on a thread of its own (see `dqlite_server::Node`); what a
//! C call awaits (start, stop, handover) is a short future. They run on one
//! process-wide, lazily built runtime and the calling thread waits on a
//! channel, which also works when the caller is itself inside a runtime.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{ApiError, ApiResult};

fn runtime() -> ApiResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("dqlite-capi")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| ApiError::failed(format!("cannot start the library's runtime: {e}")))
}

/// Runs `future` to completion and returns its output.
pub fn block_on<F>(future: F) -> ApiResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .map_err(|_| ApiError::failed("the library's runtime dropped an operation"))
}
