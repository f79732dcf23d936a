//! On the leader, progress of peers that lag far behind (a node back from
//! a long outage, a new node after its snapshot): a `catching up a peer`
//! line at most every [progress interval](crate::progress) while such a
//! peer's matched index advances, and `peer caught up` once it is close
//! to the leader's log again.
//!
//! Read from Raft's replication metrics: a peer lags by the entries
//! between its matched index and the leader's last log index. Once it
//! lags by more than [`LAGGING`] entries it is followed, and its catch-up
//! begins when its matched index moves (so that time spent down, which
//! the network layer reports, does not count: the rate is the catch-up's
//! own). It ends when the peer lags by at most [`CAUGHT_UP`] entries
//! (`peer caught up`, fields `peer`, `entries`: replicated during the
//! catch-up, `duration_ms`), or silently when the peer stops moving for
//! [`STALLED`], leaves the configuration, or this node stops leading.
//! Progress lines count `entries`: `done` replicated since the catch-up
//! began, `total` that plus the current lag.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;

use crate::progress::{self, Progress, Unit, log_progress};
use crate::raft::instance::Raft;

/// Entries of lag beyond which a peer's catch-up is reported.
pub(crate) const LAGGING: u64 = 1000;

/// Entries of lag at which a peer counts as caught up again.
pub(crate) const CAUGHT_UP: u64 = 64;

/// A catch-up whose peer's matched index has not moved for this long is
/// dropped without a line (the peer went away, or takes a snapshot,
/// whose transfer reports itself).
const STALLED: Duration = Duration::from_secs(30);

/// Longest time between two looks at the metrics.
const MAX_ROUND: Duration = Duration::from_secs(1);

/// Shortest time between two looks at the metrics.
const MIN_ROUND: Duration = Duration::from_millis(10);

/// A peer that lags by more than [`LAGGING`] entries.
#[derive(Debug)]
struct CatchUp {
    /// The peer's matched index when its catch-up began (when it first
    /// moved while lagging).
    from: u64,
    /// The peer's matched index at the last look, and when it last moved
    /// (or was first seen lagging).
    matched: u64,
    moved: Instant,
    /// When the last look was.
    seen: Instant,
    /// The catch-up under way: when it began and its progress; `None`
    /// while the peer has not moved (it may be down).
    running: Option<(Instant, Progress)>,
}

/// The lagging peers.
#[derive(Debug, Default)]
struct Tracker {
    peers: HashMap<u64, CatchUp>,
}

impl Tracker {
    /// Takes one look at `now`: `replication` holds each peer's matched
    /// index (this node's own excluded), `last_log` the leader's last
    /// index.
    fn look(&mut self, last_log: u64, replication: &[(u64, u64)], now: Instant) {
        self.peers
            .retain(|peer, _| replication.iter().any(|(p, _)| p == peer));
        for &(peer, matched) in replication {
            let lag = last_log.saturating_sub(matched);
            let Some(c) = self.peers.get_mut(&peer) else {
                if lag > LAGGING {
                    self.peers.insert(
                        peer,
                        CatchUp {
                            from: matched,
                            matched,
                            moved: now,
                            seen: now,
                            running: None,
                        },
                    );
                }
                continue;
            };
            if matched < c.from {
                // The peer's log was cut back (a new leader's conflicts):
                // count from here.
                c.from = matched;
            }
            let seen = std::mem::replace(&mut c.seen, now);
            if matched == c.matched {
                if now.saturating_duration_since(c.moved) >= STALLED {
                    self.peers.remove(&peer);
                }
                continue;
            }
            // It moves: its catch-up began after the last look.
            let (began, progress) = c
                .running
                .get_or_insert_with(|| (seen, Progress::since(Unit::Entries, lag, seen)));
            let done = matched - c.from;
            if lag <= CAUGHT_UP {
                tracing::info!(
                    peer,
                    entries = done,
                    duration_ms = u64::try_from(now.saturating_duration_since(*began).as_millis())
                        .unwrap_or(u64::MAX),
                    "peer caught up"
                );
                self.peers.remove(&peer);
                continue;
            }
            progress.set_total(done + lag);
            if let Some(report) = progress.step(done) {
                log_progress!(report, "catching up a peer", peer);
            }
            c.matched = matched;
            c.moved = now;
        }
    }
}

/// Reports lagging peers' catch-up while this node leads, until Raft
/// stops.
pub(crate) async fn watch(raft: Raft, me: u64) {
    let round = progress::interval().clamp(MIN_ROUND, MAX_ROUND);
    let mut metrics = raft.metrics();
    let mut tracker = Tracker::default();
    loop {
        // At most one look per round, and none while nothing changes.
        tokio::time::sleep(round).await;
        if metrics.changed().await.is_err() {
            return;
        }
        // Copy what is needed at once: holding the borrow can block Raft.
        let (last_log, replication) = {
            let m = metrics.borrow_watched();
            let replication: Option<Vec<(u64, u64)>> = m.replication.as_ref().map(|r| {
                r.iter()
                    .filter(|(peer, _)| **peer != me)
                    .map(|(peer, matched)| (*peer, matched.map_or(0, |l| l.index)))
                    .collect()
            });
            (m.last_log_index.unwrap_or(0), replication)
        };
        match replication {
            Some(replication) => tracker.look(last_log, &replication, Instant::now()),
            // Not the leader (any more): nothing to follow.
            None => tracker.peers.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_peer_is_followed_from_its_first_move_until_it_catches_up() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut t = Tracker::default();
        // Close behind: nothing to follow. Far behind: followed, not
        // running while it does not move (down, say).
        t.look(5000, &[(2, 4990), (3, 100)], at(0));
        assert!(!t.peers.contains_key(&2));
        assert_eq!(t.peers[&3].from, 100);
        t.look(5000, &[(2, 5000), (3, 100)], at(20));
        assert!(t.peers[&3].running.is_none());
        // It moves: its catch-up began after the last look, not when it
        // fell behind.
        t.look(5100, &[(2, 5100), (3, 2100)], at(21));
        assert_eq!(t.peers[&3].matched, 2100);
        assert_eq!(t.peers[&3].running.as_ref().map(|r| r.0), Some(at(20)));
        // A leader whose log was cut back below where it began.
        t.look(5100, &[(2, 5100), (3, 50)], at(22));
        assert_eq!(t.peers[&3].from, 50);
        // Close enough: done with it.
        t.look(5200, &[(2, 5200), (3, 5150)], at(23));
        assert!(t.peers.is_empty());
    }

    #[test]
    fn a_stalled_or_removed_peer_is_dropped() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        t.look(5000, &[(2, 0), (3, 0)], t0);
        assert_eq!(t.peers.len(), 2);
        // Peer 3 leaves the configuration.
        t.look(5000, &[(2, 0)], t0 + Duration::from_secs(1));
        assert_eq!(t.peers.len(), 1);
        // Peer 2 does not move.
        t.look(5000, &[(2, 0)], t0 + STALLED);
        assert!(t.peers.is_empty());
    }
}
