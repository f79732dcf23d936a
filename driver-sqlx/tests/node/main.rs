//! The driver against an in-process `dqlite-server` node (and, in
//! `c_server`, against the C server): connections, types, transactions,
//! errors, pools, migrations and the `Any` driver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../util/mod.rs"]
mod util;

mod any;
mod c_server;
mod connection;
mod errors;
mod migrate;
mod pool;
mod transaction;
mod types;
