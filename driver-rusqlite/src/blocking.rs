//! How the blocking API waits: the future of each call is polled on the
//! calling thread, and the sockets and timers it uses are driven by one
//! background thread that the crate starts on first use and shares between
//! every blocking [`Connection`](crate::Connection).
//!
//! Nothing here needs the calling thread to be outside a tokio runtime, so
//! the blocking API works on any thread: a plain thread, `main`, a pool
//! thread, or `tokio::task::spawn_blocking`. Called from an async task
//! directly it still works, but it blocks that worker thread for the
//! length of the call (as any blocking call does, rusqlite's included); it
//! cannot deadlock the connection itself, because its IO never runs on
//! the caller's runtime, and every wait is bounded by the connection's
//! timeouts.

use std::future::Future;
use std::sync::OnceLock;

use crate::{Error, Result};

/// The handle of the shared IO runtime, started on first use.
pub(crate) fn io_handle() -> Result<&'static tokio::runtime::Handle> {
    static HANDLE: OnceLock<std::result::Result<tokio::runtime::Handle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(start_io_thread)
        .as_ref()
        .map_err(|why| Error::InvalidConfig(format!("cannot start the IO thread: {why}")))
}

/// Starts the thread that drives the shared runtime's IO and timers (and
/// runs the tasks spawned on it) for as long as the process lives.
fn start_io_thread() -> std::result::Result<tokio::runtime::Handle, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("dqlite-rusqlite-io".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(|e| e.to_string())?;
    tracing::debug!("started the blocking API's IO thread");
    Ok(handle)
}

/// Runs `future` to completion on the calling thread, inside the shared IO
/// runtime's context (so that the sockets and timers it creates belong to
/// that runtime, whose thread drives them).
pub(crate) fn block_on<F: Future>(io: &tokio::runtime::Handle, future: F) -> F::Output {
    let _context = io.enter();
    // Outside tokio's cooperative budget: called from a task, the task's
    // budget would run out and, never reset while the task is blocked
    // here, leave every socket pending for good.
    pollster::block_on(tokio::task::unconstrained(future))
}
