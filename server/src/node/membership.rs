//! Changing the cluster on the leader: dqlite's ADD, ASSIGN, REMOVE and
//! TRANSFER, with dqlite's refusals (spec §8.4).
//!
//! Roles map onto openraft's membership: voters are voters; stand-bys and
//! spares are learners, told apart by [`NodeInfo::standby`] (so a spare
//! receives the log too: it costs the spare some work and makes its
//! promotion quick). A node is promoted to voter only once it has caught
//! up, and a node that does not catch up in time is refused rather than
//! left hanging (dqlite 1.11 never answers then).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dqlite_protocol::Role;
use openraft::ChangeMembers;
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};

use dqlite_protocol::request::Assign;
use dqlite_protocol::response::Response;

use super::handle::Node;
use super::join::Client;
use crate::error::{Error, Result};
use crate::raft::typ::{NodeInfo, TypeConfig};

/// How long a node being promoted to voter may take to catch up.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// Most members (voters, stand-bys and spares) a cluster may have: every
/// member receives the log, so each costs the leader a replication stream.
pub const MAX_MEMBERS: usize = 256;

/// How long TRANSFER waits for another node to take over.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest [`Node::handover_roles`] may take.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

fn refused(message: &str) -> Error {
    Error::Refused(message.to_owned())
}

/// dqlite's mapping of Raft errors (spec §8.4).
fn change_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> Error {
    if e.forward_to_leader().is_some() {
        return Error::NotLeader;
    }
    match e.api_error() {
        // Another change is being committed, or was committed between the
        // moment this one was computed and proposed (the role manager and
        // a joining node may both change roles), or a new leader has not
        // committed its first entry yet: all pass if tried again.
        Some(
            ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_)
                | ChangeMembershipError::UncommittedLeaderLog(_),
            )
            | ClientWriteError::PreconditionFailed(
                openraft::errors::PreconditionFailed::LastMembershipLogIdMismatch { .. },
            ),
        ) => Error::ChangeInProgress,
        Some(other) => Error::Refused(other.to_string()),
        None => Error::LeadershipLost(e.to_string()),
    }
}

impl Node {
    fn member(&self, id: u64) -> Option<crate::member::Member> {
        self.members().into_iter().find(|m| m.id == id)
    }

    /// Proposes a membership change and waits for it to commit, one at a
    /// time on this node.
    async fn change(&self, change: ChangeMembers<u64, NodeInfo>, retain: bool) -> Result<()> {
        let _one_at_a_time = self.changing().lock().await;
        self.raft()
            .change_membership(change, retain)
            .await
            .map(|_| ())
            .map_err(change_error)
    }

    /// Adds node `id`, reachable at `address`, as a spare (ADD). Refuses
    /// an address this node's dialer cannot use
    /// ([`Dialer::check_address`](crate::transport::Dialer::check_address):
    /// with the default dialer,
    /// [`check_member_address`](crate::transport::check_member_address))
    /// and a cluster of [`MAX_MEMBERS`] already.
    pub async fn add_node(&self, id: u64, address: &str) -> Result<()> {
        let members = self.members();
        if id == 0 {
            return Err(refused("server ID is not valid"));
        }
        if let Err(e) = self.dialer().check_address(address) {
            return Err(Error::Refused(format!("server address is not valid: {e}")));
        }
        if members.len() >= MAX_MEMBERS {
            return Err(Error::Refused(format!(
                "the cluster already has {MAX_MEMBERS} members, the most it may have"
            )));
        }
        if members.iter().any(|m| m.id == id) {
            return Err(refused("server ID already in use"));
        }
        if members.iter().any(|m| m.address == address) {
            return Err(refused("server address already in use"));
        }
        let info = NodeInfo {
            address: address.to_owned(),
            standby: false,
            order: self.next_order(),
        };
        let _one_at_a_time = self.changing().lock().await;
        self.raft()
            .add_learner(id, info, false)
            .await
            .map(|_| ())
            .map_err(change_error)
    }

    /// Gives node `id` the role `role` (ASSIGN). A voter is only made once
    /// it has caught up with the log.
    pub async fn assign(&self, id: u64, role: Role) -> Result<()> {
        let Some(member) = self.member(id) else {
            return Err(refused("server ID is not valid"));
        };
        if member.role == role {
            return Err(refused("server role is not valid"));
        }
        let voters = self.members().iter().filter(|m| m.is_voter()).count();
        if member.is_voter() && voters == 1 {
            return Err(refused(
                "the only voter of the cluster cannot change its role",
            ));
        }
        match role {
            Role::Voter => {
                self.wait_caught_up(id).await?;
                self.change(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true)
                    .await
            }
            Role::StandBy | Role::Spare => {
                let info = NodeInfo {
                    address: member.address.clone(),
                    standby: role == Role::StandBy,
                    order: self.node_info(id).map_or(0, |n| n.order),
                };
                self.change(ChangeMembers::SetNodes(BTreeMap::from([(id, info)])), true)
                    .await?;
                if member.is_voter() {
                    self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])), true)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Removes node `id` from the cluster (REMOVE).
    pub async fn remove_node(&self, id: u64) -> Result<()> {
        let Some(member) = self.member(id) else {
            return Err(refused("server ID is not valid"));
        };
        let voters = self.members().iter().filter(|m| m.is_voter()).count();
        if member.is_voter() {
            if voters == 1 {
                return Err(refused("the only voter of the cluster cannot be removed"));
            }
            self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
        } else {
            self.change(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                .await
        }
    }

    /// Hands leadership to voter `id` (another voter for 0) and returns
    /// once this node knows the new leader (TRANSFER): as with dqlite, a
    /// LEADER request right after names it.
    pub async fn transfer(&self, id: u64) -> Result<()> {
        let me = self.id();
        let others: Vec<u64> = self
            .members()
            .into_iter()
            .filter(|m| m.is_voter() && m.id != me)
            .map(|m| m.id)
            .collect();
        let target = match id {
            // One that answers, if any does.
            0 => *self
                .answering_voters()
                .first()
                .or(others.first())
                .ok_or_else(|| refused("no other voter to transfer leadership to"))?,
            id if others.contains(&id) => id,
            _ => return Err(refused("server ID is not valid")),
        };
        self.move_leadership(target, TRANSFER_TIMEOUT).await
    }

    /// Asks voter `target` to take over, and waits up to `wait` until
    /// this node knows another leader.
    async fn move_leadership(&self, target: u64, wait: Duration) -> Result<()> {
        let me = self.id();
        self.raft()
            .trigger()
            .transfer_leader(target)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        let moved = self
            .raft()
            .wait(Some(wait))
            .metrics(
                |m| m.current_leader.is_some_and(|leader| leader != me),
                "leadership moved",
            )
            .await;
        moved
            .map(|_| ())
            .map_err(|_| refused("leadership transfer failed"))
    }

    /// The other voters this leader has heard from within an election
    /// timeout: those that could take over now.
    fn answering_voters(&self) -> Vec<u64> {
        let me = self.id();
        let voters: Vec<u64> = self
            .members()
            .into_iter()
            .filter(|m| m.is_voter() && m.id != me)
            .map(|m| m.id)
            .collect();
        let metrics = self.raft().metrics();
        let m = metrics.borrow_watched();
        let Some(heartbeat) = &m.heartbeat else {
            return Vec::new();
        };
        voters
            .into_iter()
            .filter(|id| {
                heartbeat
                    .get(id)
                    .and_then(Option::as_ref)
                    .is_some_and(|acked| acked.elapsed() < self.election_timeout())
            })
            .collect()
    }

    /// Before this node goes away: if it leads and another voter answers
    /// (it acknowledged a heartbeat within the election timeout), hands
    /// leadership to it, waiting at most twice the election timeout, so
    /// that the cluster does not sit out an election timeout. Voters that
    /// do not answer are not waited for: the last node of a cluster whose
    /// others are down stops at once. Returns whether leadership moved; a
    /// node that does not lead has nothing to do.
    pub async fn handover(&self) -> bool {
        if !self.is_leader() {
            return false;
        }
        let Some(&target) = self.answering_voters().first() else {
            let others = (self.members().iter().filter(|m| m.is_voter()).count()).saturating_sub(1);
            if others > 0 {
                tracing::info!(
                    voters = others,
                    "no other voter answers: leadership is not handed over"
                );
            }
            return false;
        };
        match self
            .move_leadership(target, self.election_timeout() * 2)
            .await
        {
            Ok(()) => {
                tracing::info!(to = target, "handed leadership over");
                true
            }
            Err(e) => {
                tracing::info!(to = target, error = %e, "no leadership handover");
                false
            }
        }
    }

    /// Hands all of this node's responsibilities over, as
    /// `dqlite_node_handover` does before a node goes away: leadership to
    /// another voter (if it leads), then, if it votes, its voter seat to
    /// a stand-by (else a spare) — asked of the leader through the client
    /// protocol — and this node becomes a spare. Fails, as dqlite does,
    /// when no other node leads afterwards (a single node) or no non-voter
    /// could be promoted; bounded by [`HANDOVER_TIMEOUT`].
    pub async fn handover_roles(&self) -> Result<()> {
        tokio::time::timeout(HANDOVER_TIMEOUT, self.handover_roles_unbounded())
            .await
            .map_err(|_| refused("handover timed out"))?
    }

    async fn handover_roles_unbounded(&self) -> Result<()> {
        let me = self.id();
        if self.is_leader() {
            self.transfer(0).await?;
        }
        let Some((leader, address)) = self.leader().filter(|(id, _)| *id != me) else {
            return Err(refused("no other node leads the cluster"));
        };
        if self.role() != Some(Role::Voter) {
            return Ok(());
        }
        let mut client = Client::connect(self, &address).await?;
        let members = self.members();
        let candidates = members
            .iter()
            .filter(|m| m.role == Role::StandBy)
            .chain(members.iter().filter(|m| m.role == Role::Spare));
        let mut promoted = None;
        for candidate in candidates {
            let answer = client
                .call(Assign {
                    id: candidate.id,
                    role: Some(Role::Voter.code()),
                })
                .await?;
            match answer {
                Response::Empty(_) => {
                    promoted = Some(candidate.id);
                    break;
                }
                other => tracing::info!(candidate = candidate.id, ?other, "not promoted"),
            }
        }
        let Some(promoted) = promoted else {
            return Err(refused("no non-voter could take this node's voter seat"));
        };
        tracing::info!(leader, promoted, "voter seat handed over");
        match client
            .call(Assign {
                id: me,
                role: Some(Role::Spare.code()),
            })
            .await?
        {
            Response::Empty(_) => Ok(()),
            Response::Failure(f) => Err(refused(&f.message)),
            other => Err(refused(&format!("unexpected answer {other:?}"))),
        }
    }

    /// Waits, up to [`CATCH_UP_TIMEOUT`], until learner `id` has every
    /// entry this leader had when asked.
    async fn wait_caught_up(&self, id: u64) -> Result<()> {
        let target = {
            let metrics = self.raft().metrics();
            let m = metrics.borrow_watched();
            m.last_log_index
        };
        let caught_up = self
            .raft()
            .wait(Some(CATCH_UP_TIMEOUT))
            .metrics(
                |m| {
                    m.replication.as_ref().is_some_and(|r| {
                        r.get(&id)
                            .is_some_and(|matched| matched.map(|l| l.index) >= target)
                    })
                },
                "the node caught up",
            )
            .await;
        caught_up
            .map(|_| ())
            .map_err(|_| refused("the node did not catch up with the log in time: is it running?"))
    }
}
