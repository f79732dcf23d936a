//! The dqlite-compatible server: an embeddable node and the `dqlite-server`
//! binary.
//!
//! A node serves dqlite's client protocol (any dqlite client, go-dqlite's
//! included) and replicates each database's write transactions through
//! Raft: single-voter nodes and clusters that fail over, change membership
//! (ADD, ASSIGN, REMOVE, TRANSFER), join by address, hand over, balance
//! roles, take snapshots, and pipeline writes; it survives kill -9 and
//! damaged files, and refuses forged peers.
//!
//! # Public API
//!
//! - [`Node`] and [`NodeBuilder`]: start a node on a data directory, open
//!   [`Session`]s, query the leader and the [`Member`]s, change the
//!   membership, stop.
//! - [`net`]: serving limits ([`net::Limits`]); [`transport`]: the
//!   listener a node serves and the dialer it opens connections to other
//!   nodes with (TCP, abstract Unix sockets, or the embedder's own).
//! - [`backup`]: backup of a database of a running cluster to a
//!   standalone SQLite file, and restore of such a file through Raft.
//! - [`offline`]: operations on a stopped node's data directory (the last
//!   log entry, forcing the cluster configuration).
//! - [`Error`] (and [`VfsError`], which it may carry); the tuning
//!   constants (timeouts, targets, [`PEER_MAGIC`], [`SNAPSHOT_CHUNK`]).
//!
//! Raft (openraft, pinned at an alpha) and the VFS are private: nothing in
//! the documented API names an openraft type (the hidden [`internals`]
//! module, for this crate's tests and fuzz targets only, does).
//!
//! # Where things are
//!
//! - `node/`: `start.rs` builds and starts a node (data directory, Raft,
//!   the node's tasks, serving) on a thread of its own; `handle.rs` is
//!   [`Node`], the handle, and its queries; `membership.rs`, `join.rs`,
//!   `roles.rs`, `demotion.rs` and `snapshots.rs` add membership changes,
//!   joining, the role manager, LEADER after a demotion and the snapshot
//!   policy.
//! - `data_dir.rs`: the data directory's layout, identity file and lock.
//! - `session.rs`: [`Session`], one SQLite connection, driven inline; each
//!   committed write transaction is queued to `pipeline.rs`, which proposes
//!   it to Raft in order, and answered once committed.
//! - [`net`] and `gateway/`: serving with limits under abuse (connection
//!   table with longest-idle eviction, idle and stall timeouts, a budget
//!   for large requests, prepared statements bounded), and the dqlite
//!   request handlers, which reach the node through `gateway::Cluster`.
//!   `member.rs`: what a node reports about the cluster.
//! - `vfs/`: the in-memory SQLite VFS that captures each committed write
//!   transaction's WAL frames, hides them until they are published, and
//!   applies frames produced by another node.
//! - `raft/`: openraft storage (a durable segmented log with group commit,
//!   a state machine applying WAL frames to the VFS, checksummed snapshots
//!   on disk), the node-to-node transport and its admission checks.
//! - `sql/`: result typing and ROWS batching, statement splitting, the SQL
//!   lock.
//! - `metrics/` and `http/`: the Prometheus metrics, and the HTTP
//!   endpoints (`/metrics`, `/healthz`, `/readyz`, `/status`) served with
//!   [`NodeBuilder::http`].
//! - `progress.rs`: progress lines of long operations (snapshot sent or
//!   received, a peer catching up, a restore), with stable fields.
//! - `main.rs`: the `dqlite-server` binary.
//!
//! No file imports one that imports it back (checked by
//! `compat-tests/tests/structure.rs`): `node` wires the others together
//! and nothing imports it back (unit tests aside). `ARCHITECTURE.md` at
//! the repository root describes the request path, the threads and
//! durability.

pub mod backup;
mod data_dir;
mod error;
mod fs_util;
mod gateway;
mod http;
mod member;
mod metrics;
pub mod net;
mod node;
pub mod offline;
mod pipeline;
mod progress;
pub(crate) mod raft;
mod session;
mod sql;
mod throttle;
pub mod tls;
pub mod transport;
pub(crate) mod vfs;

pub use error::{Error, Result};
pub use member::{Member, Metadata, RoleTargets, WANTED_STANDBYS, WANTED_VOTERS};
pub use node::{
    BOOTSTRAP_ID, CATCH_UP_TIMEOUT, CHANGE_SETTLE_TIMEOUT, DEFAULT_CACHE_SIZE,
    DEFAULT_ELECTION_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_SNAPSHOT_BYTES,
    DEFAULT_SNAPSHOT_EVERY, DEFAULT_SNAPSHOT_TRAILING, DEFAULT_SNAPSHOT_TRAILING_BYTES,
    DEFAULT_STARTUP_TIMEOUT, HANDOVER_TIMEOUT, MAX_MEMBERS, NODE_FAILURE_TIMEOUT, Node,
    NodeBuilder, READY_MAX_LAG, STOP_TIMEOUT, TRANSFER_TIMEOUT,
};
pub use raft::peer_wire::{PEER_MAGIC, SNAPSHOT_CHUNK};
pub use session::{ExecOutcome, Prepared, QUORUM_TIMEOUT, Session};
pub use vfs::VfsError;

/// Internals for this crate's own integration tests and fuzz targets (the
/// node-to-node wire format, admission checks, the Raft log file, the
/// openraft type configuration): not part of the supported API, and free
/// to change in any release. Hidden because these items name openraft
/// types (openraft is pinned at an alpha), and the fuzz targets, a crate
/// of their own, cannot see `cfg(test)` items.
#[doc(hidden)]
pub mod internals {
    pub use crate::raft::{admission, log_file, peer_wire, typ};

    /// The Raft log's segment scan, as a pure function over bytes (the
    /// `log_segment` fuzz target).
    pub mod segment {
        pub use crate::raft::log_file::scan::{
            Corruption, ScanInput, ScannedRecord, SegmentScan, TornTail, scan_segment,
        };

        /// Appends one batch of `records` (`(index, term, payload)`) to an
        /// in-memory segment, laid out as the log writes it, so that a fuzz
        /// target can build valid segments before damaging them.
        pub fn append_batch(segment: &mut Vec<u8>, records: &[(u64, u64, &[u8])]) {
            crate::raft::log_file::append_batch(segment, records);
        }
    }
}
