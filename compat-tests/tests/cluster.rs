//! One Rust test per cluster scenario in `compat-tests/go/cluster_test.go`:
//! each starts a fresh cluster of our nodes in-process (three members on
//! `127.0.0.1:0`, plus a fourth node that is not a member for the
//! membership scenarios), runs the one Go test against it with
//! `DQLITE_CLUSTER` (and `DQLITE_NEW_NODE`) set, serves the steps the Go
//! test asks of the harness (stopping the leader, comparing the nodes'
//! databases), and fails with the Go output if the Go test fails. The Go
//! tests are built once per run of this binary.
//!
//! Knobs (environment variables; details in the crate documentation):
//!
//! - `CI` (default unset): a missing Go toolchain fails instead of skipping.
//! - `DQLITE_COMPAT_GO` (default `go` on `PATH`): the Go toolchain.
//! - `DQLITE_COMPAT_BUILD_TIMEOUT_SECS` (default 600): limit for the build.
//! - `DQLITE_COMPAT_TIMEOUT_SECS` (default 120): limit for one Go test.
//! - `DQLITE_COMPAT_KNOWN_BUGS` (default unset): run the Go tests marked
//!   `SERVER BUG` instead of skipping them.
//! - `DQLITE_COMPAT_LOG` (default unset): `tracing` filter for server logs.
//!
//! `DQLITE_COMPAT_ADDRESS` does not apply: these tests always start our
//! nodes.

#![allow(clippy::unwrap_used)]

/// `rust_name => "GoTestName" (members, other nodes)`: one `#[test]` per
/// cluster scenario, and the list of them in `CLUSTER_GO_TESTS`.
macro_rules! cluster_tests {
    ($($test:ident => $go:literal ($joined:literal, $extra:literal),)*) => {
        $(
            #[test]
            fn $test() {
                dqlite_compat_tests::run_go_cluster_test(
                    env!("CARGO_TARGET_TMPDIR"),
                    $go,
                    $joined,
                    $extra,
                );
            }
        )*
        const CLUSTER_GO_TESTS: &[&str] = &[$($go),*];
    };
}

cluster_tests! {
    v1_cluster_client => "TestV1ClusterClient" (3, 0),
    v3_cluster_client => "TestV3ClusterClient" (3, 0),
    v1_cluster_sql => "TestV1ClusterSQL" (3, 0),
    v3_cluster_sql => "TestV3ClusterSQL" (3, 0),
    v1_cluster_failover => "TestV1ClusterFailover" (3, 0),
    v3_cluster_failover => "TestV3ClusterFailover" (3, 0),
    v1_cluster_membership => "TestV1ClusterMembership" (3, 1),
    v3_cluster_membership => "TestV3ClusterMembership" (3, 1),
}

/// Every cluster scenario in the Go tests has its line above, and every
/// line names one (`tests/go.rs` checks the other Go tests).
#[test]
fn every_cluster_go_test_has_a_rust_test() {
    let Some(listed) = dqlite_compat_tests::listed_go_tests(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    let listed: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|name| dqlite_compat_tests::is_cluster_go_test(name))
        .collect();
    let mut ours = CLUSTER_GO_TESTS.to_vec();
    ours.sort_unstable();
    assert_eq!(
        listed, ours,
        "tests/cluster.rs must list exactly the Go cluster tests"
    );
}
