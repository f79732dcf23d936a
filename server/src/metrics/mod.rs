//! The node's Prometheus metrics ([`Metrics`]), all named `dqlite_…`, and
//! their text encoding (what `GET /metrics` answers, see `crate::http`).
//!
//! Two kinds of values live here:
//!
//! - Counted where they happen, as atomics (requests and their latency,
//!   client connections, prepared statements, `fdatasync` latency,
//!   snapshots, elections): the request path records with relaxed atomic
//!   additions only (see [`Requests::record`] and [`Histogram`]).
//! - Read at scrape time (Raft's term and indexes, role, peers, bytes on
//!   disk, databases): the node sets the gauges from its state just before
//!   encoding (`node/observe.rs`), so nothing polls in between.
//!
//! A leaf: the gateway, the connection loop, Raft and the node record
//! into it; the HTTP server encodes it.

mod histogram;
mod requests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub(crate) use histogram::{FSYNC_BUCKETS, Histogram, SNAPSHOT_BUCKETS};
pub(crate) use requests::{Outcome, Requests};

/// A label set with one label whose value is fixed (`role="voter"`).
pub(crate) type StaticLabel = [(&'static str, &'static str); 1];
/// A label set with one label whose value is built at run time
/// (`peer="2"`, `database="app"`).
pub(crate) type Label = [(&'static str, String); 1];

/// The kinds of snapshot counted: taken here, sent to a follower,
/// installed from the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotKind {
    /// Built by this node (and the log compacted behind it).
    Taken,
    /// Sent whole to a follower that lagged behind the log.
    Sent,
    /// Received from the leader and installed.
    Installed,
}

impl SnapshotKind {
    const ALL: [SnapshotKind; 3] = [Self::Taken, Self::Sent, Self::Installed];

    fn name(self) -> &'static str {
        match self {
            Self::Taken => "taken",
            Self::Sent => "sent",
            Self::Installed => "installed",
        }
    }
}

/// When a leader last reached this node (an AppendEntries call,
/// heartbeats included, that was not refused for an old term): how a
/// follower tells that it is cut off, which Raft's own metrics do not say.
#[derive(Debug)]
pub(crate) struct Contact {
    base: Instant,
    /// Milliseconds from `base` to the last contact, plus one; 0: never.
    at: AtomicU64,
}

impl Default for Contact {
    fn default() -> Self {
        Contact {
            base: Instant::now(),
            at: AtomicU64::new(0),
        }
    }
}

impl Contact {
    /// Notes a contact now.
    pub(crate) fn touch(&self) {
        let millis = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.at.store(millis + 1, Ordering::Relaxed);
    }

    /// How long ago the last contact was, if there was one.
    pub(crate) fn age(&self) -> Option<Duration> {
        let at = self.at.load(Ordering::Relaxed).checked_sub(1)?;
        Some(
            self.base
                .elapsed()
                .saturating_sub(Duration::from_millis(at)),
        )
    }
}

/// Every metric of one node, and the registry that encodes them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Client requests by type and outcome, and their latency by type.
    pub(crate) requests: Requests,
    /// Open client connections.
    pub(crate) connections: Gauge,
    /// Prepared statements held by client connections.
    pub(crate) statements: Gauge,
    /// 1 for this node's role (voter, standby, spare), 0 for the others.
    pub(crate) role: Family<StaticLabel, Gauge>,
    /// 1 while this node leads.
    pub(crate) leader: Gauge,
    /// The leader's id as this node knows it (0: none known).
    pub(crate) leader_id: Gauge,
    /// Raft's current term.
    pub(crate) term: Gauge,
    /// Index of the last entry in this node's log.
    pub(crate) last_log_index: Gauge,
    /// Index of the last entry this node knows committed.
    pub(crate) committed_index: Gauge,
    /// Index of the last entry applied to this node's databases.
    pub(crate) applied_index: Gauge,
    /// On the leader: entries each peer lacks (last log index minus the
    /// peer's matched index).
    pub(crate) peer_lag: Family<Label, Gauge>,
    /// On the leader: seconds since each peer last acknowledged.
    pub(crate) peer_contact_age: Family<Label, Gauge<f64, AtomicU64>>,
    /// When a leader last reached this node.
    pub(crate) leader_contact: Contact,
    /// Seconds since the leader last reached this node (0 on the leader,
    /// +Inf before any leader did).
    pub(crate) leader_contact_age: Gauge<f64, AtomicU64>,
    /// Times this node stood for election (became a candidate).
    pub(crate) elections: Counter,
    /// Times the leader this node knows changed to another node.
    pub(crate) leader_changes: Counter,
    /// Bytes of the Raft log directory on disk.
    pub(crate) log_bytes: Gauge,
    /// Bytes of the snapshot directory on disk.
    pub(crate) snapshot_bytes: Gauge,
    /// Latency of the Raft log's `fdatasync`.
    pub(crate) fsync: Histogram,
    /// Bytes of each database (main file and committed WAL).
    pub(crate) database_bytes: Family<Label, Gauge>,
    /// Committed frames in each database's WAL.
    pub(crate) database_wal_frames: Family<Label, Gauge>,
    snapshots: Family<StaticLabel, Counter>,
    snapshot_durations: Family<StaticLabel, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered under the prefix `dqlite`.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("dqlite");
        let requests = Requests::default();
        requests.register(&mut registry);
        let metrics = Metrics {
            requests,
            connections: Gauge::default(),
            statements: Gauge::default(),
            role: Family::default(),
            leader: Gauge::default(),
            leader_id: Gauge::default(),
            term: Gauge::default(),
            last_log_index: Gauge::default(),
            committed_index: Gauge::default(),
            applied_index: Gauge::default(),
            peer_lag: Family::default(),
            peer_contact_age: Family::default(),
            leader_contact: Contact::default(),
            leader_contact_age: Gauge::default(),
            elections: Counter::default(),
            leader_changes: Counter::default(),
            log_bytes: Gauge::default(),
            snapshot_bytes: Gauge::default(),
            fsync: Histogram::new(FSYNC_BUCKETS),
            database_bytes: Family::default(),
            database_wal_frames: Family::default(),
            snapshots: Family::default(),
            snapshot_durations: Family::new_with_constructor(|| Histogram::new(SNAPSHOT_BUCKETS)),
            registry: Registry::default(),
        };
        let m = &metrics;
        let r = &mut registry;
        r.register(
            "client_connections",
            "Open client connections",
            m.connections.clone(),
        );
        r.register(
            "prepared_statements",
            "Prepared statements held by client connections",
            m.statements.clone(),
        );
        r.register(
            "role",
            "1 for this node's role in the configuration (voter, standby, spare)",
            m.role.clone(),
        );
        r.register(
            "leader",
            "1 while this node is the leader",
            m.leader.clone(),
        );
        r.register(
            "leader_id",
            "The leader's node id as this node knows it (0: none known)",
            m.leader_id.clone(),
        );
        r.register("raft_term", "Raft's current term", m.term.clone());
        r.register(
            "raft_last_log_index",
            "Index of the last entry in this node's Raft log",
            m.last_log_index.clone(),
        );
        r.register(
            "raft_committed_index",
            "Index of the last entry this node knows committed",
            m.committed_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "Index of the last entry applied to this node's databases",
            m.applied_index.clone(),
        );
        r.register(
            "raft_peer_lag_entries",
            "On the leader: entries each peer has yet to receive",
            m.peer_lag.clone(),
        );
        r.register(
            "raft_peer_last_contact_seconds",
            "On the leader: seconds since each peer last acknowledged",
            m.peer_contact_age.clone(),
        );
        r.register(
            "raft_leader_last_contact_seconds",
            "Seconds since the leader last reached this node (0 on the leader, +Inf before any did)",
            m.leader_contact_age.clone(),
        );
        r.register(
            "raft_elections",
            "Times this node stood for election",
            m.elections.clone(),
        );
        r.register(
            "raft_leader_changes",
            "Times the leader known to this node changed",
            m.leader_changes.clone(),
        );
        r.register(
            "log_bytes",
            "Bytes of the Raft log on disk",
            m.log_bytes.clone(),
        );
        r.register(
            "snapshot_bytes",
            "Bytes of the databases' files and the durable point's state on disk",
            m.snapshot_bytes.clone(),
        );
        r.register(
            "log_fsync_seconds",
            "Latency of the Raft log's fdatasync",
            m.fsync.clone(),
        );
        r.register(
            "database_bytes",
            "Bytes of each database (main file and committed WAL)",
            m.database_bytes.clone(),
        );
        r.register(
            "database_wal_frames",
            "Committed frames in each database's WAL",
            m.database_wal_frames.clone(),
        );
        r.register(
            "snapshots",
            "Snapshots taken, sent to followers and installed from the leader",
            m.snapshots.clone(),
        );
        r.register(
            "snapshot_duration_seconds",
            "How long snapshots took to take, send and install",
            m.snapshot_durations.clone(),
        );
        for kind in SnapshotKind::ALL {
            // Present at 0 from the start, so rates work from the first one.
            let _ = m.snapshots.get_or_create(&[("kind", kind.name())]);
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Counts one snapshot of `kind` that took `elapsed`.
    pub(crate) fn snapshot(&self, kind: SnapshotKind, elapsed: std::time::Duration) {
        let label = [("kind", kind.name())];
        self.snapshots.get_or_create(&label).inc();
        self.snapshot_durations
            .get_or_create(&label)
            .observe(elapsed);
    }

    /// All metrics in the text exposition format (OpenMetrics 1.0, which
    /// Prometheus reads).
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// One unit of a gauge (an open connection, a prepared statement), held
/// for as long as the thing exists: added on creation, taken back on drop.
#[derive(Debug)]
pub(crate) struct Held(Gauge);

impl Held {
    /// Adds one to `gauge` until the returned value is dropped.
    pub(crate) fn one(gauge: &Gauge) -> Held {
        gauge.inc();
        Held(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Clamps a count to a gauge's range.
pub(crate) fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
