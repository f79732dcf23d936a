//! The door of node-to-node traffic: [`admission`](super::admission)'s
//! checks applied with the node's live configuration and term, plus the
//! one way in for a caller this node does not know of.
//!
//! # Callers added while this node was behind
//!
//! A node that missed a configuration change (it was down, or lags) does
//! not know the members it added, and the entries that would tell it can
//! only come from the leader, which may be one of those new members. So a
//! caller that is not a member is refused, and the node asks its own
//! members (other than the caller) for their configuration with a
//! `Members` call; if one of them lists the caller with the same address,
//! the caller is *vouched for* (for [`VOUCH_TTL`]) and its next attempt
//! gets in. A forger cannot get a member to list it: only the cluster's
//! leader adds members. Asking is bounded: one round per caller id every
//! [`ASK_EVERY`], at most [`MAX_ASKING`] rounds at a time, each within
//! [`ASK_TIMEOUT`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;

use super::admission::{Refusal, View};
use super::instance::Raft;
use super::network::Network;
use super::peer_wire::{Hello, PeerRequest};
use crate::throttle::{Throttle, trim};

/// How long a vouched-for caller stays admitted without being a member.
pub const VOUCH_TTL: Duration = Duration::from_secs(600);
/// Shortest time between two rounds of asking about one caller.
pub const ASK_EVERY: Duration = Duration::from_secs(2);
/// Rounds of asking under way at once, at most.
pub const MAX_ASKING: usize = 4;
/// Longest one round of asking takes.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the same refusal is logged at WARN (in between, at DEBUG).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Admits node-to-node callers and calls for one node.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    me: u64,
    network: Network,
    state: Arc<Mutex<State>>,
    warned: Arc<Throttle>,
}

#[derive(Debug, Default)]
struct State {
    /// Callers a member listed: id -> (address, until).
    vouched: HashMap<u64, (String, Instant)>,
    /// When each caller id was last asked about.
    asked: HashMap<u64, Instant>,
    asking: usize,
}

impl Gate {
    /// The gate of node `me`, which asks its members through `network`.
    pub(crate) fn new(me: u64, network: Network) -> Self {
        Self {
            me,
            network,
            state: Arc::default(),
            warned: Arc::new(Throttle::new(WARN_EVERY)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What this node knows now; `with_members` fills in its members (the
    /// term alone judges a call).
    fn view(&self, raft: &Raft, with_members: bool) -> View {
        let metrics = raft.metrics();
        let m = metrics.borrow_watched();
        let members = if with_members {
            m.membership_config
                .membership()
                .nodes()
                .map(|(id, node)| (*id, node.address.clone()))
                .collect()
        } else {
            Default::default()
        };
        View {
            me: self.me,
            members,
            term: m.current_term,
        }
    }

    fn vouched(&self, id: u64, address: &str) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        match state.vouched.get(&id) {
            Some((known, until)) if known == address && *until > now => true,
            Some(_) => {
                state.vouched.retain(|_, (_, until)| *until > now);
                false
            }
            None => false,
        }
    }

    /// Whether `hello`'s caller may talk to Raft here. A refusal is
    /// logged (naming the caller and the reason); a caller that is merely
    /// unknown makes this node ask its members about it.
    pub(crate) fn admit(&self, raft: &Raft, hello: &Hello, peer: &str) -> Result<(), Refusal> {
        let view = self.view(raft, true);
        let admitted = view.check_caller(hello, |id, address| self.vouched(id, address));
        if let Err(refusal) = &admitted {
            self.refused(peer, refusal);
            if let Refusal::NotMember { id, address } = refusal {
                self.ask_about(*id, address.clone(), &view);
            }
        }
        admitted
    }

    /// Logs the refusal of `hello`'s caller, whose certificate is not
    /// from the admin CA: at WARN once per peer host and claimed node in
    /// [`WARN_EVERY`] (a node retrying on new connections, from new
    /// ports, is logged once), else at DEBUG.
    pub(crate) fn refuse_not_admin(&self, hello: &Hello, peer: &str) {
        let refusal = Refusal::NotAdmin {
            id: hello.id,
            address: hello.address.clone(),
        };
        let host = peer.rsplit_once(':').map_or(peer, |(host, _)| host);
        if self.warned.warn_now(format!("{host} {refusal}")) {
            tracing::warn!(%peer, reason = %refusal, "refused a node-to-node connection");
        } else {
            tracing::debug!(%peer, reason = %refusal, "refused a node-to-node connection");
        }
    }

    /// Whether a call from the admitted caller `from` may reach Raft:
    /// the caller must still be a member (or vouched for, or this node
    /// in no cluster), and the call possible.
    pub(crate) fn check(
        &self,
        raft: &Raft,
        hello: &Hello,
        request: &PeerRequest,
        peer: &str,
    ) -> Result<(), Refusal> {
        let still = {
            let metrics = raft.metrics();
            let m = metrics.borrow_watched();
            let membership = m.membership_config.membership();
            membership.nodes().next().is_none()
                || membership
                    .get_node(&hello.id)
                    .is_some_and(|n| n.address == hello.address)
        };
        let checked = if still || self.vouched(hello.id, &hello.address) {
            self.view(raft, false).check_request(hello.id, request)
        } else {
            Err(Refusal::NotMember {
                id: hello.id,
                address: hello.address.clone(),
            })
        };
        if let Err(refusal) = &checked {
            self.refused(peer, refusal);
        }
        checked
    }

    /// Logs a refusal: at WARN the first time in [`WARN_EVERY`], else at
    /// DEBUG, so that a peer retrying many times a second does not flood
    /// the log.
    fn refused(&self, peer: &str, refusal: &Refusal) {
        if self.warned.warn_now(format!("{peer} {refusal}")) {
            tracing::warn!(%peer, reason = %refusal, "refused a node-to-node call");
        } else {
            tracing::debug!(%peer, reason = %refusal, "refused a node-to-node call");
        }
    }

    /// Starts a round of asking the members of `view` whether `id` at
    /// `address` is one of theirs, unless one ran lately or too many run.
    fn ask_about(&self, id: u64, address: String, view: &View) {
        let now = Instant::now();
        {
            let mut state = self.state();
            if state.asking >= MAX_ASKING
                || state
                    .asked
                    .get(&id)
                    .is_some_and(|at| now.duration_since(*at) < ASK_EVERY)
            {
                return;
            }
            trim(&mut state.asked, |at| *at);
            state.asked.insert(id, now);
            state.asking += 1;
        }
        let members: Vec<(u64, String)> = view
            .members
            .iter()
            .filter(|(m, _)| **m != self.me && **m != id)
            .map(|(m, a)| (*m, a.clone()))
            .collect();
        let gate = self.clone();
        tokio::spawn(async move {
            let found = tokio::time::timeout(
                ASK_TIMEOUT,
                gate.network.listed_by_any(&members, id, &address),
            )
            .await
            .unwrap_or(None);
            let mut state = gate.state();
            state.asking -= 1;
            if let Some(by) = found {
                tracing::info!(
                    id,
                    %address,
                    by,
                    "a member vouched for a node this one does not know yet"
                );
                trim(&mut state.vouched, |(_, until)| *until);
                state
                    .vouched
                    .insert(id, (address, Instant::now() + VOUCH_TTL));
            }
        });
    }
}
