//! [`Node`], the handle of a running node, and its queries: who leads,
//! the members, this node's role and metadata, sessions, stopping.
//!
//! The handle holds the node's state ([`Inner`]), which
//! [`start`](super::start) builds; the membership changes, joining and the
//! role manager add their methods to [`Node`] from `membership.rs`,
//! `join.rs` and `roles.rs`. The request handlers reach a node through
//! [`crate::gateway::Cluster`], which [`Node`] implements here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dqlite_protocol::Role;
use tokio::sync::{oneshot, watch};

use super::demotion::Demotion;
use crate::error::{Error, Result};
use crate::gateway::Cluster;
use crate::member::{Member, Metadata, RoleTargets};
use crate::metrics::Metrics;
use crate::raft::gate::Gate;
use crate::raft::instance::Raft;
use crate::raft::typ::{NodeInfo, role_in};
use crate::session::{Session, Shared};
use crate::transport::Dialer;

/// Longest [`Node::stop`] waits for the node's thread to finish.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    /// Present in the handles [`NodeBuilder::start`](super::NodeBuilder::start)
    /// returned and their clones; the node's own handles (its
    /// connections') have none, so they do not keep it running.
    _owner: Option<Arc<Owner>>,
}

/// Stops the node when the last owning handle goes away.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.signal_stop();
    }
}

/// The state of a running node that its handles share.
pub(super) struct Inner {
    /// What its sessions share (id, Raft, VFS, SQL lock, busy wait,
    /// confirmed leadership, proposer).
    pub(super) shared: Shared,
    pub(super) address: String,
    pub(super) metadata: Mutex<Metadata>,
    /// Voters and stand-bys wanted.
    pub(super) targets: RoleTargets,
    /// How connections to other nodes are opened.
    pub(super) dialer: Arc<dyn Dialer>,
    /// Admits other nodes' Raft traffic.
    pub(super) gate: Gate,
    /// When this node last went from voter to spare.
    pub(super) demotion: Arc<Demotion>,
    /// The longest election timeout: how long a request that needs a
    /// leader waits for an election under way.
    pub(super) election_timeout: Duration,
    /// Held by a membership change from proposal to commit: Raft takes
    /// one change at a time and refuses (and logs as an error) a second
    /// one proposed meanwhile, such as two nodes joining at once.
    pub(super) changing: tokio::sync::Mutex<()>,
    /// Tells the node's thread to stop.
    pub(super) stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Becomes true when the node's thread has stopped Raft.
    pub(super) stopped: watch::Receiver<bool>,
    /// Its metrics (what `GET /metrics` reports).
    pub(super) metrics: Arc<Metrics>,
    /// Its data directory.
    pub(super) dir: PathBuf,
    /// When it started.
    pub(super) started: Instant,
}

impl Inner {
    fn signal_stop(&self) {
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.shared.node_id)
            .field("address", &self.inner.address)
            .finish()
    }
}

impl Node {
    /// A handle that keeps the node running: what
    /// [`NodeBuilder::start`](super::NodeBuilder::start) returns.
    pub(super) fn owning(inner: Arc<Inner>) -> Node {
        Node {
            _owner: Some(Arc::new(Owner(inner.clone()))),
            inner,
        }
    }

    /// A handle of the node's own (its connections', its tasks'), which
    /// does not keep it running.
    pub(super) fn internal(inner: Arc<Inner>) -> Node {
        Node {
            inner,
            _owner: None,
        }
    }

    /// How this node opens connections to other nodes.
    pub(crate) fn dialer(&self) -> &dyn Dialer {
        self.inner.dialer.as_ref()
    }

    /// The voters and stand-bys this node fills the cluster up to.
    pub(crate) fn targets(&self) -> RoleTargets {
        self.inner.targets
    }

    /// Held while a membership change is proposed and committed.
    pub(super) fn changing(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.changing
    }

    /// What other nodes' Raft traffic passes through.
    pub(crate) fn gate(&self) -> &Gate {
        &self.inner.gate
    }

    /// The node's Raft instance.
    pub(crate) fn raft(&self) -> &Raft {
        &self.inner.shared.raft
    }

    /// The node's metrics.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The node's databases.
    pub(crate) fn vfs(&self) -> crate::vfs::Vfs {
        self.inner.shared.vfs
    }

    /// The longest election timeout.
    pub(crate) fn election_timeout(&self) -> Duration {
        self.inner.election_timeout
    }

    /// The node's data directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How long the node has been running.
    pub(crate) fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.inner.shared.node_id
    }

    /// This node's address.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// Opens a session on database `db` (created if new): one SQLite
    /// connection, as a client's OPEN does.
    pub async fn session(&self, db: &str) -> Result<Session> {
        Session::open(self.inner.shared.clone(), db)
    }

    /// The term of this node's vote: how many elections it has seen.
    pub fn term(&self) -> u64 {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        metrics.borrow_watched().current_term
    }

    /// The leader once no election is under way as far as this node
    /// knows: while it is a candidate, or a voter that knows no leader (it
    /// just lost one, or starts), it waits for the outcome, up to one
    /// election timeout (600 ms by default), so that a client asking in
    /// the middle of an election gets its answer rather than "no leader".
    pub(crate) async fn settled_leader(&self) -> Option<u64> {
        use openraft::async_runtime::WatchReceiver;
        let deadline = tokio::time::Instant::now() + self.inner.election_timeout;
        let mut metrics = self.inner.shared.raft.metrics();
        loop {
            let (leader, electing) = {
                let m = metrics.borrow_watched();
                let voter = m
                    .membership_config
                    .voter_ids()
                    .any(|v| v == self.inner.shared.node_id);
                let electing = m.state == openraft::ServerState::Candidate
                    || (voter && m.current_leader.is_none());
                (m.current_leader, electing)
            };
            if !electing {
                return leader;
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                // Past the bound, or Raft gone: what is known now.
                _ => return leader,
            }
        }
    }

    /// Whether this node is the leader now (as far as it knows).
    pub fn is_leader(&self) -> bool {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        // Copy the field at once: holding the borrow can block Raft.
        let current = metrics.borrow_watched().current_leader;
        current == Some(self.inner.shared.node_id)
    }

    /// The leader's id and address as this node knows them.
    pub fn leader(&self) -> Option<(u64, String)> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        let (leader, membership) = {
            let m = metrics.borrow_watched();
            (m.current_leader, m.membership_config.clone())
        };
        let id = leader?;
        let node = membership.membership().get_node(&id)?;
        Some((id, node.address.clone()))
    }

    /// The leader as LEADER names it under the version-1 handshake: only
    /// a voter names one (spec §8.3), and so does a node demoted from
    /// voter to spare less than an election timeout ago, which dqlite's
    /// node would not know yet (see `node::demotion`).
    pub fn reported_leader(&self) -> Option<(u64, String)> {
        if self.role() == Some(Role::Voter) || self.inner.demotion.recent() {
            self.leader()
        } else {
            None
        }
    }

    /// The members of the current configuration, in the order they were
    /// added (as CLUSTER lists them).
    pub fn members(&self) -> Vec<Member> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        let membership = metrics.borrow_watched().membership_config.clone();
        let membership = membership.membership();
        let mut nodes: Vec<(&u64, &NodeInfo)> = membership.nodes().collect();
        nodes.sort_by_key(|(id, node)| (node.order, **id));
        nodes
            .into_iter()
            .filter_map(|(id, node)| {
                Some(Member {
                    id: *id,
                    address: node.address.clone(),
                    role: role_in(membership, *id)?,
                })
            })
            .collect()
    }

    /// This node's role in the current configuration (`None` if it is not
    /// a member).
    pub(crate) fn role(&self) -> Option<Role> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        let membership = metrics.borrow_watched().membership_config.clone();
        role_in(membership.membership(), self.inner.shared.node_id)
    }

    /// What the configuration records about member `id`.
    pub(crate) fn node_info(&self, id: u64) -> Option<NodeInfo> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        let membership = metrics.borrow_watched().membership_config.clone();
        membership.membership().get_node(&id).cloned()
    }

    /// The next free position in the configuration's order.
    pub(crate) fn next_order(&self) -> u64 {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        let membership = metrics.borrow_watched().membership_config.clone();
        let next = membership
            .membership()
            .nodes()
            .map(|(_, n)| n.order + 1)
            .max();
        next.unwrap_or(0)
    }

    /// This node's DESCRIBE metadata.
    pub fn metadata(&self) -> Metadata {
        self.inner.metadata.lock().map(|m| *m).unwrap_or_default()
    }

    /// Sets this node's weight.
    pub fn set_weight(&self, weight: u64) {
        if let Ok(mut m) = self.inner.metadata.lock() {
            m.weight = weight;
        }
    }

    /// Whether database `db` exists on this node.
    pub fn has_database(&self, db: &str) -> bool {
        self.inner.shared.vfs.database_exists(db)
    }

    /// Stops the node: closes its client connections, stops Raft, and
    /// returns once its thread is done.
    ///
    /// Bounded by [`STOP_TIMEOUT`]: an error then says the node did not
    /// finish stopping (its data directory stays locked).
    pub async fn stop(&self) -> Result<()> {
        self.inner.signal_stop();
        tokio::time::timeout(STOP_TIMEOUT, self.stopped())
            .await
            .map_err(|_| Error::Raft(format!("the node did not stop within {STOP_TIMEOUT:?}")))?
    }

    /// Returns once the node's thread is done: after [`stop`](Self::stop),
    /// or on its own when Raft failed (see [`failure`](Self::failure)).
    pub async fn stopped(&self) -> Result<()> {
        let mut stopped = self.inner.stopped.clone();
        stopped
            .wait_for(|stopped| *stopped)
            .await
            .map(|_| ())
            .map_err(|_| Error::Raft("the node thread ended abnormally".into()))
    }

    /// Why Raft stopped by itself, if it did: openraft makes every
    /// storage error fatal (a full or failing disk), and the node then
    /// stops serving.
    pub fn failure(&self) -> Option<String> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.shared.raft.metrics();
        let running = metrics.borrow_watched().running_state.clone();
        match running {
            Ok(()) | Err(openraft::errors::Fatal::Stopped) => None,
            Err(fatal) => Some(fatal.to_string()),
        }
    }
}

/// How long a client's ADD, ASSIGN or REMOVE waits for another membership
/// change to be committed (a node joining, the role manager) before it
/// answers "a configuration change is already in progress".
pub const CHANGE_SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `change` again while another membership change is being
/// committed, for up to [`CHANGE_SETTLE_TIMEOUT`]: such a refusal passes
/// once that change is committed, and a client asking for a change should
/// not see the cluster's own (dqlite's role management runs in go-dqlite's
/// client, which makes the same changes in turn).
async fn once_settled<F, Fut>(mut change: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let deadline = tokio::time::Instant::now() + CHANGE_SETTLE_TIMEOUT;
    loop {
        match change().await {
            Err(Error::ChangeInProgress) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done => return done,
        }
    }
}

impl Cluster for Node {
    fn id(&self) -> u64 {
        Node::id(self)
    }

    fn metrics(&self) -> &Arc<Metrics> {
        Node::metrics(self)
    }

    fn is_leader(&self) -> bool {
        Node::is_leader(self)
    }

    async fn settled_leader(&self) -> Option<u64> {
        Node::settled_leader(self).await
    }

    fn leader(&self) -> Option<(u64, String)> {
        Node::leader(self)
    }

    fn reported_leader(&self) -> Option<(u64, String)> {
        Node::reported_leader(self)
    }

    fn members(&self) -> Vec<Member> {
        Node::members(self)
    }

    fn metadata(&self) -> Metadata {
        Node::metadata(self)
    }

    fn set_weight(&self, weight: u64) {
        Node::set_weight(self, weight);
    }

    fn has_database(&self, db: &str) -> bool {
        Node::has_database(self, db)
    }

    async fn session(&self, db: &str) -> Result<Session> {
        Node::session(self, db).await
    }

    async fn add_node(&self, id: u64, address: &str) -> Result<()> {
        once_settled(|| Node::add_node(self, id, address)).await
    }

    async fn assign(&self, id: u64, role: Role) -> Result<()> {
        once_settled(|| Node::assign(self, id, role)).await
    }

    async fn remove_node(&self, id: u64) -> Result<()> {
        once_settled(|| Node::remove_node(self, id)).await
    }

    async fn transfer(&self, id: u64) -> Result<()> {
        Node::transfer(self, id).await
    }
}
