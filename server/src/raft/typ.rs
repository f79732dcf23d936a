//! The openraft type configuration and the log entry payload, pinned once
//! for the whole crate.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vfs::Frames;

/// What a Raft log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The WAL frames of one committed write transaction.
    Frames {
        /// Database name.
        db: String,
        /// Node that ran the transaction (its pending transaction is
        /// published instead of re-applied).
        origin: u64,
        /// The frames.
        frames: Frames,
    },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frames { db, origin, frames } => write!(
                f,
                "frames(db={db}, origin={origin}, tx={}, pages={})",
                frames.tx_id,
                frames.pages.len()
            ),
        }
    }
}

/// What applying an entry answers to the proposer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied;

openraft::declare_raft_types!(
    /// Our Raft types: node ids are dqlite's u64 ids, nodes carry an address.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
);

/// A log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// A log id.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// Membership as stored by the state machine.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// Storage errors as openraft reports them.
pub type StorageError = openraft::StorageError<TypeConfig>;
