//! go-dqlite v3 over mutual TLS against our nodes: one Rust test per Go
//! TLS scenario in `compat-tests/go/tls_test.go`. Each starts three
//! `dqlite-compat-node` processes (this crate's binary: the server
//! library, with `dqlite-server`'s `--tls-cert`/`--tls-key`) sharing one
//! cluster certificate made by `openssl req -x509` as the README's
//! "Secure cluster" section says, and runs the Go test against them. The
//! Go test dials with `client.DialFuncWithTLS` (the client package and the
//! `database/sql` driver's `WithDialFunc`), checks that clients without
//! the certificate get nothing, and asks the harness to kill the leader
//! (SIGKILL, by this process, which started it); its writes must then
//! succeed on a new leader, and every acknowledged row be there.
//!
//! Knobs (environment variables; details in the crate documentation):
//!
//! - `CI` (default unset): a missing Go toolchain or `openssl` fails
//!   instead of skipping.
//! - `DQLITE_COMPAT_GO` (default `go` on `PATH`): the Go toolchain.
//! - `DQLITE_COMPAT_OPENSSL` (default `/usr/bin/openssl`).
//! - `DQLITE_COMPAT_BUILD_TIMEOUT_SECS` (default 600): limit for the build.
//! - `DQLITE_COMPAT_TIMEOUT_SECS` (default 120): limit for the Go test.
//! - `DQLITE_COMPAT_LOG` (default `info`): `RUST_LOG` of the node
//!   processes, whose logs are kept when the test fails.

#![allow(clippy::unwrap_used)]

/// `rust_name => "GoTestName"`: one `#[test]` per TLS scenario, and the
/// list of them in `TLS_GO_TESTS`.
macro_rules! tls_tests {
    ($($test:ident => $go:literal,)*) => {
        $(
            #[test]
            fn $test() {
                dqlite_compat_tests::tls::run_go_tls_test(
                    env!("CARGO_TARGET_TMPDIR"),
                    $go,
                    env!("CARGO_BIN_EXE_dqlite-compat-node"),
                );
            }
        )*
        const TLS_GO_TESTS: &[&str] = &[$($go),*];
    };
}

tls_tests! {
    v3_tls_cluster_failover => "TestV3TLSClusterFailover",
}

/// Every TLS scenario in the Go tests has its line above, and every line
/// names one (`tests/go.rs`, `tests/cluster.rs` and
/// `tests/linearizability.rs` check the others).
#[test]
fn every_tls_go_test_has_a_rust_test() {
    let Some(listed) = dqlite_compat_tests::listed_go_tests(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    let listed: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|name| dqlite_compat_tests::is_tls_go_test(name))
        .collect();
    let mut ours = TLS_GO_TESTS.to_vec();
    ours.sort_unstable();
    assert_eq!(
        listed, ours,
        "tests/go_tls.rs must list exactly the Go TLS tests"
    );
}
