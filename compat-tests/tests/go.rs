//! One Rust test per Go scenario in `compat-tests/go/`: each starts our
//! server in-process on `127.0.0.1:0` (fresh data directory), runs the one
//! Go test `<binary> -test.run '^Name$' -test.v` against it with
//! `DQLITE_ADDRESS` set, and fails with the Go output if the Go test fails.
//! The Go tests are built once per run of this binary. The cluster
//! scenarios (`TestV1Cluster…`, `TestV3Cluster…`) run in `tests/cluster.rs`.
//!
//! Knobs (environment variables; details in the crate documentation):
//!
//! - `CI` (default unset): a missing Go toolchain fails instead of skipping.
//! - `DQLITE_COMPAT_GO` (default `go` on `PATH`): the Go toolchain.
//! - `DQLITE_COMPAT_BUILD_TIMEOUT_SECS` (default 600): limit for the build.
//! - `DQLITE_COMPAT_TIMEOUT_SECS` (default 120): limit for one Go test.
//! - `DQLITE_COMPAT_ADDRESS` (default unset): use this running node instead
//!   of starting one per test.
//! - `DQLITE_COMPAT_NODE_ID` (default 1): with `DQLITE_COMPAT_ADDRESS`, that
//!   node's id.
//! - `DQLITE_COMPAT_KNOWN_BUGS` (default unset): run the Go tests marked
//!   `SERVER BUG` instead of skipping them.
//! - `DQLITE_COMPAT_LOG` (default unset): `tracing` filter for server logs.

#![allow(clippy::unwrap_used)]

/// `rust_name => "GoTestName"`: one `#[test]` per Go test, and the list
/// of them in `GO_TESTS`.
macro_rules! go_tests {
    ($($test:ident => $go:literal,)*) => {
        $(
            #[test]
            fn $test() {
                dqlite_compat_tests::run_go_test(env!("CARGO_TARGET_TMPDIR"), $go);
            }
        )*
        const GO_TESTS: &[&str] = &[$($go),*];
    };
}

go_tests! {
    v1_types => "TestV1Types",
    v3_types => "TestV3Types",
    v1_large_result => "TestV1LargeResult",
    v3_large_result => "TestV3LargeResult",
    v1_early_close => "TestV1EarlyClose",
    v3_early_close => "TestV3EarlyClose",
    v1_blob => "TestV1Blob",
    v3_blob => "TestV3Blob",
    v1_prepared => "TestV1Prepared",
    v3_prepared => "TestV3Prepared",
    v1_transactions => "TestV1Transactions",
    v3_transactions => "TestV3Transactions",
    v1_errors => "TestV1Errors",
    v3_errors => "TestV3Errors",
    v1_many_params => "TestV1ManyParams",
    v3_many_params => "TestV3ManyParams",
    v1_concurrent => "TestV1Concurrent",
    v3_concurrent => "TestV3Concurrent",
    v1_concurrent_readers => "TestV1ConcurrentReaders",
    v3_concurrent_readers => "TestV3ConcurrentReaders",
    v1_client => "TestV1Client",
    v3_client => "TestV3Client",
}

/// Every Go test has its line above, and every line names a Go test; the
/// cluster scenarios (`TestV1Cluster…`, `TestV3Cluster…`) are the business
/// of `tests/cluster.rs` instead, and the fault scenarios
/// (`TestV3Linearizable…`) of `tests/linearizability.rs`, and the TLS
/// scenarios (`TestV3TLS…`) of `tests/go_tls.rs`, which check their own
/// lists.
#[test]
fn every_go_test_has_a_rust_test() {
    let Some(listed) = dqlite_compat_tests::listed_go_tests(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    let listed: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|name| {
            !dqlite_compat_tests::is_cluster_go_test(name)
                && !dqlite_compat_tests::is_fault_go_test(name)
                && !dqlite_compat_tests::is_tls_go_test(name)
        })
        .collect();
    let mut ours = GO_TESTS.to_vec();
    ours.sort_unstable();
    assert_eq!(
        listed, ours,
        "tests/go.rs must list exactly the Go tests (other than the cluster ones)"
    );
}
