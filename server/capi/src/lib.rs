//! `libdqlite.so.0`: a dqlite-rs node behind the C dqlite library's ABI.
//!
//! Programs that embed the C library through go-dqlite's cgo bindings
//! (`dqlite.New`, the `app` package, Debian's `dqlite-demo`) load this
//! library instead and run on our node unchanged: the exported functions
//! and `include/dqlite.h` have the C library's names, signatures,
//! constants and return codes (dqlite 1.18's node API, plus what 1.11's
//! header had). `README.md` next to this crate says how to build
//! against it and where it deliberately differs.
//!
//! Where things are:
//! - `api.rs`: the exported `dqlite_node_*` functions, each a thin layer
//!   over [`handle::CNode`] with `catch_unwind` and pointer checks.
//! - `handle.rs`: one C node (settings, then the running
//!   `dqlite_server::Node`), the opaque `dqlite_node` handle type and the
//!   registry of live handles; it imports nothing from `api.rs`.
//! - `options.rs`: settings validated as the C library validates them.
//! - `connect.rs`: the host's connect function as the node's dialer.
//! - `runtime.rs`: how calls from any thread await the node.
//! - `node_id.rs`: `dqlite_generate_node_id`'s recipe.
//! - `vfs.rs`: the 1.11 `dqlite_vfs_*` functions (unsupported).
//! - `build.rs`: the SONAME `libdqlite.so.0`.

pub mod api;
pub mod connect;
pub mod dist;
pub mod error;
pub mod handle;
pub mod node_id;
pub mod options;
mod runtime;
pub mod vfs;

use std::ffi::{c_char, c_int};

/// `DQLITE_VERSION_NUMBER` of the interface provided: 1.18.6.
pub const VERSION_NUMBER: c_int = 11806;

/// Number of the interface version (`dqlite_version_number`).
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_version_number() -> c_int {
    VERSION_NUMBER
}

/// A pointer that may live in a `static`.
#[repr(transparent)]
pub struct StaticText(*const c_char);

// SAFETY: it points to immutable static data.
unsafe impl Sync for StaticText {}

/// `dqlite_version_string`: the interface version, then ours.
#[unsafe(no_mangle)]
pub static dqlite_version_string: StaticText = StaticText(
    concat!("1.18.6 (dqlite-rs ", env!("CARGO_PKG_VERSION"), ")\0")
        .as_ptr()
        .cast(),
);
