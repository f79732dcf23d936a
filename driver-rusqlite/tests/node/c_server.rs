//! The scenarios against the C server (libdqlite 1.11.1 in Debian's
//! `dqlite-demo`); skipped with a notice when it is not installed.

use crate::common::CServer;
use crate::scenarios;

fn run(prefix: &str, scenario: fn(&str) -> dqlite_rusqlite::Result<()>) {
    let Some(mut server) = CServer::start() else {
        return;
    };
    scenario(&server.url(prefix)).unwrap();
    assert!(server.is_running(), "the C server died");
}

#[test]
fn c_server_execute_and_counters() {
    run("exec", scenarios::execute_and_counters);
}

#[test]
fn c_server_parameters() {
    run("params", scenarios::parameters);
}

#[test]
fn c_server_prepared_statements() {
    run("prepared", scenarios::prepared_statements);
}

#[test]
fn c_server_streaming() {
    run("stream", scenarios::streaming);
}

#[test]
fn c_server_transactions() {
    run("tx", scenarios::transactions);
}

#[test]
fn c_server_values_nulls_blobs() {
    run("values", scenarios::values_nulls_blobs);
}

#[cfg(feature = "chrono")]
#[test]
fn c_server_dates() {
    run("dates", scenarios::dates);
}
