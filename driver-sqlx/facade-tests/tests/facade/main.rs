//! sqlx-dqlite through the `sqlx` facade, as a user project uses it:
//! `sqlx::migrate!()`, `sqlx::any`, `sqlx::types::Json` and the derive
//! macros, against a `dqlite-server` process ([`DqliteServer`]).
//!
//! [`DqliteServer`]: sqlx_dqlite_facade_tests::DqliteServer

#![allow(clippy::unwrap_used)]

mod any;
mod migrate;
mod types;
