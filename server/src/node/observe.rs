//! What the operations endpoints (`crate::http`) see of a node: [`Node`]
//! implements [`Probe`] here (health, readiness, status, the gauges read
//! at scrape time), and [`watch_raft`] counts elections and leader
//! changes as Raft reports them.

use std::path::Path;
use std::time::Duration;

use dqlite_protocol::Role;
use openraft::Instant as _;
use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;

use super::handle::Node;
use crate::data_dir::{DB_DIR, LOG_DIR, STATE_DIR};
use crate::http::{Probe, Status, StatusMember};
use crate::metrics::{Metrics, gauge_value};
use crate::raft::instance::Raft;
use crate::raft::typ::role_in;

/// How far (in log entries) a node's applied index may trail the
/// leader's commit index for `GET /readyz` to call it ready. A follower
/// also needs to have heard from the leader within
/// two election timeouts (1.2 s by
/// default), and a leader to have been acknowledged by a quorum within the
/// same bound (a sole voter always is).
pub const READY_MAX_LAG: u64 = 64;

/// The name of a role in the metrics and in `/status`.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Voter => "voter",
        Role::StandBy => "standby",
        Role::Spare => "spare",
    }
}

/// Bytes of the files under `dir`, down to a few levels (a data
/// directory is two deep); what cannot be read counts as nothing.
fn dir_bytes(dir: &Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() && depth > 0 => dir_bytes(&entry.path(), depth - 1),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

impl Node {
    /// How recently a follower must have heard from the leader, and a
    /// leader from a quorum, to be ready: two election timeouts.
    pub(crate) fn ready_contact(&self) -> Duration {
        self.election_timeout() * 2
    }

    /// Sets the gauges read at scrape time from Raft, the VFS and the
    /// data directory.
    fn refresh_metrics(&self) {
        let m = self.metrics();
        let me = self.id();
        let raft = self.raft().metrics();
        let (term, last_log, committed, applied, leader, membership, replication, heartbeat) = {
            let r = raft.borrow_watched();
            (
                r.current_term,
                r.last_log_index,
                r.local_committed.map(|c| c.index),
                r.last_applied.map(|a| a.index),
                r.current_leader,
                r.membership_config.clone(),
                r.replication.clone(),
                r.heartbeat.clone(),
            )
        };
        m.term.set(gauge_value(term));
        m.last_log_index.set(gauge_value(last_log.unwrap_or(0)));
        m.committed_index.set(gauge_value(committed.unwrap_or(0)));
        m.applied_index.set(gauge_value(applied.unwrap_or(0)));
        m.leader.set(i64::from(leader == Some(me)));
        m.leader_id.set(gauge_value(leader.unwrap_or(0)));
        let role = role_in(membership.membership(), me);
        for r in [Role::Voter, Role::StandBy, Role::Spare] {
            m.role
                .get_or_create(&[("role", role_name(r))])
                .set(i64::from(role == Some(r)));
        }
        // Only the leader has peers to report; a peer that left the
        // configuration leaves the metrics too.
        m.peer_lag.clear();
        m.peer_contact_age.clear();
        for (peer, matched) in replication.iter().flatten() {
            if *peer == me {
                continue;
            }
            let matched = matched.map_or(0, |id| id.index);
            let lag = last_log.unwrap_or(0).saturating_sub(matched);
            m.peer_lag
                .get_or_create(&[("peer", peer.to_string())])
                .set(gauge_value(lag));
        }
        for (peer, acked) in heartbeat.iter().flatten() {
            if *peer == me {
                continue;
            }
            if let Some(acked) = acked {
                m.peer_contact_age
                    .get_or_create(&[("peer", peer.to_string())])
                    .set(acked.elapsed().as_secs_f64());
            }
        }
        // The leader is in contact with itself; a node that never heard
        // from one is as cut off as can be (+Inf, so that `> bound`
        // alerts fire).
        let contact = match m.leader_contact.age() {
            _ if leader == Some(me) => 0.0,
            Some(age) => age.as_secs_f64(),
            None => f64::INFINITY,
        };
        m.leader_contact_age.set(contact);
        m.log_bytes
            .set(gauge_value(dir_bytes(&self.dir().join(LOG_DIR), 2)));
        m.snapshot_bytes.set(gauge_value(
            dir_bytes(&self.dir().join(STATE_DIR), 2) + dir_bytes(&self.dir().join(DB_DIR), 2),
        ));
        m.database_bytes.clear();
        m.database_wal_frames.clear();
        let vfs = self.vfs();
        for db in vfs.databases() {
            if let Ok((bytes, frames)) = vfs.sizes(&db) {
                m.database_bytes
                    .get_or_create(&[("database", db.clone())])
                    .set(gauge_value(bytes as u64));
                m.database_wal_frames
                    .get_or_create(&[("database", db)])
                    .set(i64::from(frames));
            }
        }
    }

    /// Whether this node is ready (see [`READY_MAX_LAG`]); `Err` is the
    /// one-line reason it is not.
    fn readiness(&self) -> Result<(), String> {
        self.healthy_now()?;
        let me = self.id();
        let bound = self.ready_contact();
        let raft = self.raft().metrics();
        let (leader, sole_voter, quorum_acked, cluster_committed, applied) = {
            let r = raft.borrow_watched();
            (
                r.current_leader,
                r.membership_config.voter_ids().eq([me]),
                r.last_quorum_acked.as_ref().map(|at| at.elapsed()),
                r.cluster_committed.map_or(0, |c| c.index),
                r.last_applied.map_or(0, |a| a.index),
            )
        };
        let Some(leader) = leader else {
            return Err("no leader known".into());
        };
        if leader == me {
            return match quorum_acked {
                _ if sole_voter => Ok(()),
                Some(age) if age <= bound => Ok(()),
                Some(age) => Err(format!(
                    "leader not acknowledged by a quorum for {} ms",
                    age.as_millis()
                )),
                None => Err("leader not yet acknowledged by a quorum".into()),
            };
        }
        match self.metrics().leader_contact.age() {
            None => return Err(format!("leader {leader} has not reached this node yet")),
            Some(age) if age > bound => {
                return Err(format!(
                    "no contact with leader {leader} for {} ms",
                    age.as_millis()
                ));
            }
            Some(_) => {}
        }
        let lag = cluster_committed.saturating_sub(applied);
        if lag > READY_MAX_LAG {
            return Err(format!(
                "applied index {applied} is {lag} entries behind the leader's commit index {cluster_committed} (at most {READY_MAX_LAG})"
            ));
        }
        Ok(())
    }

    /// `Err` once Raft has stopped.
    fn healthy_now(&self) -> Result<(), String> {
        let raft = self.raft().metrics();
        let running = raft.borrow_watched().running_state.clone();
        if let Some(failure) = self.vfs().file_failure() {
            return Err(format!("cannot write a database file: {failure}"));
        }
        match running {
            Ok(()) => Ok(()),
            Err(openraft::errors::Fatal::Stopped) => Err("Raft stopped".into()),
            Err(fatal) => Err(format!("Raft failed: {fatal}")),
        }
    }
}

impl Probe for Node {
    fn fresh_metrics(&self) -> &Metrics {
        self.refresh_metrics();
        self.metrics()
    }

    fn healthy(&self) -> Result<(), String> {
        self.healthy_now()
    }

    fn ready(&self) -> Result<(), String> {
        self.readiness()
    }

    fn status(&self) -> Status {
        let members = self.members();
        let leader = self.leader().map(|(id, address)| StatusMember {
            id,
            address,
            role: members
                .iter()
                .find(|m| m.id == id)
                .map(|m| role_name(m.role)),
        });
        Status {
            id: self.id(),
            address: self.address().to_owned(),
            role: self.role().map(role_name),
            is_leader: self.is_leader(),
            leader,
            members: members
                .into_iter()
                .map(|m| StatusMember {
                    id: m.id,
                    address: m.address,
                    role: Some(role_name(m.role)),
                })
                .collect(),
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.uptime().as_secs(),
            data_dir_bytes: dir_bytes(self.dir(), 3),
        }
    }
}

/// Counts elections (this node becoming a candidate) and leader changes
/// (the leader it knows becoming another node) until Raft stops.
pub(super) async fn watch_raft(raft: Raft, metrics: std::sync::Arc<Metrics>) {
    let mut watch = raft.metrics();
    let (mut state, mut leader) = {
        let m = watch.borrow_watched();
        (m.state, m.current_leader)
    };
    if leader.is_some() {
        metrics.leader_changes.inc();
    }
    while watch.changed().await.is_ok() {
        let (now_state, now_leader) = {
            let m = watch.borrow_watched();
            (m.state, m.current_leader)
        };
        if now_state == ServerState::Candidate && state != ServerState::Candidate {
            metrics.elections.inc();
        }
        if now_leader.is_some() && now_leader != leader {
            metrics.leader_changes.inc();
        }
        state = now_state;
        if now_leader.is_some() {
            leader = now_leader;
        }
    }
}
