//! One C `dqlite_node`: its settings until it starts, then the running
//! [`Node`]; the opaque [`dqlite_node`] type C callers hold; and the
//! registry of live handles that lets every exported function refuse a
//! pointer that is not (or no longer) a node.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dqlite_server::Node;
use dqlite_server::net::Limits;
use dqlite_server::offline::{self, RecoverMember};
use dqlite_server::transport::Listener;

use crate::connect::ConnectFunc;
use crate::error::{ApiError, ApiResult};
use crate::options::Options;
use crate::runtime::block_on;

/// Size of the message buffer, as in the C library.
pub const ERRMSG_SIZE: usize = 300;

/// Longest a stop may take before `dqlite_node_stop` reports failure.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A node as C callers hold it.
#[derive(Debug)]
pub struct CNode {
    id: u64,
    address: String,
    dir: PathBuf,
    /// NUL-terminated; its address never changes while the node lives.
    errmsg: Mutex<[u8; ERRMSG_SIZE]>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    phase: Phase,
    options: Options,
    listener: Option<Listener>,
    /// What `dqlite_node_get_bind_address` returns.
    bind_address: Option<CString>,
    /// Earlier bind addresses, kept so that pointers handed out stay valid.
    retired: Vec<CString>,
    connect: Option<ConnectFunc>,
}

#[derive(Debug, Default)]
enum Phase {
    #[default]
    Created,
    Running(Node),
    Stopped,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CNode {
    /// A node with its identity; touches no file.
    pub fn new(id: u64, address: String, dir: PathBuf) -> Self {
        CNode {
            id,
            address,
            dir,
            errmsg: Mutex::new([0; ERRMSG_SIZE]),
            state: Mutex::default(),
        }
    }

    /// Checks what `dqlite_node_create` checks.
    pub fn validate(&self) -> ApiResult {
        if self.id == 0 {
            return Err(ApiError::failed("node id 0 is not valid"));
        }
        if self.address.is_empty() {
            return Err(ApiError::failed("the node's address is empty"));
        }
        if self.dir.as_os_str().is_empty() {
            return Err(ApiError::failed("the data directory is empty"));
        }
        Ok(())
    }

    /// Records `message` for `dqlite_node_errmsg`, cut to the buffer.
    pub fn set_errmsg(&self, message: &str) {
        let mut buffer = lock(&self.errmsg);
        let mut end = message.len().min(ERRMSG_SIZE - 1);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        buffer[..end].copy_from_slice(&message.as_bytes()[..end]);
        buffer[end..].fill(0);
    }

    /// The message buffer (stable for the node's life).
    pub fn errmsg_ptr(&self) -> *const u8 {
        lock(&self.errmsg).as_ptr()
    }

    /// The current message, for tests.
    pub fn errmsg(&self) -> String {
        let buffer = lock(&self.errmsg);
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(ERRMSG_SIZE);
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }

    /// Runs `f` on the settings of a node that has not started.
    pub fn configure(&self, f: impl FnOnce(&mut Options) -> ApiResult) -> ApiResult {
        let mut state = lock(&self.state);
        state.ensure_created()?;
        f(&mut state.options)
    }

    /// `dqlite_node_set_bind_address`: binds now, accepts from start on.
    pub fn bind(&self, address: &str) -> ApiResult {
        let mut state = lock(&self.state);
        state.ensure_created()?;
        let listener = Listener::bind(address).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => {
                ApiError::failed(format!("invalid bind address {address:?}: {e}"))
            }
            _ => ApiError::failed(format!("cannot bind {address}: {e}")),
        })?;
        let bound = listener
            .local_address()
            .map_err(|e| ApiError::failed(format!("cannot read the bound address: {e}")))?;
        let bound = CString::new(bound).map_err(|e| ApiError::failed(e.to_string()))?;
        if let Some(old) = state.bind_address.replace(bound) {
            state.retired.push(old);
        }
        state.listener = Some(listener);
        Ok(())
    }

    /// `dqlite_node_get_bind_address`: NULL until bound.
    pub fn bind_address_ptr(&self) -> *const std::ffi::c_char {
        lock(&self.state)
            .bind_address
            .as_ref()
            .map_or(std::ptr::null(), |a| a.as_ptr())
    }

    /// `dqlite_node_set_connect_func` (`None` restores the default dialer).
    pub fn set_connect(&self, connect: Option<ConnectFunc>) -> ApiResult {
        let mut state = lock(&self.state);
        state.ensure_created()?;
        state.connect = connect;
        Ok(())
    }

    /// `dqlite_node_start`: returns once the node serves its address.
    pub fn start(&self) -> ApiResult {
        let mut state = lock(&self.state);
        state.ensure_created()?;
        let listener = state.listener.take().ok_or_else(|| {
            ApiError::misuse("no bind address set: call dqlite_node_set_bind_address first")
        })?;
        // As dqlite, idle connections are kept (go-dqlite's TLS proxy in
        // `app` talks to the node over a Unix socket, where a reset cannot
        // be told from a clean close); the other limits apply.
        let limits = Limits {
            idle_timeout: std::time::Duration::ZERO,
            ..Limits::default()
        };
        let mut builder = Node::builder(self.id, self.address.clone(), self.dir.clone())
            .serve(listener, limits)
            .wait_for_leader(false)
            .check_identity(false);
        if let Some(connect) = state.connect {
            builder = builder.dialer(Arc::new(connect));
        }
        builder = state.options.apply(builder);
        let node = block_on(builder.start())??;
        tracing::info!(id = self.id, address = %self.address, "node started through the C API");
        state.phase = Phase::Running(node);
        Ok(())
    }

    /// `dqlite_node_stop`: bounded; the node cannot start again.
    pub fn stop(&self) -> ApiResult {
        let mut state = lock(&self.state);
        let node = match std::mem::replace(&mut state.phase, Phase::Stopped) {
            Phase::Running(node) => node,
            other => {
                state.phase = other;
                return Err(ApiError::misuse("the node is not running"));
            }
        };
        let stopped =
            block_on(async move { tokio::time::timeout(STOP_TIMEOUT, node.stop()).await })?;
        match stopped {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::failed(format!(
                "the node did not stop cleanly: {e}"
            ))),
            Err(_) => Err(ApiError::failed(format!(
                "the node did not stop within {} s",
                STOP_TIMEOUT.as_secs()
            ))),
        }
    }

    /// `dqlite_node_handover`.
    pub fn handover(&self) -> ApiResult {
        let node = match &lock(&self.state).phase {
            Phase::Running(node) => node.clone(),
            _ => return Err(ApiError::misuse("the node is not running")),
        };
        block_on(async move { node.handover_roles().await })?
            .map_err(|e| ApiError::failed(format!("handover: {e}")))
    }

    /// `dqlite_node_describe_last_entry`.
    pub fn last_entry(&self) -> ApiResult<(u64, u64)> {
        let state = lock(&self.state);
        if matches!(state.phase, Phase::Running(_)) {
            return Err(ApiError::misuse("the node is running"));
        }
        Ok(offline::last_entry(&self.dir)?)
    }

    /// `dqlite_node_recover_ext`.
    pub fn recover(&self, members: &[RecoverMember]) -> ApiResult {
        let state = lock(&self.state);
        if matches!(state.phase, Phase::Running(_)) {
            return Err(ApiError::failed("cannot recover a running node"));
        }
        offline::recover(&self.dir, members).map_err(|e| ApiError::failed(format!("recover: {e}")))
    }

    /// Stops the node if it runs (for `dqlite_node_destroy`).
    pub fn shut_down(&self) {
        if matches!(lock(&self.state).phase, Phase::Running(_))
            && let Err(e) = self.stop()
        {
            tracing::warn!(id = self.id, error = %e, "destroying a node that did not stop");
        }
    }
}

impl State {
    fn ensure_created(&self) -> ApiResult {
        match self.phase {
            Phase::Created => Ok(()),
            Phase::Running(_) => Err(ApiError::misuse("the node is running")),
            Phase::Stopped => Err(ApiError::misuse(
                "the node was stopped; create a new one to start again",
            )),
        }
    }
}

/// The opaque node type of `dqlite.h`: what [`register`] hands out and
/// [`lookup`] takes back.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct dqlite_node {
    _private: [u8; 0],
}

/// Live nodes by the address handed to C.
fn registry() -> MutexGuard<'static, HashMap<usize, Arc<CNode>>> {
    static NODES: LazyLock<Mutex<HashMap<usize, Arc<CNode>>>> = LazyLock::new(Mutex::default);
    lock(&NODES)
}

/// Registers `node`; returns the pointer C callers get.
pub fn register(node: CNode) -> *mut dqlite_node {
    let node = Arc::new(node);
    let key = Arc::as_ptr(&node) as usize;
    registry().insert(key, node);
    key as *mut dqlite_node
}

/// The node behind a pointer, if it is one.
pub fn lookup(ptr: *const dqlite_node) -> Option<Arc<CNode>> {
    registry().get(&(ptr as usize)).cloned()
}

/// Unregisters the node behind `ptr` and returns it.
pub fn unregister(ptr: *const dqlite_node) -> Option<Arc<CNode>> {
    registry().remove(&(ptr as usize))
}
