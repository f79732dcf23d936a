//! The exported node functions of `dqlite.h`.
//!
//! Each function looks its node up in the registry (a pointer that is not
//! a live node gets `DQLITE_MISUSE`, never a crash), runs the operation
//! inside `catch_unwind`, and records the error message of a failure for
//! `dqlite_node_errmsg`.

#![allow(non_camel_case_types)]

use std::ffi::{CStr, c_char, c_int, c_uint, c_ulonglong, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Duration;

use dqlite_protocol::Role;
use dqlite_server::offline::RecoverMember;

use crate::connect::{ConnectFn, ConnectFunc};
use crate::error::{ApiError, ApiResult, DQLITE_ERROR, DQLITE_MISUSE, DQLITE_NOMEM, DQLITE_OK};
pub use crate::handle::dqlite_node;
use crate::handle::{self, CNode};
use crate::node_id;

/// `struct dqlite_node_info`.
#[repr(C)]
pub struct dqlite_node_info {
    /// Node id.
    pub id: u64,
    /// Node address (a C string).
    pub address: *const c_char,
}

/// `struct dqlite_node_info_ext`.
#[repr(C)]
pub struct dqlite_node_info_ext {
    /// Size of the struct as the caller knows it.
    pub size: u64,
    /// Node id.
    pub id: u64,
    /// Node address: a `const char *` stored as a number.
    pub address: u64,
    /// 0 voter, 1 stand-by, 2 spare.
    pub dqlite_role: u64,
}

/// `DQLITE_NODE_INFO_EXT_SZ_ORIG`.
const NODE_INFO_EXT_SIZE: u64 = 32;

/// Text the C library returns for a NULL node.
const NULL_NODE: &CStr = c"node is NULL";

fn record(node: &CNode, result: std::thread::Result<ApiResult>) -> c_int {
    match result {
        Ok(Ok(())) => DQLITE_OK,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "node call failed");
            node.set_errmsg(&e.to_string());
            e.code()
        }
        Err(_) => {
            node.set_errmsg("internal error (a panic in the library; see its log)");
            DQLITE_ERROR
        }
    }
}

/// Runs `f` on the node behind `n`, or returns `DQLITE_MISUSE`.
fn with_node(n: *mut dqlite_node, f: impl FnOnce(&CNode) -> ApiResult) -> c_int {
    let Some(node) = handle::lookup(n) else {
        return DQLITE_MISUSE;
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&node)));
    record(&node, result)
}

/// Reads a C string argument.
///
/// # Safety
/// `s` is NULL or a valid NUL-terminated string.
unsafe fn text<'a>(s: *const c_char, what: &str) -> ApiResult<&'a str> {
    if s.is_null() {
        return Err(ApiError::misuse(format!("{what} is NULL")));
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| ApiError::misuse(format!("{what} is not UTF-8")))
}

/// Turns on a stderr log when `LIBDQLITE_TRACE` is set (as the C library
/// does); `RUST_LOG` picks the level, default debug.
fn maybe_trace() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("LIBDQLITE_TRACE").is_some() {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .try_init();
        }
    });
}

/// Allocates a node.
///
/// # Safety
/// `address` and `data_dir` are NULL or C strings; `n` is a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_create(
    id: c_ulonglong,
    address: *const c_char,
    data_dir: *const c_char,
    n: *mut *mut dqlite_node,
) -> c_int {
    if n.is_null() {
        return DQLITE_MISUSE;
    }
    maybe_trace();
    let created = catch_unwind(|| {
        // SAFETY: the caller's contract.
        let address = unsafe { text(address, "address") }.unwrap_or_default();
        // SAFETY: the caller's contract.
        let dir = unsafe { text(data_dir, "data directory") }.unwrap_or_default();
        let node = CNode::new(id, address.to_owned(), PathBuf::from(dir));
        let valid = node.validate();
        if let Err(e) = &valid {
            node.set_errmsg(&e.to_string());
        }
        (handle::register(node), valid)
    });
    match created {
        Ok((handle, valid)) => {
            // SAFETY: `n` is a valid out pointer (checked non-NULL above).
            unsafe { n.write(handle) };
            valid.err().map_or(DQLITE_OK, |e| e.code())
        }
        Err(_) => DQLITE_NOMEM,
    }
}

/// Stops (if running) and frees a node.
///
/// # Safety
/// `n` is NULL or a node from `dqlite_node_create` not destroyed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_destroy(n: *mut dqlite_node) {
    if let Some(node) = handle::unregister(n) {
        let _ = catch_unwind(AssertUnwindSafe(|| node.shut_down()));
    }
}

/// Binds the listening socket.
///
/// # Safety
/// `n` is a node; `address` is a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_bind_address(
    n: *mut dqlite_node,
    address: *const c_char,
) -> c_int {
    // SAFETY: the caller's contract.
    let address = unsafe { text(address, "bind address") };
    with_node(n, |node| node.bind(address?))
}

/// The bound address, or NULL.
///
/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_get_bind_address(n: *mut dqlite_node) -> *const c_char {
    handle::lookup(n).map_or(std::ptr::null(), |node| node.bind_address_ptr())
}

/// Sets the function that opens connections to other nodes.
///
/// # Safety
/// `n` is a node; `f`, if not NULL, follows `dqlite.h`'s contract with `arg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_connect_func(
    n: *mut dqlite_node,
    f: Option<ConnectFn>,
    arg: *mut c_void,
) -> c_int {
    let connect = f.map(|f| ConnectFunc::new(f, arg));
    with_node(n, |node| node.set_connect(connect))
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_network_latency(
    n: *mut dqlite_node,
    nanoseconds: c_ulonglong,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| o.set_network_latency_ns(nanoseconds))
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_network_latency_ms(
    n: *mut dqlite_node,
    milliseconds: c_uint,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| o.set_network_latency_ms(u64::from(milliseconds)))
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_failure_domain(
    n: *mut dqlite_node,
    code: c_ulonglong,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.failure_domain = code;
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_snapshot_params(
    n: *mut dqlite_node,
    snapshot_threshold: c_uint,
    snapshot_trailing: c_uint,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| o.set_snapshot_params(snapshot_threshold, snapshot_trailing, 0))
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_snapshot_params_v2(
    n: *mut dqlite_node,
    snapshot_threshold: c_uint,
    snapshot_trailing: c_uint,
    trailing_strategy: c_int,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.set_snapshot_params(snapshot_threshold, snapshot_trailing, trailing_strategy)
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_block_size(n: *mut dqlite_node, size: usize) -> c_int {
    with_node(n, |node| node.configure(|o| o.set_block_size(size)))
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_target_voters(
    n: *mut dqlite_node,
    voters: c_int,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.set_target_voters(voters);
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_target_standbys(
    n: *mut dqlite_node,
    standbys: c_int,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.set_target_standbys(standbys);
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_pool_thread_count(
    n: *mut dqlite_node,
    thread_count: c_uint,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.pool_threads = Some(thread_count);
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_auto_recovery(
    n: *mut dqlite_node,
    enabled: bool,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.auto_recovery = enabled;
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_snapshot_compression(
    n: *mut dqlite_node,
    enabled: bool,
) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.snapshot_compression = enabled;
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_enable_role_management(n: *mut dqlite_node) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.manage_roles = true;
            Ok(())
        })
    })
}

/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_set_busy_timeout(n: *mut dqlite_node, msecs: c_uint) -> c_int {
    with_node(n, |node| {
        node.configure(|o| {
            o.busy_timeout = Duration::from_millis(u64::from(msecs));
            Ok(())
        })
    })
}

/// Accepted before the node starts, and changes nothing: databases are
/// always on disk here (their main files in the data directory, read
/// through SQLite's page cache), which is what dqlite's experimental disk
/// mode was for.
///
/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_enable_disk_mode(n: *mut dqlite_node) -> c_int {
    with_node(n, |node| node.configure(|_| Ok(())))
}

/// Starts the node.
///
/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_start(n: *mut dqlite_node) -> c_int {
    with_node(n, CNode::start)
}

/// Hands this node's roles over to others.
///
/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_handover(n: *mut dqlite_node) -> c_int {
    with_node(n, CNode::handover)
}

/// Stops the node.
///
/// # Safety
/// `n` is a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_stop(n: *mut dqlite_node) -> c_int {
    with_node(n, CNode::stop)
}

/// Forces the configuration to `infos`, all voters.
///
/// # Safety
/// `n` is a node; `infos` points to `n_info` entries with valid addresses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_recover(
    n: *mut dqlite_node,
    infos: *const dqlite_node_info,
    n_info: c_int,
) -> c_int {
    let members = (|| {
        let count = member_count(infos.is_null(), n_info)?;
        (0..count)
            .map(|i| {
                // SAFETY: the caller's contract: `n_info` entries.
                let info = unsafe { &*infos.add(i) };
                Ok(RecoverMember {
                    id: info.id,
                    // SAFETY: the caller's contract.
                    address: unsafe { text(info.address, "member address") }?.to_owned(),
                    role: Role::Voter,
                })
            })
            .collect::<ApiResult<Vec<_>>>()
    })();
    with_node(n, |node| node.recover(&members?))
}

/// Forces the configuration to `infos`.
///
/// # Safety
/// `n` is a node; `infos` points to `n_info` entries of 32 bytes, each
/// readable for its `size` bytes, with valid addresses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_recover_ext(
    n: *mut dqlite_node,
    infos: *const dqlite_node_info_ext,
    n_info: c_int,
) -> c_int {
    let members = (|| {
        let count = member_count(infos.is_null(), n_info)?;
        (0..count)
            .map(|i| {
                // SAFETY: the caller's contract.
                let info = unsafe { infos.add(i) };
                // SAFETY: as above.
                unsafe { member_ext(info) }
            })
            .collect::<ApiResult<Vec<_>>>()
    })();
    with_node(n, |node| node.recover(&members?))
}

fn member_count(null: bool, n_info: c_int) -> ApiResult<usize> {
    if null || n_info <= 0 {
        return Err(ApiError::misuse("no members given"));
    }
    usize::try_from(n_info).map_err(|_| ApiError::misuse("bad member count"))
}

/// Validates one extensible member entry as the C library does: at least
/// the original size, a multiple of 8, unknown trailing fields zero.
///
/// # Safety
/// `info` is readable for its `size` bytes.
unsafe fn member_ext(info: *const dqlite_node_info_ext) -> ApiResult<RecoverMember> {
    // SAFETY: the caller's contract.
    let base = unsafe { &*info };
    if base.size < NODE_INFO_EXT_SIZE || base.size % 8 != 0 {
        return Err(ApiError::misuse(format!(
            "invalid node info size {}",
            base.size
        )));
    }
    let fields =
        usize::try_from(base.size / 8).map_err(|_| ApiError::misuse("invalid node info size"))?;
    for extra in 4..fields {
        // SAFETY: within the `size` bytes the caller vouched for.
        let value = unsafe { info.cast::<u64>().add(extra).read_unaligned() };
        if value != 0 {
            return Err(ApiError::misuse("unknown node info fields are not zero"));
        }
    }
    let address =
        usize::try_from(base.address).map_err(|_| ApiError::misuse("bad address pointer"))?;
    // SAFETY: the caller's contract: a C string pointer.
    let address = unsafe { text(address as *const c_char, "member address") }?;
    let role = match base.dqlite_role {
        1 => Role::StandBy,
        2 => Role::Spare,
        // Unknown roles become voters: what the C library intends.
        _ => Role::Voter,
    };
    Ok(RecoverMember {
        id: base.id,
        address: address.to_owned(),
        role,
    })
}

/// Index and term of the last log entry of a stopped node.
///
/// # Safety
/// `n` is a node; the out pointers are valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_describe_last_entry(
    n: *mut dqlite_node,
    last_entry_index: *mut u64,
    last_entry_term: *mut u64,
) -> c_int {
    if last_entry_index.is_null() || last_entry_term.is_null() {
        return DQLITE_MISUSE;
    }
    with_node(n, |node| {
        let (index, term) = node.last_entry()?;
        // SAFETY: checked non-NULL; the caller's contract.
        unsafe {
            last_entry_index.write(index);
            last_entry_term.write(term);
        }
        Ok(())
    })
}

/// The last failure's message.
///
/// # Safety
/// `n` is NULL or a node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_node_errmsg(n: *mut dqlite_node) -> *const c_char {
    match handle::lookup(n) {
        Some(node) => node.errmsg_ptr().cast(),
        None => NULL_NODE.as_ptr(),
    }
}

/// A random node id for `address`.
///
/// # Safety
/// `address` is NULL or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dqlite_generate_node_id(address: *const c_char) -> c_ulonglong {
    let bytes = if address.is_null() {
        &[][..]
    } else {
        // SAFETY: the caller's contract.
        unsafe { CStr::from_ptr(address) }.to_bytes()
    };
    node_id::node_id(bytes, node_id::now_nanos())
}
