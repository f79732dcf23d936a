//! [`Requests`]: client requests counted by type and outcome, and their
//! latency by type.
//!
//! Each (type, outcome) counter and each type's histogram is created in
//! its family the first time it is used (one lock and one allocation per
//! series, once per node); after that, [`Requests::record`] finds it in a
//! fixed array and adds to atomics: no lock, no allocation.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::histogram::{Histogram, REQUEST_BUCKETS};

/// Names of the request types, by wire code (spec §4); the last entry
/// names every code the protocol does not define.
const TYPES: [&str; 21] = [
    "leader",
    "client",
    "heartbeat",
    "open",
    "prepare",
    "exec",
    "query",
    "finalize",
    "exec_sql",
    "query_sql",
    "interrupt",
    "connect",
    "add",
    "assign",
    "remove",
    "dump",
    "cluster",
    "transfer",
    "describe",
    "weight",
    "unknown",
];

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered with anything but FAILURE.
    Ok,
    /// Answered FAILURE "not leader" (the client should ask the leader).
    NotLeader,
    /// Answered with another FAILURE, or the connection was closed.
    Error,
}

impl Outcome {
    const COUNT: usize = 3;

    fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotLeader => "not_leader",
            Outcome::Error => "error",
        }
    }

    fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            Outcome::NotLeader => 1,
            Outcome::Error => 2,
        }
    }

    #[cfg(test)]
    const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::NotLeader, Outcome::Error];
}

type TypeOutcome = [(&'static str, &'static str); 2];
type TypeOnly = [(&'static str, &'static str); 1];

/// Request counters and latency histograms.
#[derive(Debug)]
pub(crate) struct Requests {
    counts: Family<TypeOutcome, Counter>,
    durations: Family<TypeOnly, Histogram, fn() -> Histogram>,
    counters: [[OnceLock<Counter>; Outcome::COUNT]; TYPES.len()],
    histograms: [OnceLock<Histogram>; TYPES.len()],
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            counts: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS)),
            counters: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            histograms: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

impl Requests {
    /// Registers `requests_total` and `request_duration_seconds`.
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Client requests answered, by type and outcome",
            self.counts.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request read to its answer written, by type",
            self.durations.clone(),
        );
    }

    /// Counts one request of wire type `kind` that ended with `outcome`
    /// after `elapsed`.
    pub(crate) fn record(&self, kind: u8, outcome: Outcome, elapsed: Duration) {
        let kind = usize::from(kind).min(TYPES.len() - 1);
        self.counter(kind, outcome).inc();
        self.histograms[kind]
            .get_or_init(|| {
                self.durations
                    .get_or_create(&[("type", TYPES[kind])])
                    .clone()
            })
            .observe(elapsed);
    }

    fn counter(&self, kind: usize, outcome: Outcome) -> &Counter {
        self.counters[kind][outcome.index()].get_or_init(|| {
            self.counts
                .get_or_create(&[("type", TYPES[kind]), ("outcome", outcome.name())])
                .clone()
        })
    }

    /// Requests of wire type `kind` counted so far, all outcomes.
    #[cfg(test)]
    pub(crate) fn count(&self, kind: u8) -> u64 {
        let kind = usize::from(kind).min(TYPES.len() - 1);
        Outcome::ALL
            .iter()
            .map(|o| self.counter(kind, *o).get())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_type_and_outcome() {
        let requests = Requests::default();
        requests.record(8, Outcome::Ok, Duration::from_micros(30));
        requests.record(8, Outcome::NotLeader, Duration::from_micros(30));
        requests.record(200, Outcome::Error, Duration::from_micros(30));
        assert_eq!(requests.count(8), 2);
        assert_eq!(requests.count(250), 1);
        assert_eq!(requests.count(9), 0);
        assert_eq!(requests.histograms[8].get().unwrap().count(), 2);
    }
}
