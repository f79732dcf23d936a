//! Offline operations on the data directory of a stopped node, the
//! counterparts of dqlite's `dqlite_node_describe_last_entry` and
//! `dqlite_node_recover_ext` (go-dqlite's `ReadLastEntryInfo` and
//! `ReconfigureMembershipExt`). Neither needs a running node.
//!
//! - [`last_entry`] reports the index and term of the node's last log
//!   entry, so that an operator can pick the most up-to-date survivor of a
//!   cluster that lost its quorum.
//! - [`recover`] forces the cluster configuration to a given set of
//!   members, as dqlite's `raft_recover` does: one configuration entry is
//!   appended to the log, and the next start uses it.
//! - [`describe`] reports, besides the last entry, whose directory it is
//!   and the configuration the node would start with (what
//!   `dqlite-server describe` prints).
//!
//! The procedure dqlite documents: stop every node, pick the survivor with
//! the greatest `(term, index)` of [`last_entry`], [`recover`] its
//! directory with the new member list, copy that directory to the other
//! members' machines, and start them all (each with the id and address the
//! member list gives it).
//!
//! Log indexes are openraft's, which start at 0: the bootstrap
//! configuration is entry 0 of term 0, so `(0, 0)` means an empty log or
//! one that holds only that entry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dqlite_protocol::Role;

use crate::data_dir::{
    LOG_DIR, STATE_DIR, has_snapshot, lock_dir, lock_held, read_identity, write_identity,
};
use crate::error::{Error, Result};
use crate::raft::recovery;
use crate::raft::typ::NodeInfo;

/// The `(index, term)` of the last entry of the log kept in `dir`, a
/// stopped node's data directory; else of the last entry its snapshot
/// includes; else `(0, 0)`.
///
/// Nothing in `dir` changes: a log whose last write a crash tore is read
/// up to its last intact entry, as the node would keep it on its next
/// start. When the snapshot ends at a greater index than the log (a crash
/// between installing a snapshot and compacting the log), the snapshot's
/// last entry is the answer, since the node goes on from there.
///
/// It takes no lock, so it also reads the directory of a running node,
/// but then the answer may be out of date at once. Fails if `dir` does
/// not exist or its log or snapshot cannot be read.
pub fn last_entry(dir: &Path) -> Result<(u64, u64)> {
    if !dir.is_dir() {
        return Err(Error::Config(format!(
            "no data directory at {}",
            dir.display()
        )));
    }
    let last = recovery::last_log_id(&dir.join(LOG_DIR), &dir.join(STATE_DIR))?;
    tracing::debug!(dir = %dir.display(), ?last, "last log entry");
    Ok(last.unwrap_or((0, 0)))
}

/// What a stopped node's data directory holds, as [`describe`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// `(index, term)` of the last entry, as [`last_entry`] reports it.
    pub last_entry: (u64, u64),
    /// The id and address of the directory's identity file, if it has one.
    pub identity: Option<(u64, String)>,
    /// The configuration the node would start with: its log index and its
    /// members, in the order they were added (`None`: the directory holds
    /// none, as a node that never joined a cluster).
    pub configuration: Option<(u64, Vec<RecoverMember>)>,
}

/// Describes `dir`, a stopped node's data directory: its last entry, its
/// identity and its cluster configuration. Nothing in `dir` changes.
///
/// Refused with [`Error::Config`] while the directory's lock is held (a
/// running node holds it): its log changes under the reader, so the
/// answer would be out of date at once. ([`last_entry`] alone does not
/// check.)
pub fn describe(dir: &Path) -> Result<Description> {
    if !dir.is_dir() {
        return Err(Error::Config(format!(
            "no data directory at {}",
            dir.display()
        )));
    }
    if lock_held(dir)? {
        return Err(Error::Config(format!(
            "the data directory {} is locked: is its node running? Stop it first",
            dir.display()
        )));
    }
    let last_entry = last_entry(dir)?;
    let configuration =
        recovery::last_membership(&dir.join(LOG_DIR), &dir.join(STATE_DIR))?.map(|(index, m)| {
            let members = m
                .into_iter()
                .map(|(id, address, role)| RecoverMember { id, address, role })
                .collect();
            (index, members)
        });
    Ok(Description {
        last_entry,
        identity: read_identity(dir)?,
        configuration,
    })
}

/// A member of the configuration [`recover`] forces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverMember {
    /// Node id (not 0).
    pub id: u64,
    /// The address the node will serve on.
    pub address: String,
    /// Its role: voters vote; stand-bys and spares are learners, told
    /// apart as in a running cluster.
    pub role: Role,
}

/// Forces the cluster configuration stored in `dir`, a stopped node's
/// data directory, to exactly `members`, as dqlite's `raft_recover` does.
///
/// One configuration entry is appended to the log, after its last entry
/// (or after the snapshot, if that ends later). Its term is `T + 1`, with
/// `T` the greater of the last entry's term and the term of the node's
/// stored vote, and the vote becomes `T + 1` too, so that the entry orders
/// after every entry already logged anywhere this log came from, and every
/// leader elected afterwards has a greater term still. On its next start
/// the node takes this configuration as its own (openraft uses the last
/// configuration in the log) and, with its vote, campaigns in term
/// `T + 2`; the first leader commits the entry together with every entry
/// before it, whether or not it was committed before.
///
/// Refused with [`Error::Config`]: no voter among `members`, an id 0 or a
/// repeated id, a directory with neither a Raft log nor a snapshot, and a
/// directory whose lock (an exclusive `flock` on `DIR/dqlite-lock`) is held
/// (a running node holds it). The lock is held while the directory
/// changes.
///
/// When the directory's node (its identity file's id) is among `members`
/// with another address, the identity file takes the new address, so that
/// the node starts at it (a node is otherwise refused at an address other
/// than the one its directory records).
///
/// Every member but this directory's node must start from a copy of this
/// directory (taken after `recover`), as dqlite's procedure says: a member
/// that starts from its own older log cannot win an election against
/// nodes holding the new entry, but may hold conflicting entries.
pub fn recover(dir: &Path, members: &[RecoverMember]) -> Result<()> {
    let mut ids = BTreeSet::new();
    for member in members {
        if member.id == 0 {
            return Err(Error::Config("node id 0 is not valid".into()));
        }
        if !ids.insert(member.id) {
            return Err(Error::Config(format!(
                "node {} appears more than once in the configuration",
                member.id
            )));
        }
    }
    let voters: BTreeSet<u64> = members
        .iter()
        .filter(|m| m.role == Role::Voter)
        .map(|m| m.id)
        .collect();
    let Some(&first_voter) = voters.first() else {
        return Err(Error::Config(
            "the configuration must have at least one voter".into(),
        ));
    };
    let nodes: BTreeMap<u64, NodeInfo> = members
        .iter()
        .zip(0u64..)
        .map(|(m, order)| {
            let info = NodeInfo {
                address: m.address.clone(),
                standby: m.role == Role::StandBy,
                order,
            };
            (m.id, info)
        })
        .collect();
    if !dir.is_dir() {
        return Err(Error::Config(format!(
            "no data directory at {}",
            dir.display()
        )));
    }
    let _lock = lock_dir(dir)?;
    let (log_dir, state_dir) = (dir.join(LOG_DIR), dir.join(STATE_DIR));
    if !log_dir.try_exists()? && !has_snapshot(dir)? {
        return Err(Error::Config(format!(
            "{} holds no Raft log or snapshot: nothing to recover",
            dir.display()
        )));
    }
    // The entry is recorded as made by this directory's node (any id would
    // do: the term alone orders it after everything before).
    let identity = read_identity(dir)?;
    let leader = identity.as_ref().map_or(first_voter, |(id, _)| *id);
    let recovered = recovery::recover(&log_dir, &state_dir, leader, voters, nodes)?;
    if let Some((id, old)) = &identity
        && let Some(moved) = members.iter().find(|m| m.id == *id && m.address != *old)
    {
        write_identity(dir, *id, &moved.address)?;
        tracing::info!(id, from = %old, to = %moved.address, "the node's address changes");
    }
    tracing::info!(
        dir = %dir.display(),
        members = ?members.iter().map(|m| (m.id, m.address.as_str(), m.role)).collect::<Vec<_>>(),
        previous_last = ?recovered.previous,
        previous_vote_term = ?recovered.previous_vote_term,
        index = recovered.index,
        term = recovered.term,
        "recovered: the configuration was forced"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
