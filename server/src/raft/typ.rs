//! The openraft type configuration and the log entry payload, pinned once
//! for the whole crate (the node's `Raft` type is in `instance.rs`).

use std::fmt;

use dqlite_protocol::Role;
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

/// What the cluster configuration records about a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's address, for clients and for the other nodes.
    pub address: String,
    /// dqlite role when the node does not vote: stand-by (it keeps a copy
    /// of the log, ready to become a voter) or spare. Both are openraft
    /// learners here, so a spare receives the log too.
    pub standby: bool,
    /// Position in the configuration: members are listed (CLUSTER) in the
    /// order they were added, as dqlite lists them.
    pub order: u64,
}

/// The dqlite role of member `id` in `membership`: voters vote; stand-bys
/// and spares are learners told apart by [`NodeInfo::standby`].
pub(crate) fn role_in(membership: &openraft::Membership<u64, NodeInfo>, id: u64) -> Option<Role> {
    let node = membership.get_node(&id)?;
    Some(if membership.voter_ids().any(|v| v == id) {
        Role::Voter
    } else if node.standby {
        Role::StandBy
    } else {
        Role::Spare
    })
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = if self.standby { "stand-by" } else { "spare" };
        write!(f, "{} ({role} unless voting)", self.address)
    }
}

/// What applying an entry answers to the proposer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied;

openraft::declare_raft_types!(
    /// Our Raft types: node ids are dqlite's u64 ids, nodes carry an
    /// address and a non-voting role.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = NodeInfo,
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
