//! Starting a node: [`NodeBuilder`], the node's thread and its wiring.
//!
//! [`NodeBuilder::start`] checks and locks the data directory
//! ([`crate::data_dir`]) and spawns the node's thread, which opens the
//! Raft log and state machine, starts Raft (bootstrapping node 1 on an
//! empty directory), spawns the snapshot, demotion and proposal tasks,
//! builds the state the handles share ([`Inner`]), and serves the listener
//! ([`net::serve`]) until the node stops.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::handle::{Inner, Node};
use super::{demotion, observe, snapshots};
use crate::data_dir::{self, DB_DIR, LOG_DIR, STATE_DIR};
use crate::error::{Error, Result};
use crate::member::{Metadata, RoleTargets};
use crate::metrics::Metrics;
use crate::net::{self, Limits, Peers};
use crate::pipeline::{self, Proposer};
use crate::raft::gate::Gate;
use crate::raft::instance::Raft;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::rpc::PeerService;
use crate::raft::state_machine::StateMachine;
use crate::raft::typ::{NodeInfo, TypeConfig};
use crate::session::{BusyWait, Shared};
use crate::sql::SqlLock;
use crate::tls::{Tls, TlsDialer};
use crate::transport::{AsyncListener, DefaultDialer, Dialer, Listener};
use crate::vfs::Vfs;

/// How long a starting node waits to see a leader.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures and starts a [`Node`].
#[derive(Debug)]
pub struct NodeBuilder {
    id: u64,
    address: String,
    dir: PathBuf,
    startup_timeout: Duration,
    snapshot_every: u64,
    snapshot_bytes: u64,
    busy_timeout: Duration,
    cache_size: u64,
    manage_roles: bool,
    failure_domain: u64,
    targets: RoleTargets,
    listener: Option<(Listener, Limits)>,
    http: Option<std::net::TcpListener>,
    dialer: Arc<dyn Dialer>,
    tls: Option<Tls>,
    wait_for_leader: bool,
    check_identity: bool,
    timing: RaftTiming,
    snapshot_trailing: u64,
    snapshot_trailing_bytes: u64,
}

/// The node id go-dqlite's `app` gives the first node of a cluster (what
/// dqlite's id recipe yields for address "1" at time 0). A node with this
/// id, like node 1, bootstraps a one-voter cluster on an empty directory.
pub const BOOTSTRAP_ID: u64 = 0x2dc1_7185_8c31_55be;

/// Heartbeat and election timing of Raft.
#[derive(Debug, Clone, Copy)]
struct RaftTiming {
    heartbeat: Duration,
    election_min: Duration,
    election_max: Duration,
}

/// Default interval between a leader's heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// Default election timeout: a follower that hears nothing from a leader
/// for a random time between it and twice it stands for election.
pub const DEFAULT_ELECTION_TIMEOUT: Duration = Duration::from_millis(300);

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat: DEFAULT_HEARTBEAT_INTERVAL,
            election_min: DEFAULT_ELECTION_TIMEOUT,
            election_max: DEFAULT_ELECTION_TIMEOUT * 2,
        }
    }
}

/// Default page cache of each connection to a database: 2 MiB, SQLite's
/// own default.
pub const DEFAULT_CACHE_SIZE: u64 = 2 * 1024 * 1024;

/// Default number of log entries between snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1024;

impl NodeBuilder {
    /// Takes a snapshot (a durable point, which compacts the log) after
    /// `entries` entries (see `node/snapshots.rs`).
    pub fn snapshot_every(mut self, entries: u64) -> Self {
        self.snapshot_every = entries.max(1);
        self
    }

    /// Takes a snapshot without waiting for the
    /// [entry count](Self::snapshot_every) once `bytes` bytes of database
    /// frames (pages whole or as changes, as logged) were applied since
    /// the last one (default [`DEFAULT_SNAPSHOT_BYTES`](crate::DEFAULT_SNAPSHOT_BYTES),
    /// 64 MiB), so that a few large transactions do not grow the log
    /// unbounded.
    pub fn snapshot_bytes(mut self, bytes: u64) -> Self {
        self.snapshot_bytes = bytes.max(1);
        self
    }

    /// How long a statement waits for another connection's write
    /// transaction to end before it fails with "database is locked"
    /// (dqlite's busy timeout; default 0, fail at once, as dqlite; LXD
    /// uses 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Bytes of SQLite page cache each connection to a database keeps
    /// (default [`DEFAULT_CACHE_SIZE`]): the databases are files, so this
    /// and the WAL not yet folded into them are what they take in memory.
    pub fn cache_size(mut self, bytes: u64) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Whether this node, while it leads, keeps the roles balanced as
    /// go-dqlite's `app` does: up to 3 voters and 3 stand-bys among the
    /// nodes that answer, and a stand-by (or spare) in place of a voter
    /// silent for [`NODE_FAILURE_TIMEOUT`](crate::NODE_FAILURE_TIMEOUT).
    /// Off by default: applications on go-dqlite's `app` do it themselves.
    pub fn manage_roles(mut self, on: bool) -> Self {
        self.manage_roles = on;
        self
    }

    /// This node's failure domain (reported by DESCRIBE; default 0). With
    /// [`manage_roles`](Self::manage_roles), leaders prefer voters and
    /// stand-bys in distinct failure domains.
    pub fn failure_domain(mut self, domain: u64) -> Self {
        self.failure_domain = domain;
        self
    }

    /// How many voters and stand-bys this node fills the cluster up to
    /// when it joins and, with [`manage_roles`](Self::manage_roles), while
    /// it leads (default [`WANTED_VOTERS`](crate::WANTED_VOTERS) and
    /// [`WANTED_STANDBYS`](crate::WANTED_STANDBYS); at least one voter).
    pub fn role_targets(mut self, voters: usize, standbys: usize) -> Self {
        self.targets = RoleTargets {
            voters: voters.max(1),
            standbys,
        };
        self
    }

    /// How long [`start`](Self::start) waits for the node to see a leader.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Serves client connections (and other nodes' Raft traffic) on
    /// `listener`, bound by the caller so that it can pick port 0 or
    /// report a busy port itself: a TCP listener, or a
    /// [`Listener`](crate::transport::Listener) (also Unix sockets:
    /// [`Listener::bind_local`](crate::transport::Listener::bind_local)
    /// binds `unix:/path` and `@name` for other processes of the host).
    pub fn serve(mut self, listener: impl Into<Listener>, limits: Limits) -> Self {
        self.listener = Some((listener.into(), limits));
        self
    }

    /// Serves the operations endpoints over HTTP on `listener` (bound by
    /// the caller, e.g. on port 0): `GET /metrics` (Prometheus text
    /// format, names prefixed `dqlite_`), `GET /healthz` (200 while the
    /// node serves), `GET /readyz` (200 when a leader is known, reached
    /// recently, and this node's applied index is within
    /// [`READY_MAX_LAG`](crate::READY_MAX_LAG) entries of its commit
    /// index; 503 and the reason otherwise) and `GET /status` (JSON: id,
    /// address, role, leader, members, version, uptime, data directory
    /// size). Off by default; the server stops with the node.
    pub fn http(mut self, listener: std::net::TcpListener) -> Self {
        self.http = Some(listener);
        self
    }

    /// How this node opens connections to other nodes (Raft, joining,
    /// role management); default [`DefaultDialer`](crate::transport::DefaultDialer).
    pub fn dialer(mut self, dialer: Arc<dyn Dialer>) -> Self {
        self.dialer = dialer;
        self
    }

    /// Runs mutual TLS on every connection: those the listener accepts
    /// (clients and other nodes alike must present a certificate the
    /// configuration trusts) and those the node dials, over its
    /// [dialer](Self::dialer). The configuration can be replaced while
    /// the node runs ([`Tls::reload`], [`Tls::replace`]) through a clone
    /// of `tls`. With an admin CA in it ([`TlsFiles::admin_ca`](crate::tls::TlsFiles::admin_ca),
    /// [`TlsConfig::from_pem_with_admin_ca`](crate::tls::TlsConfig::from_pem_with_admin_ca)),
    /// only peers with a certificate of the admin CA may change the
    /// cluster (ADD, ASSIGN, REMOVE, TRANSFER, WEIGHT) and talk Raft to
    /// the node; the node's own certificate must be one of them.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Whether [`start`](Self::start) waits until a leader is known
    /// (default true: node 1 and restarting nodes wait up to the
    /// [startup timeout](Self::startup_timeout)). False returns as soon as
    /// the log is loaded and the listener accepts, as `dqlite_node_start`,
    /// except for the only voter of a cluster, which always waits until it
    /// leads.
    pub fn wait_for_leader(mut self, wait: bool) -> Self {
        self.wait_for_leader = wait;
        self
    }

    /// Whether the data directory's identity file (`node`: id and address)
    /// must match this node (default true). False only rewrites it: the
    /// C library has no such check, and its recovery procedure copies one
    /// node's directory to the others.
    pub fn check_identity(mut self, check: bool) -> Self {
        self.check_identity = check;
        self
    }

    /// Raft's heartbeat interval and election timeout range (default 100
    /// ms and 300 to 600 ms); checked at start: the election timeout must
    /// exceed the heartbeat, the range must not be empty.
    pub fn raft_timing(
        mut self,
        heartbeat: Duration,
        election_min: Duration,
        election_max: Duration,
    ) -> Self {
        self.timing = RaftTiming {
            heartbeat,
            election_min,
            election_max,
        };
        self
    }

    /// Log entries kept behind a snapshot, so that a follower a little
    /// behind catches up from the log instead of receiving every database
    /// (default [`DEFAULT_SNAPSHOT_TRAILING`](crate::DEFAULT_SNAPSHOT_TRAILING),
    /// dqlite's 8192; 0 compacts the whole log at each snapshot), as far
    /// as [`snapshot_trailing_bytes`](Self::snapshot_trailing_bytes) allows.
    pub fn snapshot_trailing(mut self, entries: u64) -> Self {
        self.snapshot_trailing = entries;
        self
    }

    /// Bytes of frames the entries kept behind a snapshot may hold at most
    /// (default [`DEFAULT_SNAPSHOT_TRAILING_BYTES`](crate::DEFAULT_SNAPSHOT_TRAILING_BYTES),
    /// 64 MiB): the oldest are purged past that, so the log stays small
    /// next to the databases whatever the size of the entries.
    pub fn snapshot_trailing_bytes(mut self, bytes: u64) -> Self {
        self.snapshot_trailing_bytes = bytes;
        self
    }

    /// Opens the data directory, starts the node's thread with Raft and,
    /// for node 1 (or [`BOOTSTRAP_ID`]) on an empty directory, bootstraps a
    /// one-voter cluster. Returns once the node leads if it is the only
    /// voter of its cluster (failing after the
    /// [startup timeout](Self::startup_timeout)); a member of a larger
    /// cluster restarting returns once a leader is known, or after the
    /// startup timeout without one; a fresh node waiting to be added, or
    /// one told not to [wait](Self::wait_for_leader), returns at once.
    pub async fn start(mut self) -> Result<Node> {
        if let Some(tls) = &self.tls {
            self.dialer = Arc::new(TlsDialer::new(self.dialer.clone(), tls.clone()));
        }
        if self.id == 0 {
            return Err(Error::Config("node id 0 is not valid".into()));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            Error::Config(format!(
                "cannot use data directory {}: {e}",
                self.dir.display()
            ))
        })?;
        data_dir::refuse_c_data(&self.dir)?;
        // Held until the node's thread is done with the directory.
        let lock = data_dir::lock_dir(&self.dir)?;
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("dqlite-node-{}", self.id))
            .spawn(move || run(self, lock, ready_tx))?;
        let inner = ready_rx
            .await
            .map_err(|_| Error::Raft("the node thread ended while starting".into()))??;
        Ok(Node::owning(inner))
    }
}

/// The node's thread: its runtime runs Raft and the client connections
/// until the node is told to stop.
fn run(builder: NodeBuilder, lock: std::fs::File, ready: oneshot::Sender<Result<Arc<Inner>>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let (stop_tx, stop_rx) = oneshot::channel();
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let mut builder = builder;
        let listener = builder.listener.take();
        let http = builder.http.take();
        let manage_roles = builder.manage_roles;
        let tls = builder.tls.take();
        let started = async {
            let listener = listener
                .map(|(listener, limits)| {
                    Ok::<_, std::io::Error>((AsyncListener::new(listener)?, limits))
                })
                .transpose()?;
            let http = http
                .map(|listener| {
                    listener.set_nonblocking(true)?;
                    tokio::net::TcpListener::from_std(listener)
                })
                .transpose()?;
            let started = start_raft(builder, stop_tx, stopped_rx).await?;
            Ok::<_, Error>((started, listener, http))
        };
        let ((inner, leader_wait), listener, http) = match started.await {
            Ok(started) => started,
            Err(e) => {
                // Free the directory before saying so: the caller may
                // try again at once (with the damage it reports repaired).
                drop(lock);
                let _ = ready.send(Err(e));
                return;
            }
        };
        let node = Node::internal(inner.clone());
        let peers = Peers {
            service: PeerService {
                raft: node.raft().clone(),
                gate: node.gate().clone(),
                metrics: node.metrics().clone(),
                inbox: Arc::new(crate::raft::snapshot_stream::Inbox::new(node.vfs())),
            },
            tls,
        };
        // Answers from the start: /readyz says why the node is not ready
        // while it waits for a leader.
        let http = http.map(|listener| tokio::task::spawn_local(crate::http::serve(listener, node.clone())));
        // Stop when told to, or when Raft stopped on its own: openraft
        // makes every storage error fatal (a full or failing disk), and a
        // node whose Raft is gone must not go on answering clients (it
        // would still name itself leader to them).
        let stop = async {
            tokio::select! {
                _ = stop_rx => {}
                () = raft_failed(node.raft()) => {}
            }
        };
        // Serve at once: the port carries the other nodes' Raft traffic
        // too, and a node restarted with a log too short to win an
        // election learns of the leader only through it. Except the only
        // voter of its cluster, which needs no one: it serves once it
        // leads for good (as C dqlite's sole voter, which leads before its
        // socket answers anything), so that its very first answer names
        // it leader and a write succeeds.
        let (open, opened) = oneshot::channel::<()>();
        let mut open = Some(open);
        if !matches!(leader_wait, Some(LeaderWait::Required(_))) {
            open.take().map(|open| open.send(()));
        }
        let mut serving = Box::pin(async {
            let _ = opened.await;
            match listener {
                Some((listener, limits)) => net::serve(listener, node.clone(), peers, limits, stop).await,
                None => stop.await,
            }
        });
        let me = node.id();
        let waited = match leader_wait {
            Some(LeaderWait::Required(timeout) | LeaderWait::Hoped(timeout)) => {
                let wait = node.raft().wait(Some(timeout));
                let leader = wait.metrics(
                    |m| match leader_wait {
                        Some(LeaderWait::Required(_)) => leads_for_good(m, me),
                        _ => m.current_leader.is_some(),
                    },
                    "a leader is known",
                );
                let waited = tokio::select! {
                    waited = leader => waited.map(drop).map_err(|e| Error::Raft(e.to_string())),
                    () = &mut serving => Err(Error::ShuttingDown),
                };
                match (waited, leader_wait) {
                    (Err(e), Some(LeaderWait::Hoped(timeout))) if node.failure().is_none() && !matches!(e, Error::ShuttingDown) => {
                        tracing::warn!(
                            ?timeout,
                            "no leader yet (are the other voters down?): serving, and waiting for them"
                        );
                        Ok(())
                    }
                    (waited, _) => waited,
                }
            }
            None => Ok(()),
        };
        let mut failed = None;
        if let Some(open) = open.take() {
            let _ = open.send(());
        }
        match waited {
            Ok(()) => {
                if ready.send(Ok(inner)).is_err() {
                    tracing::warn!("the starter of the node went away");
                }
                if manage_roles {
                    tokio::task::spawn_local(node.clone().manage_roles());
                }
                (&mut serving).await;
            }
            Err(e) => {
                // Raft failing while the node starts (a disk still full)
                // says more than "shutting down". Said once the
                // directory and the address are free (below).
                failed = Some((node.failure().map_or(e, Error::Raft), ready));
            }
        }
        drop(serving);
        if let Some(http) = http {
            http.abort();
            let _ = http.await;
        }
        if let Err(e) = node.raft().shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
        tracing::info!(id = node.id(), "node stopped");
        // The listener is closed and Raft's storage dropped: the directory
        // and the address are free for another node.
        drop(lock);
        if let Some((e, ready)) = failed {
            let _ = ready.send(Err(e));
        }
        let _ = stopped_tx.send(true);
    });
}

/// Whether node `me` leads, past the transient leadership at term 0 that
/// bootstrapping gives it (it stands for election right after): it leads
/// at a term of its own election, with its vote committed, and an entry
/// of that term committed (so that a barrier passes at once).
fn leads_for_good(m: &openraft::RaftMetrics<TypeConfig>, me: u64) -> bool {
    m.current_leader == Some(me)
        && m.current_term > 0
        && m.vote.is_committed()
        && m.local_committed
            .is_some_and(|c| c.leader_id.term == m.current_term)
}

/// Whether [`NodeBuilder::start`] waits for a leader before it returns.
#[derive(Debug, Clone, Copy)]
enum LeaderWait {
    /// It must see one (it is the sole voter, or bootstraps): else start fails.
    Required(Duration),
    /// It waits for one that long, then starts anyway.
    Hoped(Duration),
}

/// Resolves once Raft has stopped by itself (a storage error is fatal to
/// openraft), after logging why.
async fn raft_failed(raft: &Raft) {
    use openraft::async_runtime::WatchReceiver;
    let mut metrics = raft.metrics();
    loop {
        // Copy the field at once: holding the borrow can block Raft.
        let running = metrics.borrow_watched().running_state.clone();
        match running {
            Ok(()) => {}
            Err(openraft::errors::Fatal::Stopped) => return,
            Err(fatal) => {
                tracing::error!(error = %fatal, "Raft failed; the node stops serving");
                return;
            }
        }
        if metrics.changed().await.is_err() {
            tracing::error!("Raft is gone; the node stops serving");
            return;
        }
    }
}

/// Checks the data directory's identity, opens the Raft log and the state
/// machine, starts Raft (bootstrapping node 1 on an empty directory) and
/// the node's tasks (snapshots, demotion watch, proposals). Returns the
/// state the handles share, and how [`NodeBuilder::start`] waits for a
/// leader: [`LeaderWait::Required`] for the only voter of its cluster (it
/// must lead), [`LeaderWait::Hoped`] for a member of a larger cluster
/// restarting (unless [`NodeBuilder::wait_for_leader`] says not to wait),
/// `None` for a fresh node, which waits to be added.
async fn start_raft(
    builder: NodeBuilder,
    stop: oneshot::Sender<()>,
    stopped: watch::Receiver<bool>,
) -> Result<(Arc<Inner>, Option<LeaderWait>)> {
    if builder.check_identity {
        data_dir::check_identity(&builder.dir, builder.id, &builder.address)?;
    } else {
        data_dir::write_identity(&builder.dir, builder.id, &builder.address)?;
    }
    let timing = builder.timing;
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let vfs = Vfs::register(&unique_vfs_name(builder.id), &builder.dir.join(DB_DIR))?;
    vfs.set_cache_size(builder.cache_size);
    let sql = SqlLock::default();
    let metrics = Arc::new(Metrics::new());
    let mut log = LogStore::open(builder.dir.join(LOG_DIR))?;
    log.observe_fsync(metrics.fsync.clone());
    // Fresh: neither log nor snapshot (the identity file says nothing
    // about that: dqlite's recovery copies directories). Read from the
    // storage itself: Raft's metrics are not filled in at once.
    let fresh = {
        use openraft::storage::RaftLogStorage;
        let state = log.get_log_state().await?;
        state.last_log_id.is_none()
            && crate::raft::state_machine::read_snapshot_meta(&builder.dir.join(STATE_DIR))?
                .is_none()
    };
    log.check_stored().map_err(|e| {
        Error::Config(format!(
            "cannot start from data directory {}: {e}",
            builder.dir.display()
        ))
    })?;
    let sm = StateMachine::open(builder.id, vfs, sql.clone(), builder.dir.join(STATE_DIR)).await?;
    let gauge = sm.gauge();
    sm.observe(metrics.clone());
    let config = openraft::Config {
        cluster_name: "dqlite".into(),
        heartbeat_interval: millis(timing.heartbeat).max(1),
        election_timeout_min: millis(timing.election_min),
        election_timeout_max: millis(timing.election_max),
        // `snapshots::run` decides, by count and by size.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        // A snapshot travels whole (see `raft::network`): give it time.
        install_snapshot_timeout: 30_000,
        max_in_snapshot_log_to_keep: builder.snapshot_trailing,
        // A node that cannot win (partitioned, restarted with a short
        // log) asks first, so its term does not run ahead of the
        // cluster's (`raft::admission` bounds how far a term may jump).
        enable_pre_vote: Some(true),
        // A leader that restarts comes back as a follower and is elected
        // anew. Restored as leader in its old term (openraft's default),
        // it would take writes before its state machine caught up with
        // entries committed before the crash (the committed id on disk is
        // only a hint), building them on stale pages: found by the chaos
        // test, as a node that then could not apply its own log.
        enable_leader_restore: Some(false),
        ..Default::default()
    }
    .validate()
    .map_err(|e| Error::Config(e.to_string()))?;
    let network = Network {
        id: builder.id,
        address: builder.address.clone(),
        dialer: builder.dialer.clone(),
        dials: Default::default(),
        metrics: metrics.clone(),
    };
    let gate = Gate::new(builder.id, network.clone());
    let raft = Raft::new(builder.id, Arc::new(config), network, log, sm)
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;
    let mut bootstrapped = false;
    if fresh && (builder.id == 1 || builder.id == BOOTSTRAP_ID) {
        let members = BTreeMap::from([(
            builder.id,
            NodeInfo {
                address: builder.address.clone(),
                standby: false,
                order: 0,
            },
        )]);
        match raft.initialize(members).await {
            Ok(()) => bootstrapped = true,
            // A vote without a log: state exists, nothing to bootstrap.
            Err(e)
                if matches!(
                    e.api_error(),
                    Some(openraft::errors::InitializeError::NotAllowed(_))
                ) => {}
            Err(e) => return Err(Error::Raft(e.to_string())),
        }
    }
    // The only voter of its cluster leads at once, as with dqlite (whose
    // Raft makes such a node leader as it starts): no election timeout
    // to sit out, and `start` returns with the node leading.
    let sole_voter = bootstrapped || {
        // Raft fills its metrics in once it has loaded its state: a node
        // with a log or snapshot has a configuration (the first entry is
        // one), so wait for it to show (briefly).
        let configured = raft
            .wait(Some(Duration::from_secs(5)))
            .metrics(
                |m| fresh || m.membership_config.log_id().is_some(),
                "the configuration is loaded",
            )
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        configured.membership_config.voter_ids().eq([builder.id])
    };
    // Restarted, it comes back a follower: it might as well stand for
    // election at once. (Just initialized, it stands for election at term
    // 1 by itself: a second call would make that term 2, where dqlite's
    // log, as go-dqlite's `ReadLastEntryInfo` reads it, is at term 1.)
    if sole_voter
        && !bootstrapped
        && let Err(e) = raft.trigger().elect(false).await
    {
        tracing::warn!(error = %e, "cannot start an election");
    }
    // A sole voter (and a node bootstrapping a cluster) must lead by the
    // time `start` returns; a member of a larger cluster restarting
    // waits for a leader but starts anyway without one (the others may
    // be down or restarting too: it serves and waits for them).
    let leader_wait = if sole_voter {
        Some(LeaderWait::Required(builder.startup_timeout))
    } else if builder.wait_for_leader && !fresh {
        Some(LeaderWait::Hoped(builder.startup_timeout))
    } else {
        None
    };
    tracing::info!(id = builder.id, address = %builder.address, fresh, "node started");
    let thresholds = snapshots::Thresholds {
        entries: builder.snapshot_every,
        bytes: builder.snapshot_bytes,
        trailing_bytes: builder.snapshot_trailing_bytes,
    };
    tokio::task::spawn_local(snapshots::run(raft.clone(), gauge, thresholds));
    tokio::task::spawn_local(observe::watch_raft(raft.clone(), metrics.clone()));
    let demotion = demotion::Demotion::new(timing.election_max);
    tokio::task::spawn_local(demotion::watch(raft.clone(), builder.id, demotion.clone()));
    tokio::task::spawn_local(super::events::watch(raft.clone(), builder.id));
    tokio::task::spawn_local(super::catchup::watch(raft.clone(), builder.id));
    let (proposer, proposals) = Proposer::new();
    tokio::task::spawn_local(pipeline::run(
        proposals,
        builder.id,
        raft.clone(),
        vfs,
        sql.clone(),
    ));
    let inner = Arc::new(Inner {
        shared: Shared {
            node_id: builder.id,
            raft,
            confirmed: Arc::default(),
            vfs,
            lock: sql,
            busy: BusyWait {
                timeout: builder.busy_timeout,
                released: Arc::default(),
            },
            proposer,
        },
        address: builder.address,
        metadata: Mutex::new(Metadata {
            failure_domain: builder.failure_domain,
            weight: 0,
        }),
        targets: builder.targets,
        dialer: builder.dialer,
        gate,
        demotion,
        election_timeout: timing.election_max,
        changing: tokio::sync::Mutex::default(),
        stop: Mutex::new(Some(stop)),
        stopped,
        metrics,
        dir: builder.dir,
        started: std::time::Instant::now(),
    });
    Ok((inner, leader_wait))
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
            snapshot_bytes: snapshots::DEFAULT_SNAPSHOT_BYTES,
            busy_timeout: Duration::ZERO,
            cache_size: DEFAULT_CACHE_SIZE,
            manage_roles: false,
            failure_domain: 0,
            targets: RoleTargets::default(),
            listener: None,
            http: None,
            dialer: Arc::new(DefaultDialer),
            tls: None,
            wait_for_leader: true,
            check_identity: true,
            timing: RaftTiming::default(),
            snapshot_trailing: snapshots::DEFAULT_SNAPSHOT_TRAILING,
            snapshot_trailing_bytes: snapshots::DEFAULT_SNAPSHOT_TRAILING_BYTES,
        }
    }
}

/// VFS names are process-wide: several nodes may live in one process.
fn unique_vfs_name(id: u64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("dqlite-node-{id}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
