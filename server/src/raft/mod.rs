//! Consensus: everything that touches openraft lives under this module.
//!
//! openraft is pinned at `=0.10.0-alpha.37` (an alpha: its API moves), and
//! no other module names an openraft type.
//!
//! - [`typ`]: the type configuration and [`typ::Command`], the entry payload.
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
//! - [`sealed`]: checksummed images (snapshots on disk and in transit).
//! - `recovery`: a stopped node's last log id, and forcing its
//!   configuration (the openraft side of [`crate::offline`]).
//!
//! Both storage halves pass openraft's conformance suite
//! (`openraft::testing::log::Suite`). [`crate::Node`] runs `Raft`.

pub mod admission;
pub(crate) mod gate;
pub mod log_file;
pub mod log_store;
pub mod network;
pub mod peer_wire;
pub(crate) mod recovery;
pub(crate) mod rpc;
pub mod sealed;
pub mod state_machine;
pub mod typ;

#[cfg(test)]
mod tests;
