//! When to take a snapshot (a durable point, which compacts the log): by
//! count and by size.
//!
//! A snapshot syncs the databases' files (which the disk thread already
//! wrote) and records the point; it no longer writes databases whole, so
//! its cost does not grow with their size. One is taken once either
//! `snapshot_every` entries were applied since the last one (dqlite's
//! threshold) or the log since holds `snapshot_bytes` bytes of frames
//! (default [`DEFAULT_SNAPSHOT_BYTES`]: a few huge transactions do not
//! wait for the count, and the log stays small next to the databases).
//!
//! After a snapshot the log keeps up to [`DEFAULT_SNAPSHOT_TRAILING`]
//! entries behind it (dqlite's trailing, `max_in_snapshot_log_to_keep`),
//! so that a follower a little behind catches up from the log instead of
//! being sent every database; but no more than
//! [`DEFAULT_SNAPSHOT_TRAILING_BYTES`] of frames: past that the policy
//! purges the oldest of them, so the log stays small next to the data.

use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use crate::raft::instance::Raft;
use crate::raft::state_machine::SnapshotGauge;

/// Default bytes of frames logged since the last snapshot after which the
/// entry count no longer matters (64 MiB; see
/// [`NodeBuilder::snapshot_bytes`](crate::NodeBuilder::snapshot_bytes)).
pub const DEFAULT_SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;

/// Default log entries kept behind a snapshot (dqlite's default; see
/// [`NodeBuilder::snapshot_trailing`](crate::NodeBuilder::snapshot_trailing)).
pub const DEFAULT_SNAPSHOT_TRAILING: u64 = 8192;

/// Default bound of the frame bytes those entries hold (64 MiB; see
/// [`NodeBuilder::snapshot_trailing_bytes`](crate::NodeBuilder::snapshot_trailing_bytes)).
pub const DEFAULT_SNAPSHOT_TRAILING_BYTES: u64 = 64 * 1024 * 1024;

/// The two thresholds of the policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    /// Entries applied since the last snapshot (`--snapshot-every`).
    pub(crate) entries: u64,
    /// Frame bytes logged since the last snapshot (`--snapshot-bytes`).
    pub(crate) bytes: u64,
    /// Frame bytes of the entries kept behind the last snapshot
    /// (`--snapshot-trailing-bytes`).
    pub(crate) trailing_bytes: u64,
}

/// How often the policy looks.
const ROUND: Duration = Duration::from_millis(100);

/// Whether a snapshot is due, given the entries and frame bytes applied
/// since the last one.
pub(crate) fn due(entries: u64, changed: u64, at: Thresholds) -> bool {
    entries >= at.entries || changed >= at.bytes
}

/// Asks Raft for a snapshot whenever [`due`], and for a purge of the
/// log kept behind it once that holds more than its bytes, until Raft
/// stops.
pub(crate) async fn run(raft: Raft, gauge: Arc<SnapshotGauge>, at: Thresholds) {
    let mut purge_asked = 0;
    loop {
        tokio::time::sleep(ROUND).await;
        let (entries, snapshot, purged) = {
            let metrics = raft.metrics();
            let m = metrics.borrow_watched();
            let applied = m.last_applied.map_or(0, |l| l.index + 1);
            let snapshot = m.snapshot.map(|l| l.index);
            let entries = applied.saturating_sub(snapshot.map_or(0, |i| i + 1));
            (entries, snapshot, m.purged.map_or(0, |l| l.index))
        };
        let purge = snapshot
            .and_then(|snapshot| gauge.purge_upto(purged, snapshot, at.trailing_bytes))
            .filter(|&upto| upto > purge_asked);
        let asked = match purge {
            Some(upto) => {
                purge_asked = upto;
                raft.trigger().purge_log(upto).await
            }
            None if due(entries, gauge.changed(), at) => raft.trigger().snapshot().await,
            None => Ok(()),
        };
        if let Err(e) = asked {
            tracing::debug!(error = %e, "snapshot policy stops");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_come_after_the_count_or_the_bytes_whatever_the_database_size() {
        let at = Thresholds {
            entries: 1024,
            bytes: DEFAULT_SNAPSHOT_BYTES,
            trailing_bytes: DEFAULT_SNAPSHOT_TRAILING_BYTES,
        };
        assert!(!due(1023, 10, at));
        assert!(due(1024, 10, at));
        // Huge transactions do not wait for the count.
        assert!(!due(3, DEFAULT_SNAPSHOT_BYTES - 1, at));
        assert!(due(3, DEFAULT_SNAPSHOT_BYTES, at));
        let small = Thresholds {
            entries: 1024,
            bytes: 1 << 20,
            trailing_bytes: 0,
        };
        assert!(due(3, 1 << 20, small));
    }
}
