//! The node settings C callers make before `dqlite_node_start`, validated
//! as the C library validates them, and turned into a `NodeBuilder`.

use std::time::Duration;

use dqlite_server::NodeBuilder;

use crate::error::{ApiError, ApiResult};

/// Most network latency accepted, as in the C library: one hour.
const MAX_LATENCY_MS: u64 = 3_600_000;

/// Block sizes the C library accepts.
const BLOCK_SIZES: [usize; 10] = [
    512,
    1024,
    2 * 1024,
    4 * 1024,
    8 * 1024,
    16 * 1024,
    32 * 1024,
    64 * 1024,
    128 * 1024,
    256 * 1024,
];

/// `DQLITE_SNAPSHOT_TRAILING_STATIC` and `_DYNAMIC`.
const TRAILING_STRATEGIES: [i32; 2] = [0, 1];

/// Default role-management targets of the C library.
const DEFAULT_TARGET_VOTERS: usize = 3;
const DEFAULT_TARGET_STANDBYS: usize = 0;

/// Everything set on a node before it starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Expected round trip between nodes, if set.
    pub network_latency_ms: Option<u64>,
    /// Snapshot threshold and trailing entries, if set.
    pub snapshot: Option<(u64, u64)>,
    /// Recorded block size (no effect here).
    pub block_size: Option<usize>,
    /// Reported failure domain.
    pub failure_domain: u64,
    /// Busy timeout.
    pub busy_timeout: Duration,
    /// Role management on.
    pub manage_roles: bool,
    /// Role-management targets.
    pub target_voters: usize,
    /// Role-management targets.
    pub target_standbys: usize,
    /// Recorded, without effect (see `dqlite.h`).
    pub auto_recovery: bool,
    /// Recorded, without effect.
    pub snapshot_compression: bool,
    /// Recorded, without effect.
    pub pool_threads: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            network_latency_ms: None,
            snapshot: None,
            block_size: None,
            failure_domain: 0,
            busy_timeout: Duration::ZERO,
            manage_roles: false,
            target_voters: DEFAULT_TARGET_VOTERS,
            target_standbys: DEFAULT_TARGET_STANDBYS,
            auto_recovery: true,
            snapshot_compression: false,
            pool_threads: None,
        }
    }
}

impl Options {
    /// `dqlite_node_set_network_latency`: at most one hour, then as
    /// milliseconds (rounded down).
    pub fn set_network_latency_ns(&mut self, nanos: u64) -> ApiResult {
        if nanos > MAX_LATENCY_MS * 1_000_000 {
            return Err(ApiError::misuse("network latency must be at most one hour"));
        }
        self.set_network_latency_ms(nanos / 1_000_000)
    }

    /// `dqlite_node_set_network_latency_ms`: 1 ms to one hour.
    pub fn set_network_latency_ms(&mut self, ms: u64) -> ApiResult {
        if ms == 0 || ms > MAX_LATENCY_MS {
            return Err(ApiError::misuse(
                "network latency must be between 1 ms and one hour",
            ));
        }
        self.network_latency_ms = Some(ms);
        Ok(())
    }

    /// `dqlite_node_set_snapshot_params_v2`: trailing ≥ 4 and ≥ threshold,
    /// a known strategy.
    pub fn set_snapshot_params(
        &mut self,
        threshold: u32,
        trailing: u32,
        strategy: i32,
    ) -> ApiResult {
        if trailing < 4 {
            return Err(ApiError::misuse("snapshot trailing must be at least 4"));
        }
        if trailing < threshold {
            return Err(ApiError::misuse(
                "snapshot trailing must be at least the snapshot threshold",
            ));
        }
        if !TRAILING_STRATEGIES.contains(&strategy) {
            return Err(ApiError::misuse(format!(
                "unknown snapshot trailing strategy {strategy}"
            )));
        }
        self.snapshot = Some((u64::from(threshold), u64::from(trailing)));
        Ok(())
    }

    /// `dqlite_node_set_block_size`: one of the C library's sizes.
    pub fn set_block_size(&mut self, size: usize) -> ApiResult {
        if !BLOCK_SIZES.contains(&size) {
            return Err(ApiError::failed(format!(
                "block size {size} is not a power of two between 512 and 262144"
            )));
        }
        self.block_size = Some(size);
        Ok(())
    }

    /// Role-management target of voters (negative counts as 0).
    pub fn set_target_voters(&mut self, voters: i32) {
        self.target_voters = usize::try_from(voters).unwrap_or(0);
    }

    /// Role-management target of stand-bys (negative counts as 0).
    pub fn set_target_standbys(&mut self, standbys: i32) {
        self.target_standbys = usize::try_from(standbys).unwrap_or(0);
    }

    /// Heartbeat interval and election timeout range for the latency set,
    /// as the C library derives them: heartbeat 1.5x, election 15x (its
    /// randomized timeout runs up to twice that).
    pub fn raft_timing(&self) -> Option<(Duration, Duration, Duration)> {
        self.network_latency_ms.map(|ms| {
            let heartbeat = (ms * 15 / 10).max(1);
            let election = ms * 15;
            (
                Duration::from_millis(heartbeat),
                Duration::from_millis(election),
                Duration::from_millis(election * 2),
            )
        })
    }

    /// Applies the settings to a node being built.
    pub fn apply(&self, mut builder: NodeBuilder) -> NodeBuilder {
        if let Some((heartbeat, election_min, election_max)) = self.raft_timing() {
            builder = builder.raft_timing(heartbeat, election_min, election_max);
        }
        if let Some((threshold, trailing)) = self.snapshot {
            builder = builder
                .snapshot_every(threshold)
                .snapshot_trailing(trailing);
        }
        builder
            .failure_domain(self.failure_domain)
            .busy_timeout(self.busy_timeout)
            .manage_roles(self.manage_roles)
            .role_targets(self.target_voters, self.target_standbys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{DQLITE_ERROR, DQLITE_MISUSE};

    #[test]
    fn latency_bounds_match_the_c_library() {
        let mut o = Options::default();
        assert_eq!(
            o.set_network_latency_ms(0).unwrap_err().code(),
            DQLITE_MISUSE
        );
        assert_eq!(
            o.set_network_latency_ms(3_600_001).unwrap_err().code(),
            DQLITE_MISUSE
        );
        assert!(o.set_network_latency_ms(3_600_000).is_ok());
        // Below a millisecond rounds down to 0 ms, refused.
        assert_eq!(
            o.set_network_latency_ns(999_999).unwrap_err().code(),
            DQLITE_MISUSE
        );
        assert_eq!(
            o.set_network_latency_ns(3_600_000_000_001)
                .unwrap_err()
                .code(),
            DQLITE_MISUSE
        );
        o.set_network_latency_ns(20_000_000).unwrap();
        assert_eq!(
            o.raft_timing(),
            Some((
                Duration::from_millis(30),
                Duration::from_millis(300),
                Duration::from_millis(600)
            ))
        );
    }

    #[test]
    fn snapshot_params_match_the_c_library() {
        let mut o = Options::default();
        assert_eq!(
            o.set_snapshot_params(1, 3, 0).unwrap_err().code(),
            DQLITE_MISUSE
        );
        assert_eq!(
            o.set_snapshot_params(10, 9, 0).unwrap_err().code(),
            DQLITE_MISUSE
        );
        assert_eq!(
            o.set_snapshot_params(4, 4, 2).unwrap_err().code(),
            DQLITE_MISUSE
        );
        o.set_snapshot_params(1024, 1024, 1).unwrap();
        assert_eq!(o.snapshot, Some((1024, 1024)));
    }

    #[test]
    fn block_sizes_match_the_c_library() {
        let mut o = Options::default();
        for size in BLOCK_SIZES {
            o.set_block_size(size).unwrap();
        }
        for size in [0, 256, 3000, 512 * 1024] {
            assert_eq!(o.set_block_size(size).unwrap_err().code(), DQLITE_ERROR);
        }
    }
}
