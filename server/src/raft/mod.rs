//! Consensus: openraft's storage, network and type configuration.
//!
//! openraft is pinned at `=0.10.0-alpha.37` (an alpha: its API moves), so
//! this module is private to the crate: no public item names an openraft
//! type (the crate's own tests and fuzz targets reach a few submodules
//! through the hidden `internals` module). Inside the crate, openraft is
//! named here and by the code that drives the [`instance::Raft`] instance: the
//! node (`node/start.rs` configures and starts Raft; `node/handle.rs`,
//! `membership.rs`, `roles.rs`, `demotion.rs` and `snapshots.rs` read its
//! metrics, change membership and trigger snapshots), and the write path
//! (`pipeline.rs` proposes entries, `session.rs` runs read barriers).
//!
//! - [`typ`]: the type configuration, [`typ::Command`] (the entry
//!   payload), and the node's [`instance::Raft`] type.
//! - [`log_file`]: the durable, segmented record log (fsync before an append
//!   counts, torn tails repaired on open, corruption elsewhere refused).
//! - [`log_store`]: openraft's `RaftLogStorage` on top of it: a writer
//!   thread with group commit and a cache of the latest entries.
//! - [`state_machine`]: openraft's `RaftStateMachine` over the [`crate::vfs`]
//!   databases, with snapshots kept on disk.
//! - [`network`]: the node-to-node transport, calling side: openraft's
//!   RPCs over the node's one address, told apart from clients by their
//!   first word; [`peer_wire`] is its byte format (hello, bounded frames).
//! - `rpc`: the answering side; every caller and call first passes
//!   `gate`, which applies [`admission`]'s checks (members only,
//!   possible terms and indexes) with the node's live state.
//! - `snapshot_stream`: snapshots in transit: streamed from the leader's
//!   pinned durable point, written to new files by the follower as they
//!   come, resumed after a cut.
//! - [`sealed`]: checksummed images (format-1 snapshot files).
//! - `recovery`: a stopped node's last log id, and forcing its
//!   configuration (the openraft side of [`crate::offline`]).
//!
//! Both storage halves pass openraft's conformance suite
//! (`openraft::testing::log::Suite`). [`crate::Node`] runs [`instance::Raft`].

pub mod admission;
pub(crate) mod gate;
pub(crate) mod instance;
pub mod log_file;
pub mod log_store;
pub mod network;
pub mod peer_wire;
pub(crate) mod recovery;
pub(crate) mod rpc;
pub mod sealed;
pub(crate) mod snapshot_stream;
mod state_file;
pub mod state_machine;
pub mod typ;

#[cfg(test)]
mod tests;
