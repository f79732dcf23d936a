//! Which node-to-node calls a node lets through to Raft: pure checks of a
//! caller and its calls against what the node knows (its configuration and
//! its term), so that no forged or impossible message reaches openraft.
//!
//! A call is refused, without touching the node's state, when
//!
//! - the caller is not a member of the node's current configuration (joint
//!   configurations included), claims the node's own id, or claims a
//!   member's id with another address; a node that belongs to no cluster
//!   yet (empty configuration: it waits to be added) hears from anyone,
//!   since that is how it learns of its cluster;
//! - the call speaks for another node than the caller (a vote or an
//!   append whose leader is not the caller), or hands leadership to the
//!   caller itself or to a non-member (openraft tells every voter of a
//!   transfer, so that they all stop honouring the old leader's lease
//!   and vote for the new one: one meant for another member is normal);
//! - a term is impossible: above [`MAX_TERM`], or more than
//!   [`MAX_TERM_STEP`] above the node's own term. Each term is one
//!   election, and with Pre-Vote (on here) a term only moves when a quorum
//!   would elect: even an election every election timeout (300 ms at the
//!   least by default), without pause, takes about 3.6 days to go
//!   [`MAX_TERM_STEP`] terms ahead of a member that was away. A node that
//!   fell further behind must be removed and added again. Below
//!   [`MAX_TERM`], `term + 1` can never overflow (a term of `u64::MAX`
//!   made openraft panic at every start);
//! - a log index is above [`MAX_INDEX`] (no index arithmetic overflows),
//!   the entries of an append are not consecutive after its previous log
//!   id, or claim a leader newer than the call's, or a membership is not
//!   a valid configuration.
//!
//! `raft::gate` applies these checks with the node's live state.

use std::collections::BTreeMap;

use openraft::EntryPayload;
use openraft::vote::RaftLeaderId;

use super::peer_wire::{Hello, PeerRequest};
use super::typ::{LogId, NodeInfo, Vote};

/// Highest term accepted from the network.
pub const MAX_TERM: u64 = 1 << 48;
/// How far above the node's own term a call's term may be.
pub const MAX_TERM_STEP: u64 = 1 << 20;
/// Highest log index accepted from the network.
pub const MAX_INDEX: u64 = 1 << 62;

/// Why a caller or a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The caller claims this node's own id.
    #[error("a caller claims this node's id {0}")]
    Myself(u64),
    /// The caller is not a member.
    #[error("node {id} at {address} is not a member of this node's configuration")]
    NotMember {
        /// The id it claims.
        id: u64,
        /// The address it claims.
        address: String,
    },
    /// The caller's certificate is not from the admin CA (judged by the
    /// connection, not by these checks: see `crate::tls::Access`).
    #[error(
        "node {id} at {address} presented a certificate that is not from the admin CA (--tls-admin-ca)"
    )]
    NotAdmin {
        /// The id it claims.
        id: u64,
        /// The address it claims.
        address: String,
    },
    /// A member's id with another address.
    #[error("node {id} is a member at {known}, not at {claimed}")]
    WrongAddress {
        /// The id it claims.
        id: u64,
        /// The address it claims.
        claimed: String,
        /// The member's address.
        known: String,
    },
    /// The call names another node as its sender.
    #[error("a call from node {from} speaks for node {named}")]
    Sender {
        /// The caller.
        from: u64,
        /// The node the call names.
        named: u64,
    },
    /// An impossible term.
    #[error("term {term} is impossible for a node at term {current}")]
    Term {
        /// The term of the call.
        term: u64,
        /// This node's term.
        current: u64,
    },
    /// A log index above [`MAX_INDEX`].
    #[error("log index {0} is impossible")]
    Index(u64),
    /// The call does not hold together.
    #[error("malformed call: {0}")]
    Malformed(&'static str),
}

/// What a node knows when it judges a call.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// This node's id.
    pub me: u64,
    /// Members of its configuration (all of a joint one) by id, with
    /// their addresses; empty while it belongs to no cluster.
    pub members: BTreeMap<u64, String>,
    /// The term of its vote.
    pub term: u64,
}

impl View {
    /// Whether `hello` comes from a member (or from anyone, on a node
    /// without a cluster). `vouched` says whether a non-member was
    /// confirmed as a member by one of this node's members.
    pub fn check_caller(
        &self,
        hello: &Hello,
        vouched: impl FnOnce(u64, &str) -> bool,
    ) -> Result<(), Refusal> {
        if hello.id == self.me {
            return Err(Refusal::Myself(hello.id));
        }
        if self.members.is_empty() {
            return Ok(());
        }
        match self.members.get(&hello.id) {
            Some(known) if *known == hello.address => Ok(()),
            Some(known) => Err(Refusal::WrongAddress {
                id: hello.id,
                claimed: hello.address.clone(),
                known: known.clone(),
            }),
            None if vouched(hello.id, &hello.address) => Ok(()),
            None => Err(Refusal::NotMember {
                id: hello.id,
                address: hello.address.clone(),
            }),
        }
    }

    /// Whether a call from member `from` may reach Raft.
    pub fn check_request(&self, from: u64, request: &PeerRequest) -> Result<(), Refusal> {
        match request {
            PeerRequest::Append(rpc) => {
                let term = self.leader_vote(from, &rpc.vote)?;
                let next = match &rpc.prev_log_id {
                    Some(prev) => check_log_id(prev, term)?.index + 1,
                    None => 0,
                };
                for (i, entry) in rpc.entries.iter().enumerate() {
                    check_log_id(&entry.log_id, term)?;
                    let expected = u64::try_from(i).map_or(u64::MAX, |i| next.saturating_add(i));
                    if entry.log_id.index != expected {
                        return Err(Refusal::Malformed("entries are not consecutive"));
                    }
                    if i > 0 && entry.log_id.leader_id < rpc.entries[i - 1].log_id.leader_id {
                        return Err(Refusal::Malformed("entries go back in term"));
                    }
                    if let EntryPayload::Membership(m) = &entry.payload {
                        check_membership(m)?;
                    }
                }
                if let (Some(prev), Some(first)) = (&rpc.prev_log_id, rpc.entries.first())
                    && first.log_id.leader_id < prev.leader_id
                {
                    return Err(Refusal::Malformed("entries go back in term"));
                }
                if let Some(commit) = &rpc.leader_commit {
                    check_log_id(commit, term)?;
                }
                Ok(())
            }
            PeerRequest::Vote(rpc) | PeerRequest::PreVote(rpc) => {
                let (term, named) = vote_parts(&rpc.vote);
                self.check_sender(from, named)?;
                self.check_term(term)?;
                if rpc.vote.is_committed() {
                    return Err(Refusal::Malformed("a candidate's vote cannot be committed"));
                }
                if let Some(last) = &rpc.last_log_id {
                    check_log_id(last, term)?;
                }
                Ok(())
            }
            PeerRequest::SnapshotChunk {
                vote,
                meta,
                offset,
                total,
                data,
                ..
            } => {
                let term = self.leader_vote(from, vote)?;
                let last = match &meta.last_log_id {
                    Some(last) => Some(check_log_id(last, term)?),
                    None => None,
                };
                if let Some(member_id) = meta.last_membership.log_id() {
                    check_log_id(member_id, term)?;
                    if Some(member_id) > last {
                        return Err(Refusal::Malformed("membership after the snapshot's end"));
                    }
                }
                check_membership(meta.last_membership.membership())?;
                let end = u64::try_from(data.len())
                    .ok()
                    .and_then(|len| offset.checked_add(len));
                if end.is_none_or(|end| end > *total) {
                    return Err(Refusal::Malformed(
                        "snapshot chunk beyond the announced size",
                    ));
                }
                Ok(())
            }
            PeerRequest::TransferLeader(rpc) => {
                let term = self.leader_vote(from, rpc.from_leader())?;
                let to = *rpc.to_node_id();
                if to == from || (to != self.me && !self.members.contains_key(&to)) {
                    return Err(Refusal::Malformed(
                        "a transfer to the caller itself or to a non-member",
                    ));
                }
                if let Some(last) = rpc.last_log_id() {
                    check_log_id(last, term)?;
                }
                Ok(())
            }
            PeerRequest::Members => Ok(()),
        }
    }

    /// Checks the vote of a leader's call (append, snapshot, transfer):
    /// it must be the caller's, committed, at a possible term. Returns
    /// the term.
    fn leader_vote(&self, from: u64, vote: &Vote) -> Result<u64, Refusal> {
        let (term, named) = vote_parts(vote);
        self.check_sender(from, named)?;
        self.check_term(term)?;
        if !vote.is_committed() {
            return Err(Refusal::Malformed("a leader's vote must be committed"));
        }
        Ok(term)
    }

    fn check_sender(&self, from: u64, named: u64) -> Result<(), Refusal> {
        if named == from {
            Ok(())
        } else {
            Err(Refusal::Sender { from, named })
        }
    }

    fn check_term(&self, term: u64) -> Result<(), Refusal> {
        if term > MAX_TERM || term > self.term.saturating_add(MAX_TERM_STEP) {
            return Err(Refusal::Term {
                term,
                current: self.term,
            });
        }
        Ok(())
    }
}

/// `(term, node id)` of a vote.
fn vote_parts(vote: &Vote) -> (u64, u64) {
    let leader = vote.leader_id();
    (leader.term(), *leader.node_id())
}

/// A log id is possible within a call of leader term `term`: its index
/// is below [`MAX_INDEX`] and its term not above the caller's.
fn check_log_id(id: &LogId, term: u64) -> Result<&LogId, Refusal> {
    if id.index > MAX_INDEX {
        return Err(Refusal::Index(id.index));
    }
    if id.leader_id.term > term {
        return Err(Refusal::Malformed("a log id newer than its leader"));
    }
    Ok(id)
}

/// A configuration openraft can work with: at most two (joint) voter
/// sets, none empty, every voter among the nodes.
fn check_membership(m: &openraft::Membership<u64, NodeInfo>) -> Result<(), Refusal> {
    let configs = m.get_joint_config();
    if configs.len() > 2 {
        return Err(Refusal::Malformed("more than two joint configurations"));
    }
    if configs.iter().any(std::collections::BTreeSet::is_empty) {
        return Err(Refusal::Malformed("an empty voter set"));
    }
    if m.voter_ids().any(|id| m.get_node(&id).is_none()) {
        return Err(Refusal::Malformed("a voter without a node"));
    }
    Ok(())
}

/// The stored vote and last log index a node may start with: the same
/// bounds as calls from the network, so that nothing on disk can make
/// openraft overflow a term or an index.
pub(crate) fn check_stored(vote: Option<&Vote>, last_index: Option<u64>) -> Result<(), String> {
    if let Some(vote) = vote {
        let (term, _) = vote_parts(vote);
        if term > MAX_TERM {
            return Err(format!(
                "the stored vote's term {term} is beyond {MAX_TERM}"
            ));
        }
    }
    if let Some(index) = last_index
        && index > MAX_INDEX
    {
        return Err(format!("the last log index {index} is beyond {MAX_INDEX}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
