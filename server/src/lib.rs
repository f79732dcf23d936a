//! The dqlite-compatible server: an embeddable node and the `dqlite-server`
//! binary.
//!
//! **Status:** single-voter nodes and clusters that replicate, fail over,
//! change membership, join by address, hand over and pipeline writes
//! (issues 3 and 4), hardened against forged peers, kill -9 and damaged
//! files (issue 14). Where things are:
//!
//! - [`Node`] (`node.rs`): the embeddable node, running on a thread of its
//!   own (bootstrap, restart, snapshots, serving clients), and
//!   `node/membership.rs` (ADD, ASSIGN, REMOVE, TRANSFER),
//!   `node/demotion.rs` (LEADER on a voter just demoted to spare); [`Session`]
//!   (`session.rs`): one SQLite connection, driven inline; each committed
//!   write transaction is replicated through Raft before the call returns.
//! - [`net`] and `gateway/`: serving with limits under abuse (connection
//!   table with longest-idle eviction, idle and stall timeouts, a budget for
//!   large requests, prepared statements bounded), and the dqlite request
//!   handlers speaking `dqlite-protocol`.
//! - [`vfs`]: the in-memory SQLite VFS that captures each committed write
//!   transaction's WAL frames, hides them until they are published, and
//!   applies frames produced by another node.
//! - [`raft`]: openraft storage: a durable segmented log with group commit
//!   and a state machine that applies WAL frames to the VFS, with
//!   checksummed on-disk snapshots; the node-to-node transport, whose
//!   callers and calls pass admission checks before they reach Raft.
//! - [`offline`]: operations on a stopped node's data directory: the last
//!   log entry, and forcing the cluster configuration (dqlite's recover).
//! - `sql/`: result typing and ROWS batching, statement splitting, the SQL
//!   lock.
//! - `main.rs`: the `dqlite-server` binary.
//!
//! `ARCHITECTURE.md` at the repository root describes the request path,
//! the threads and durability.

mod data_dir;
mod error;
mod fs_util;
mod gateway;
mod member;
pub mod net;
mod node;
pub mod offline;
mod pipeline;
pub mod raft;
mod session;
mod sql;
pub mod transport;
pub mod vfs;

pub use error::{Error, Result};
pub use member::{Member, Metadata, RoleTargets, WANTED_STANDBYS, WANTED_VOTERS};
pub use node::membership::{CATCH_UP_TIMEOUT, HANDOVER_TIMEOUT, MAX_MEMBERS, TRANSFER_TIMEOUT};
pub use node::roles::NODE_FAILURE_TIMEOUT;
pub use node::{
    BOOTSTRAP_ID, DEFAULT_SNAPSHOT_EVERY, DEFAULT_STARTUP_TIMEOUT, Node, NodeBuilder, STOP_TIMEOUT,
};
pub use session::{ExecOutcome, Prepared, QUORUM_TIMEOUT, Session};
