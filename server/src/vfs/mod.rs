//! A SQLite VFS, keeping databases' main files on disk, that captures the WAL frames of each committed
//! write transaction, so they can be replicated through Raft, and that
//! lets the next write transaction start before Raft commits the last one.
//!
//! # How a write flows
//!
//! 1. A connection opened with [`Vfs::open`] runs a write transaction as
//!    usual. Its frames go into the database's in-memory WAL.
//! 2. When SQLite commits, the transaction becomes *pending*: its frames
//!    stay visible to this node's connections and the write lock is free,
//!    so further write transactions build on it (pipelining).
//!    [`Vfs::frames_after`] returns its [`Frames`] for the Raft log.
//! 3. Nobody may answer a client on the strength of pending frames:
//!    [`Vfs::last_tx`] gives a [`TxTicket`] for the newest one, which
//!    settles once Raft commits it ([`Vfs::publish`], oldest first) or it
//!    is dropped ([`Vfs::abort_from`]: it and everything built on it).
//!    A connection whose snapshot may hold dropped frames is fenced
//!    ([`Vfs::take_fenced`]) until it ends its transaction.
//! 4. Nodes that did not run the transaction call [`Vfs::apply`] with the
//!    same frames; the WAL grows by exactly those pages, so every node's
//!    database holds the same bytes.
//!
//! # Threading
//!
//! All connections of one database must be driven one at a time (the
//! server holds its SQL lock around every stretch of SQLite work). The VFS's own
//! state is behind mutexes, but SQLite reads the shared wal-index memory
//! directly, and rewriting it relies on no other connection of the same
//! database reading at the same time.
//!
//! # Layout
//! - `frames`: what a transaction's capture is ([`Frames`]: pages, whole
//!   or as changes) and the fixed page size.
//! - `error`: [`VfsError`].
//! - `wal`: the WAL and wal-index formats (checksums, headers).
//! - `delta`: pages as changes to their previous version.
//! - `state`: one database's files, locks, shared memory and capture logic.
//! - `ffi`: the `sqlite3_vfs` / `sqlite3_io_methods` callbacks.
//! - `handle`: [`Vfs`], the handle the server holds, and [`DatabaseImage`].
//! - `main_file`: a database's main file on disk behind the overlay of
//!   folded pages not yet written, and the disk thread that writes them.
//! - `undo`, `sums`: per-file undo records back to the last durable point,
//!   and block checksums checked on every read.
//! - `files`: the directory's layout (`N.db`, `N.undo`, `N.sum`, `N.wal.E`).
//! - `durable`: durable points ([`Manifest`]), restart from one, and the
//!   switch to a received snapshot's files.
//! - `pin`: a durable point held readable while a snapshot send reads it.
//! - `incoming`: a received snapshot written into new files as it comes.

mod delta;
mod durable;
mod error;
mod ffi;
mod files;
mod frames;
mod handle;
mod incoming;
mod main_file;
mod pin;
mod state;
mod sums;
mod undo;
mod wal;

pub use durable::{Commit, Manifest};
pub use error::VfsError;
pub use frames::Frames;
pub use handle::{ConnectionId, DatabaseImage, Vfs};
pub use incoming::Incoming;
pub use pin::Pin;
pub use state::{TxState, TxTicket};

#[cfg(test)]
mod tests;
