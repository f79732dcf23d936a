//! Raft state of a stopped node, read and rewritten without openraft
//! running: the openraft side of [`crate::offline`].
//!
//! What counts as the node's last log id is what openraft itself settles
//! on at start (`StorageHelper::get_initial_state`): the log store's last
//! log id (the last entry, else the last purged id), unless the snapshot
//! ends at a greater index (a crash between installing a snapshot and
//! purging the log behind it), in which case openraft purges the log up to
//! the snapshot and goes on from there.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use dqlite_protocol::Role;
use openraft::vote::RaftLeaderId;
use openraft::{EntryPayload, Membership};

use super::log_store::OfflineLog;
use super::state_machine::read_snapshot_meta;
use super::typ::{Entry, LogId, NodeInfo, Vote, role_in};

type LeaderId = openraft::alias::CommittedLeaderIdOf<super::typ::TypeConfig>;

/// The last log id of the node whose log is in `log_dir` and snapshot in
/// `state_dir`, without changing either (a torn log tail is read as the log
/// store would keep it). `None` when there is neither log nor snapshot.
pub(crate) fn last_log_id(log_dir: &Path, state_dir: &Path) -> io::Result<Option<(u64, u64)>> {
    let log = match log_dir.try_exists()? {
        true => Some(OfflineLog::open_read_only(log_dir)?.state()?.last_log_id),
        false => None,
    };
    let snapshot = read_snapshot_meta(state_dir)?.and_then(|m| m.last_log_id);
    Ok(effective_last(log.flatten(), snapshot).map(|id| (id.index, id.leader_id.term)))
}

/// A member of a configuration: id, address, dqlite role.
pub(crate) type Member = (u64, String, Role);

/// The cluster configuration a node whose log is in `log_dir` and snapshot
/// in `state_dir` would start with, as openraft picks it: the later of the
/// log's last membership entry and the snapshot's configuration. `None`
/// when neither holds one. Returns the configuration's log index and its
/// members (id, address, dqlite role) in the order they were added.
pub(crate) fn last_membership(
    log_dir: &Path,
    state_dir: &Path,
) -> io::Result<Option<(u64, Vec<Member>)>> {
    let members = |membership: &Membership<u64, NodeInfo>| {
        let mut members: Vec<(u64, &NodeInfo)> =
            membership.nodes().map(|(id, info)| (*id, info)).collect();
        members.sort_by_key(|(id, info)| (info.order, *id));
        members
            .into_iter()
            .filter_map(|(id, info)| Some((id, info.address.clone(), role_in(membership, id)?)))
            .collect::<Vec<_>>()
    };
    let in_log = match log_dir.try_exists()? {
        true => OfflineLog::open_read_only(log_dir)?
            .last_membership()?
            .and_then(|entry| match &entry.payload {
                EntryPayload::Membership(m) => Some((entry.log_id.index, members(m))),
                _ => None,
            }),
        false => None,
    };
    let in_snapshot = read_snapshot_meta(state_dir)?.and_then(|meta| {
        let index = meta.last_membership.log_id().map(|id| id.index)?;
        Some((index, members(meta.last_membership.membership())))
    });
    Ok(match (in_log, in_snapshot) {
        (Some(log), Some(snapshot)) if snapshot.0 > log.0 => Some(snapshot),
        (log, snapshot) => log.or(snapshot),
    })
}

/// What openraft takes for the last log id, given the log store's and the
/// snapshot's.
fn effective_last(log: Option<LogId>, snapshot: Option<LogId>) -> Option<LogId> {
    match snapshot {
        Some(s) if log.is_none_or(|l| s.index > l.index) => Some(s),
        _ => log,
    }
}

/// What [`recover`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Log index of the configuration entry.
    pub(crate) index: u64,
    /// Its term, also the term of the stored vote.
    pub(crate) term: u64,
    /// The last log id before it, as `(index, term)`.
    pub(crate) previous: Option<(u64, u64)>,
    /// The term of the vote found.
    pub(crate) previous_vote_term: Option<u64>,
}

/// Forces the configuration to `voters` (and the learners among `nodes`)
/// by appending one membership entry after the node's last log id.
///
/// With `T` the greatest of the last log id's term and the stored vote's
/// term, the entry's log id is `(T+1, leader, last index + 1)` and the
/// vote becomes `(T+1, leader)`, not committed, saved *before* the entry
/// (so a crash in between leaves a vote that covers the whole log). In
/// openraft's advanced leader-id mode (this build's default) log ids are
/// ordered by `(term, node id, index)`; every log id already in the log
/// has a term `<= T`, so the new one is greater than all of them, and
/// since an election starts at the vote's term + 1, every leader after
/// the restart has a term `>= T+2`: its entries order after the
/// recovery entry, and the stored vote is never below the last log id's
/// leader.
pub(crate) fn recover(
    log_dir: &Path,
    state_dir: &Path,
    leader: u64,
    voters: BTreeSet<u64>,
    nodes: BTreeMap<u64, NodeInfo>,
) -> io::Result<Recovered> {
    let membership = Membership::new(vec![voters], nodes).map_err(io::Error::other)?;
    let snapshot = read_snapshot_meta(state_dir)?.and_then(|m| m.last_log_id);
    let mut log = OfflineLog::open(log_dir)?;
    let in_log = log.state()?.last_log_id;
    let last = effective_last(in_log, snapshot);
    if last != in_log
        && let Some(snapshot) = snapshot
    {
        // What openraft would do at start: the log goes on after the
        // snapshot.
        tracing::info!(%snapshot, "the snapshot is ahead of the log; purging the log up to it");
        log.purge(snapshot)?;
    }
    let vote = log.vote()?;
    let term = last
        .map(|l| l.leader_id.term)
        .max(vote.map(|v| v.leader_id.term))
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| io::Error::other("the term cannot grow any more"))?;
    let index = last.map_or(0, |l| l.index + 1);
    log.save_vote(&Vote::new(term, leader))?;
    let entry = Entry {
        log_id: LogId::new(LeaderId::new(term, leader), index),
        payload: EntryPayload::Membership(membership),
    };
    log.append(&entry)?;
    Ok(Recovered {
        index,
        term,
        previous: last.map(|l| (l.index, l.leader_id.term)),
        previous_vote_term: vote.map(|v| v.leader_id.term),
    })
}
