//! Logging refusals of peers without flooding the log: the first refusal
//! of a kind (a peer and a reason) is logged at WARN, repeats within a
//! period at DEBUG. Used by the admission gate of node-to-node calls
//! (`raft/gate.rs`) and by the TLS handshake of every connection
//! (`net/`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept in a table before old ones are dropped.
pub(crate) const TABLE_LIMIT: usize = 1024;

/// Drops the oldest half of `table` once it holds [`TABLE_LIMIT`] entries.
pub(crate) fn trim<K: Eq + std::hash::Hash, V>(
    table: &mut HashMap<K, V>,
    at: impl Fn(&V) -> Instant,
) {
    if table.len() < TABLE_LIMIT {
        return;
    }
    let mut times: Vec<Instant> = table.values().map(&at).collect();
    times.sort_unstable();
    let cut = times[times.len() / 2];
    table.retain(|_, v| at(v) > cut);
}

/// When each kind of refusal was last logged at WARN.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: Duration,
    warned: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    /// A throttle that lets the same key through once per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            warned: Mutex::default(),
        }
    }

    /// Whether a refusal of kind `key` is to be logged at WARN now (else
    /// at DEBUG); records it if so.
    pub(crate) fn warn_now(&self, key: String) -> bool {
        let now = Instant::now();
        let mut warned = self
            .warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        trim(&mut warned, |at| *at);
        match warned.get(&key) {
            Some(at) if now.duration_since(*at) < self.every => false,
            _ => {
                warned.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_refusal_warns_once_per_period() {
        let throttle = Throttle::new(Duration::from_secs(60));
        assert!(throttle.warn_now("a".into()));
        assert!(!throttle.warn_now("a".into()));
        assert!(throttle.warn_now("b".into()));
        let fast = Throttle::new(Duration::ZERO);
        assert!(fast.warn_now("a".into()));
        assert!(fast.warn_now("a".into()));
    }
}
