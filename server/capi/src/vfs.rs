//! The `dqlite_vfs_*` functions of dqlite 1.11's header.
//!
//! They let a host register dqlite's VFS into *its own* SQLite. This
//! library's VFS lives in its own, private SQLite (the host's would run it
//! in whatever threading mode the host chose, and the two cannot share
//! pages), so each function fails with `DQLITE_ERROR`; dqlite itself
//! removed them in 1.18.2 and go-dqlite never called them.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

use crate::error::DQLITE_ERROR;

/// `struct dqlite_vfs_frame`.
#[repr(C)]
pub struct dqlite_vfs_frame {
    /// Page number.
    pub page_number: c_ulong,
    /// Page content.
    pub data: *mut c_void,
}

/// `struct dqlite_buffer`.
#[repr(C)]
pub struct dqlite_buffer {
    /// Start of the buffer.
    pub base: *mut c_void,
    /// Length of the buffer.
    pub len: usize,
}

/// Opaque `sqlite3_vfs` of the host.
#[repr(C)]
pub struct sqlite3_vfs {
    _private: [u8; 0],
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_init(_vfs: *mut sqlite3_vfs, _name: *const c_char) -> c_int {
    DQLITE_ERROR
}

/// Nothing to close: `dqlite_vfs_init` never succeeds.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_close(_vfs: *mut sqlite3_vfs) {}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_poll(
    _vfs: *mut sqlite3_vfs,
    _filename: *const c_char,
    _frames: *mut *mut dqlite_vfs_frame,
    _n: *mut c_uint,
) -> c_int {
    DQLITE_ERROR
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_apply(
    _vfs: *mut sqlite3_vfs,
    _filename: *const c_char,
    _n: c_uint,
    _page_numbers: *mut c_ulong,
    _frames: *mut c_void,
) -> c_int {
    DQLITE_ERROR
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_abort(_vfs: *mut sqlite3_vfs, _filename: *const c_char) -> c_int {
    DQLITE_ERROR
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_snapshot(
    _vfs: *mut sqlite3_vfs,
    _filename: *const c_char,
    _data: *mut *mut c_void,
    _n: *mut usize,
) -> c_int {
    DQLITE_ERROR
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_shallow_snapshot(
    _vfs: *mut sqlite3_vfs,
    _filename: *const c_char,
    _bufs: *mut dqlite_buffer,
    _n: c_uint,
) -> c_int {
    DQLITE_ERROR
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_num_pages(
    _vfs: *mut sqlite3_vfs,
    _filename: *const c_char,
    _n: *mut c_uint,
) -> c_int {
    DQLITE_ERROR
}

/// Not supported: `DQLITE_ERROR`.
#[unsafe(no_mangle)]
pub extern "C" fn dqlite_vfs_restore(
    _vfs: *mut sqlite3_vfs,
    _filename: *const c_char,
    _data: *const c_void,
    _n: usize,
) -> c_int {
    DQLITE_ERROR
}
