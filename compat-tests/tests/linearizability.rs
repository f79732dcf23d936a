//! Linearizability under faults: the Go scenario
//! `TestV3LinearizableUnderFaults` (`go/linearizability_test.go`) runs six
//! go-dqlite v3 clients doing reads, writes and compare-and-set on a few
//! keys while it asks the harness for faults: SIGKILL of the leader, of a
//! follower, of two nodes in a row (each started again from its
//! directory), and the leader cut off from the other nodes. The history is
//! then checked with porcupine (a failed write counts as possibly
//! applied, at any time after it was sent; a failed read is dropped), and
//! the nodes' copies of the database compared.
//!
//! The nodes are `dqlite-compat-node` processes (this crate's binary: the
//! server library with separate listen and advertised addresses), each
//! behind a proxy in this process that can refuse the other nodes' links;
//! see [`dqlite_compat_tests::FaultCluster`].
//!
//! Knobs (environment variables; details in the crate documentation):
//!
//! - `CI` (default unset): a missing Go toolchain fails instead of skipping.
//! - `DQLITE_COMPAT_GO` (default `go` on `PATH`): the Go toolchain.
//! - `DQLITE_COMPAT_BUILD_TIMEOUT_SECS` (default 600): limit for the build.
//! - `DQLITE_COMPAT_TIMEOUT_SECS` (default 120): limit for the Go test.
//! - `DQLITE_COMPAT_LOG` (default `info`): `RUST_LOG` of the node
//!   processes, whose logs are kept with the report of a failed run.
//!
//! `DQLITE_COMPAT_ADDRESS` does not apply: this test always starts its own
//! nodes.

#![allow(clippy::unwrap_used)]

/// `rust_name => "GoTestName"`: one `#[test]` per fault scenario, and the
/// list of them in `FAULT_GO_TESTS`.
macro_rules! fault_tests {
    ($($test:ident => $go:literal,)*) => {
        $(
            #[test]
            fn $test() {
                dqlite_compat_tests::run_go_fault_test(
                    env!("CARGO_TARGET_TMPDIR"),
                    $go,
                    env!("CARGO_BIN_EXE_dqlite-compat-node"),
                );
            }
        )*
        const FAULT_GO_TESTS: &[&str] = &[$($go),*];
    };
}

fault_tests! {
    v3_linearizable_under_faults => "TestV3LinearizableUnderFaults",
}

/// Every fault scenario in the Go tests has its line above, and every line
/// names one (`tests/go.rs` and `tests/cluster.rs` check the others).
#[test]
fn every_fault_go_test_has_a_rust_test() {
    let Some(listed) = dqlite_compat_tests::listed_go_tests(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    let listed: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|name| dqlite_compat_tests::is_fault_go_test(name))
        .collect();
    let mut ours = FAULT_GO_TESTS.to_vec();
    ours.sort_unstable();
    assert_eq!(
        listed, ours,
        "tests/linearizability.rs must list exactly the Go fault tests"
    );
}
