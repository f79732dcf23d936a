//! The dqlite-compatible server: an embeddable node and the `dqlite-server`
//! binary.
//!
//! **Status:** under construction (project issues 3 and 4). What exists:
//!
//! - [`vfs`]: the in-memory SQLite VFS that captures each committed write
//!   transaction's WAL frames, hides them until they are published, and
//!   applies frames produced by another node.
//! - [`raft`]: openraft storage: a durable segmented log store and a state
//!   machine that applies WAL frames to the VFS, with on-disk snapshots.
//! - [`Node`]: a single-voter node (bootstrap, restart, snapshots) whose
//!   [`Session`]s run SQL on per-database executor threads; each committed
//!   write transaction is replicated through Raft before the call returns.
//!
//! Still to come: the gateway speaking the wire protocol of
//! `dqlite-protocol` over TCP, and the `dqlite-server` binary.

mod error;
mod fs_util;
mod gateway;
pub mod net;
mod node;
pub mod raft;
mod session;
mod sql;
pub mod vfs;

pub use error::{Error, Result};
pub use node::{Member, Metadata, Node, NodeBuilder};
pub use session::{ExecOutcome, Prepared, Session};
