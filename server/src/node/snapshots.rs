//! When to take a snapshot (and compact the log): by count and by size.
//!
//! openraft's own policy counts entries only. A snapshot writes every
//! database whole, so with a large database and small writes a count alone
//! makes snapshots cost far more than the writes they cover (and, in the C
//! server, stall writes). Here a snapshot is taken once
//!
//! - the frames applied since the last snapshot (as logged: pages whole or
//!   as changes) add up to at least the size of that snapshot (so snapshot writes never exceed log writes, and the
//!   disk holds at most about twice the databases plus one log segment), and
//! - either `snapshot_every` entries were applied since (dqlite's
//!   threshold), or the log since holds `snapshot_bytes` bytes of frames
//!   (default [`DEFAULT_SNAPSHOT_BYTES`]: a few huge transactions do not
//!   wait for the count).

use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use crate::raft::instance::Raft;
use crate::raft::state_machine::SnapshotGauge;

/// Default bytes of frames logged since the last snapshot after which the
/// entry count no longer matters (64 MiB; see
/// [`NodeBuilder::snapshot_bytes`](crate::NodeBuilder::snapshot_bytes)).
pub const DEFAULT_SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;

/// The two thresholds of the policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    /// Entries applied since the last snapshot (`--snapshot-every`).
    pub(crate) entries: u64,
    /// Frame bytes logged since the last snapshot (`--snapshot-bytes`).
    pub(crate) bytes: u64,
}

/// How often the policy looks.
const ROUND: Duration = Duration::from_millis(100);

/// Whether a snapshot is due, given the entries and frame bytes applied
/// since the last one and its size.
pub(crate) fn due(entries: u64, changed: u64, last_size: u64, at: Thresholds) -> bool {
    changed >= last_size && (entries >= at.entries || changed >= at.bytes)
}

/// Asks Raft for a snapshot whenever [`due`], until Raft stops.
pub(crate) async fn run(raft: Raft, gauge: Arc<SnapshotGauge>, at: Thresholds) {
    loop {
        tokio::time::sleep(ROUND).await;
        let entries = {
            let metrics = raft.metrics();
            let m = metrics.borrow_watched();
            let applied = m.last_applied.map_or(0, |l| l.index + 1);
            let snapshot = m.snapshot.map_or(0, |l| l.index + 1);
            applied.saturating_sub(snapshot)
        };
        if due(entries, gauge.changed(), gauge.size(), at)
            && let Err(e) = raft.trigger().snapshot().await
        {
            tracing::debug!(error = %e, "snapshot policy stops");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_wait_for_the_count_and_for_as_many_bytes_as_the_last() {
        let at = Thresholds {
            entries: 1024,
            bytes: DEFAULT_SNAPSHOT_BYTES,
        };
        // The first snapshot comes after `every` entries.
        assert!(!due(1023, 10, 0, at));
        assert!(due(1024, 10, 0, at));
        // A large database waits until as much changed as it holds.
        assert!(!due(5000, 1 << 20, 10 << 20, at));
        assert!(due(5000, 10 << 20, 10 << 20, at));
        // Huge transactions do not wait for the count.
        assert!(!due(3, DEFAULT_SNAPSHOT_BYTES - 1, 1 << 20, at));
        assert!(due(3, DEFAULT_SNAPSHOT_BYTES, 1 << 20, at));
        // A smaller byte threshold comes sooner, but never before as many
        // bytes as the last snapshot held.
        let small = Thresholds {
            entries: 1024,
            bytes: 1 << 20,
        };
        assert!(due(3, 1 << 20, 0, small));
        assert!(!due(3, 1 << 20, 4 << 20, small));
    }
}
