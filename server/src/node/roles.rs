//! Keeping the cluster's roles balanced, as go-dqlite's `app` package does
//! on its leader: up to [`WANTED_VOTERS`] voters and [`WANTED_STANDBYS`]
//! stand-bys among the nodes that answer, and a stand-by in place of a
//! voter that stopped answering. Enabled with
//! [`NodeBuilder::manage_roles`](crate::NodeBuilder::manage_roles) (the
//! binary does); off by default in the library, because applications
//! built on go-dqlite's `app` manage roles themselves.

use std::time::Duration;

use dqlite_protocol::Role;
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;

use super::Node;
use super::join::{WANTED_STANDBYS, WANTED_VOTERS};
use crate::error::Result;

/// How long a member may go without acknowledging the leader before it
/// counts as gone: a voter is then replaced by a stand-by.
pub const NODE_FAILURE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the leader looks at the roles.
const ROUND: Duration = Duration::from_secs(1);

impl Node {
    /// Members this leader has heard from within [`NODE_FAILURE_TIMEOUT`]
    /// (itself included).
    fn online(&self) -> Vec<u64> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow_watched();
        let mut online = vec![self.id()];
        if let Some(heartbeat) = &m.heartbeat {
            online.extend(heartbeat.iter().filter_map(|(id, acked)| {
                acked
                    .as_ref()
                    .filter(|at| at.elapsed() < NODE_FAILURE_TIMEOUT)
                    .map(|_| *id)
            }));
        }
        online
    }

    /// One change towards balanced roles, if one is due; returns whether
    /// it made one. Only the leader acts.
    pub(crate) async fn rebalance(&self) -> Result<bool> {
        if !self.is_leader() {
            return Ok(false);
        }
        let members = self.members();
        let online = self.online();
        let with = |role: Role, up: bool| -> Vec<u64> {
            members
                .iter()
                .filter(|m| m.role == role && online.contains(&m.id) == up)
                .map(|m| m.id)
                .collect()
        };
        let (voters, gone_voters) = (with(Role::Voter, true), with(Role::Voter, false));
        let (standbys, spares) = (with(Role::StandBy, true), with(Role::Spare, true));
        let gone_standbys = with(Role::StandBy, false);
        // A node that answers, stand-bys first, to become a voter.
        let candidate = standbys.first().or(spares.first()).copied();
        let me = self.id();
        if let (Some(&gone), Some(candidate)) = (gone_voters.first(), candidate) {
            tracing::info!(gone, candidate, "replacing a voter that stopped answering");
            self.assign(candidate, Role::Voter).await?;
            self.assign(gone, Role::Spare).await?;
        } else if voters.len() + gone_voters.len() > WANTED_VOTERS {
            // Too many (nodes that joined at the same time): the last one
            // steps back, a gone one first.
            let extra = gone_voters
                .last()
                .or(voters.iter().rev().find(|&&v| v != me))
                .copied();
            let Some(extra) = extra else { return Ok(false) };
            self.assign(extra, Role::StandBy).await?;
        } else if voters.len() + gone_voters.len() < WANTED_VOTERS
            && let Some(candidate) = candidate
        {
            self.assign(candidate, Role::Voter).await?;
        } else if let (Some(&gone), Some(&spare)) = (gone_standbys.first(), spares.first()) {
            self.assign(spare, Role::StandBy).await?;
            self.assign(gone, Role::Spare).await?;
        } else if standbys.len() + gone_standbys.len() < WANTED_STANDBYS
            && let Some(&spare) = spares.first()
        {
            self.assign(spare, Role::StandBy).await?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Runs [`rebalance`](Self::rebalance) every second, for as long as
    /// the node's thread runs.
    pub(crate) async fn manage_roles(self) {
        loop {
            tokio::time::sleep(ROUND).await;
            if let Err(e) = self.rebalance().await {
                tracing::debug!(error = %e, "role change not made");
            }
        }
    }
}
