//! What LEADER answers on a node just demoted from voter to spare.
//!
//! dqlite's leader replicates nothing to spares, so a voter demoted to
//! spare never hears of its demotion: it goes on answering LEADER as a
//! voter, naming the leader it last heard from, until its election timer
//! runs out (it then stands as a candidate no one votes for, and knows no
//! leader). go-dqlite's `app` relies on that window: right after
//! `Handover`, the node that handed its seat over finds the new leader
//! through its own address, which is the only one its node store holds
//! until the next roles adjustment.
//!
//! Our spares are learners and see their demotion at once. So that the
//! same clients work, a node records when it goes from voter to spare and,
//! for one election timeout after that, answers LEADER as a voter would
//! (with the leader it knows, which is current: the leader still sends it
//! the log). Stand-bys and spares that never were voters answer as
//! dqlite's do: no leader (spec §8.3).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dqlite_protocol::Role;
use openraft::async_runtime::WatchReceiver;

use crate::raft::instance::Raft;
use crate::raft::typ::role_in;

/// When this node last went from voter to spare, and for how long that
/// lets it answer LEADER as a voter.
#[derive(Debug)]
pub(crate) struct Demotion {
    window: Duration,
    at: Mutex<Option<Instant>>,
}

impl Demotion {
    /// A record that lets a demoted node answer as a voter for `window`.
    pub(crate) fn new(window: Duration) -> Arc<Self> {
        Arc::new(Self {
            window,
            at: Mutex::new(None),
        })
    }

    /// Whether this node went from voter to spare less than the window ago.
    pub(crate) fn recent(&self) -> bool {
        self.lock().is_some_and(|at| at.elapsed() < self.window)
    }

    fn set(&self, at: Option<Instant>) {
        *self.lock() = at;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// This node's role in the configuration `raft` works with.
fn role(raft: &Raft, id: u64) -> Option<Role> {
    let metrics = raft.server_metrics();
    // Copy the field at once: holding the borrow can block Raft.
    let config = metrics.borrow_watched().membership_config.clone();
    role_in(config.membership(), id)
}

/// Watches this node's role in the configuration and records its
/// demotions from voter to spare in `demotion`, until Raft stops.
pub(crate) async fn watch(raft: Raft, id: u64, demotion: Arc<Demotion>) {
    let mut metrics = raft.server_metrics();
    let mut previous = role(&raft, id);
    loop {
        if metrics.changed().await.is_err() {
            return;
        }
        let now = role(&raft, id);
        match (previous, now) {
            (Some(Role::Voter), Some(Role::Spare)) => demotion.set(Some(Instant::now())),
            (_, Some(Role::Spare)) => {}
            _ => demotion.set(None),
        }
        previous = now;
    }
}
