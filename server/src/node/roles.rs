//! Keeping the cluster's roles balanced, as go-dqlite's `app` package does
//! on its leader: up to the node's [`RoleTargets`](crate::RoleTargets)
//! (by default 3 voters and 3 stand-bys) among the nodes that answer, and a stand-by in place of a
//! voter that stopped answering. Choices prefer distinct failure domains
//! (each member's DESCRIBE answer), then lower weights; a voter that
//! shares its domain with another voter gives its place to a node of a
//! domain no voter covers. Enabled with
//! [`NodeBuilder::manage_roles`](crate::NodeBuilder::manage_roles) (the
//! binary does); off by default in the library, because applications
//! built on go-dqlite's `app` manage roles themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dqlite_protocol::Role;
use dqlite_protocol::request::Describe;
use dqlite_protocol::response::Response;
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;

use super::handle::Node;
use super::join::Client;
use crate::error::Result;
use crate::member::{Member, Metadata};

/// How long a member may go without acknowledging the leader before it
/// counts as gone: a voter is then replaced by a stand-by.
pub const NODE_FAILURE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the leader looks at the roles.
const ROUND: Duration = Duration::from_secs(1);

/// How long asking a member for its failure domain may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Asks the member at `address` for its failure domain and weight.
async fn describe(node: &Node, address: &str) -> Option<Metadata> {
    let ask = async {
        let mut client = Client::connect(node, address).await.ok()?;
        match client.call(Describe { format: 0 }).await.ok()? {
            Response::Metadata(m) => Some(Metadata {
                failure_domain: m.failure_domain,
                weight: m.weight,
            }),
            _ => None,
        }
    };
    tokio::time::timeout(DESCRIBE_TIMEOUT, ask).await.ok()?
}

/// What the leader knows of the members' failure domains and weights.
struct Placement(BTreeMap<u64, Metadata>);

impl Placement {
    fn domain(&self, id: u64) -> Option<u64> {
        self.0.get(&id).map(|m| m.failure_domain)
    }

    fn weight(&self, id: u64) -> u64 {
        self.0.get(&id).map_or(u64::MAX, |m| m.weight)
    }

    fn domains(&self, ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().filter_map(|&id| self.domain(id)).collect()
    }

    /// `ids` best first: those in a domain outside `covered`, then the
    /// lighter ones (stable: earlier members win ties).
    fn rank(&self, ids: &[u64], covered: &BTreeSet<u64>) -> Vec<u64> {
        let mut ranked = ids.to_vec();
        ranked.sort_by_key(|&id| {
            let known_new = self.domain(id).is_some_and(|d| !covered.contains(&d));
            (!known_new, self.weight(id))
        });
        ranked
    }

    /// A voter (other than `me`) sharing its domain with another voter,
    /// heaviest first.
    fn crowded(&self, voters: &[u64], me: u64) -> Option<u64> {
        let mut crowded: Vec<u64> = voters
            .iter()
            .copied()
            .filter(|&v| v != me)
            .filter(|&v| {
                self.domain(v)
                    .is_some_and(|d| voters.iter().any(|&o| o != v && self.domain(o) == Some(d)))
            })
            .collect();
        crowded.sort_by_key(|&v| std::cmp::Reverse(self.weight(v)));
        crowded.first().copied()
    }
}

impl Node {
    /// Members this leader has heard from within [`NODE_FAILURE_TIMEOUT`]
    /// (itself included).
    fn online(&self) -> Vec<u64> {
        let metrics = self.raft().metrics();
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
        let targets = self.targets();
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
        if standbys.is_empty()
            && spares.is_empty()
            && voters.len() + gone_voters.len() <= targets.voters
        {
            // Nobody to promote or demote: spare the members a DESCRIBE.
            return Ok(false);
        }
        let placement = self.placement(&members, &online).await;
        let voter_domains = placement.domains(&voters);
        // A node that answers to become a voter: a new domain first, then
        // stand-bys before spares, then the lightest.
        let mut waiting = standbys.clone();
        waiting.extend(&spares);
        let candidates = placement.rank(&waiting, &voter_domains);
        let candidate = candidates.first().copied();
        let me = self.id();
        if let (Some(&gone), Some(candidate)) = (gone_voters.first(), candidate) {
            tracing::info!(gone, candidate, "replacing a voter that stopped answering");
            self.assign(candidate, Role::Voter).await?;
            self.assign(gone, Role::Spare).await?;
        } else if voters.len() + gone_voters.len() > targets.voters {
            // Too many (nodes that joined at the same time): one steps
            // back, a gone one first, else one in a crowded domain.
            let extra = gone_voters
                .last()
                .copied()
                .or_else(|| placement.crowded(&voters, me))
                .or_else(|| voters.iter().rev().find(|&&v| v != me).copied());
            let Some(extra) = extra else { return Ok(false) };
            self.assign(extra, Role::StandBy).await?;
        } else if voters.len() + gone_voters.len() < targets.voters
            && let Some(candidate) = candidate
        {
            self.assign(candidate, Role::Voter).await?;
        } else if let (Some(crowded), Some(candidate)) = (
            placement.crowded(&voters, me),
            candidate.filter(|&c| {
                placement
                    .domain(c)
                    .is_some_and(|d| !voter_domains.contains(&d))
            }),
        ) {
            tracing::info!(
                crowded,
                candidate,
                "spreading the voters over failure domains"
            );
            self.assign(candidate, Role::Voter).await?;
            self.assign(crowded, Role::StandBy).await?;
        } else if let (Some(&gone), Some(&spare)) = (gone_standbys.first(), spares.first()) {
            self.assign(spare, Role::StandBy).await?;
            self.assign(gone, Role::Spare).await?;
        } else if standbys.len() + gone_standbys.len() < targets.standbys
            && let Some(&spare) = placement
                .rank(
                    &spares,
                    &placement.domains(&[voters.clone(), standbys.clone()].concat()),
                )
                .first()
        {
            self.assign(spare, Role::StandBy).await?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Failure domains and weights of the members that answer (this
    /// node's own from memory, the others' by DESCRIBE).
    async fn placement(&self, members: &[Member], online: &[u64]) -> Placement {
        let mut known = BTreeMap::new();
        for m in members.iter().filter(|m| online.contains(&m.id)) {
            let metadata = if m.id == self.id() {
                Some(self.metadata())
            } else {
                describe(self, &m.address).await
            };
            if let Some(metadata) = metadata {
                known.insert(m.id, metadata);
            }
        }
        Placement(known)
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
