//! An embeddable node: its Raft instance, its databases and their
//! executor threads, and the sessions clients use to run SQL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dqlite_server::Error> {
//! use dqlite_server::Node;
//!
//! let node = Node::builder(1, "127.0.0.1:9001", "./data").start().await?;
//! let session = node.session("app").await?;
//! session.exec("CREATE TABLE t(x)").await?;
//! node.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::BasicNode;
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::StateMachine;
use crate::raft::typ::TypeConfig;
use crate::session::Session;
use crate::sql::executor::Executor;
use crate::vfs::Vfs;

pub(crate) type Raft = openraft::Raft<TypeConfig, StateMachine>;

/// File in the data directory recording the node's id and address.
const IDENTITY: &str = "node";

/// How long a starting node waits to see a leader.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures and starts a [`Node`].
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    id: u64,
    address: String,
    dir: PathBuf,
    startup_timeout: Duration,
    snapshot_every: u64,
}

/// Default number of log entries between snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1024;

impl NodeBuilder {
    /// Takes a snapshot (and compacts the log) every `entries` entries.
    pub fn snapshot_every(mut self, entries: u64) -> Self {
        self.snapshot_every = entries.max(1);
        self
    }

    /// How long [`start`](Self::start) waits for the node to see a leader.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Opens the data directory, starts Raft and, for node 1 on an empty
    /// directory, bootstraps a one-voter cluster.
    pub async fn start(self) -> Result<Node> {
        if self.id == 0 {
            return Err(Error::Config("node id 0 is not valid".into()));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            Error::Config(format!(
                "cannot use data directory {}: {e}",
                self.dir.display()
            ))
        })?;
        let fresh = check_identity(&self.dir, self.id, &self.address)?;
        let vfs = Vfs::register(&unique_vfs_name(self.id))?;
        let log = LogStore::open(self.dir.join("raft-log"))?;
        let sm = StateMachine::open(self.id, vfs, self.dir.join("state"))?;
        let config = openraft::Config {
            cluster_name: "dqlite".into(),
            heartbeat_interval: 100,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::Config(e.to_string()))?;
        let raft = Raft::new(self.id, Arc::new(config), Network, log, sm)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        if fresh && self.id == 1 {
            let members = BTreeMap::from([(self.id, BasicNode::new(&self.address))]);
            raft.initialize(members)
                .await
                .map_err(|e| Error::Raft(e.to_string()))?;
        }
        if self.id == 1 || !fresh {
            raft.wait(Some(self.startup_timeout))
                .metrics(|m| m.current_leader.is_some(), "a leader is known")
                .await
                .map_err(|e| Error::Raft(e.to_string()))?;
        }
        tracing::info!(id = self.id, address = %self.address, fresh, "node started");
        Ok(Node {
            inner: Arc::new(Inner {
                id: self.id,
                address: self.address,
                raft,
                vfs,
                executors: Mutex::new(HashMap::new()),
                metadata: std::sync::Mutex::new(Metadata::default()),
                barrier_term: Arc::new(AtomicU64::new(0)),
            }),
        })
    }
}

/// A running node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    address: String,
    raft: Raft,
    vfs: Vfs,
    executors: Mutex<HashMap<String, Arc<Executor>>>,
    metadata: std::sync::Mutex<Metadata>,
    /// Term in which a barrier last completed (0: none yet).
    barrier_term: Arc<AtomicU64>,
}

/// Node-local metadata reported by DESCRIBE (kept in memory, as dqlite does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Failure domain.
    pub failure_domain: u64,
    /// Weight, set by WEIGHT.
    pub weight: u64,
}

/// A member of the cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node id.
    pub id: u64,
    /// Node address.
    pub address: String,
    /// Whether it votes (otherwise it is a stand-by).
    pub voter: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field("address", &self.inner.address)
            .finish()
    }
}

impl Node {
    /// A builder for node `id` reachable at `address`, keeping its data in `dir`.
    pub fn builder(id: u64, address: impl Into<String>, dir: impl Into<PathBuf>) -> NodeBuilder {
        NodeBuilder {
            id,
            address: address.into(),
            dir: dir.into(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
        }
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// This node's address.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// Opens a session on database `db` (created if new): one SQLite
    /// connection, as a client's OPEN does.
    pub async fn session(&self, db: &str) -> Result<Session> {
        let executor = {
            let mut executors = self.inner.executors.lock().await;
            match executors.get(db) {
                Some(executor) => executor.clone(),
                None => {
                    let executor = Arc::new(Executor::spawn(self.inner.vfs, db)?);
                    executors.insert(db.to_owned(), executor.clone());
                    executor
                }
            }
        };
        let conn = executor.call(|c| c.open()).await??;
        Ok(Session::new(
            self.inner.id,
            self.inner.raft.clone(),
            self.inner.barrier_term.clone(),
            executor,
            conn,
            db,
        ))
    }

    /// Whether this node is the leader now (as far as it knows).
    pub fn is_leader(&self) -> bool {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.raft.metrics();
        // Copy the field at once: holding the borrow can block Raft.
        let current = metrics.borrow_watched().current_leader;
        current == Some(self.inner.id)
    }

    /// The leader's id and address as this node knows them.
    pub fn leader(&self) -> Option<(u64, String)> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.raft.metrics();
        let (leader, membership) = {
            let m = metrics.borrow_watched();
            (m.current_leader, m.membership_config.clone())
        };
        let id = leader?;
        let node = membership.membership().get_node(&id)?;
        Some((id, node.addr.clone()))
    }

    /// The members of the current configuration, in id order.
    pub fn members(&self) -> Vec<Member> {
        use openraft::async_runtime::WatchReceiver;
        let metrics = self.inner.raft.metrics();
        let membership = metrics.borrow_watched().membership_config.clone();
        let membership = membership.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                address: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect()
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
        self.inner.vfs.database_exists(db)
    }

    /// Stops Raft and the database threads.
    pub async fn stop(&self) -> Result<()> {
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        self.inner.executors.lock().await.clear();
        Ok(())
    }
}

/// Records the node's id and address on first start; refuses another id
/// or address later. Returns whether the directory was fresh.
fn check_identity(dir: &std::path::Path, id: u64, address: &str) -> Result<bool> {
    let path = dir.join(IDENTITY);
    let wanted = format!("{id}\n{address}\n");
    match std::fs::read_to_string(&path) {
        Ok(found) if found == wanted => Ok(false),
        Ok(found) => Err(Error::Config(format!(
            "data directory {} belongs to node {:?}, not node {id} at {address}",
            dir.display(),
            found.trim().replace('\n', " at ")
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::fs_util::replace_atomically(&path, wanted.as_bytes())?;
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

/// VFS names are process-wide: several nodes may live in one process.
fn unique_vfs_name(id: u64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("dqlite-node-{id}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
