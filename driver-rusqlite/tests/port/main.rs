//! rusqlite usage, ported: `body.rs` is written for rusqlite and compiled
//! twice, once with `use rusqlite::…` against an in-memory SQLite database
//! and once with `use dqlite_rusqlite::…` against a dqlite node. The two
//! modules below differ only in their import lines and in how they open
//! the database, which is all a port has to change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

/// The reference: the same code on rusqlite itself.
mod with_rusqlite {
    use rusqlite::types::{
        FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef,
    };
    use rusqlite::{
        Connection, Error, ErrorCode, OptionalExtension, Result, Row, named_params, params,
        params_from_iter,
    };

    fn open_db() -> Result<Connection> {
        Connection::open_in_memory()
    }

    include!("body.rs");
}

/// The port: the same code on a dqlite node.
mod with_dqlite {
    use dqlite_rusqlite::types::{
        FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef,
    };
    use dqlite_rusqlite::{
        Connection, Error, ErrorCode, OptionalExtension, Result, Row, named_params, params,
        params_from_iter,
    };

    fn open_db() -> Result<Connection> {
        static NODE: std::sync::OnceLock<crate::common::TestNode> = std::sync::OnceLock::new();
        let node = NODE.get_or_init(crate::common::TestNode::start);
        Connection::open(node.url("port"))
    }

    include!("body.rs");

    /// The whole port again, the way async services run rusqlite code:
    /// inside `spawn_blocking` of a multi-threaded runtime, and also from
    /// an async task directly (which blocks that worker, but must work).
    #[test]
    fn port_inside_spawn_blocking_and_async_tasks() {
        type Test = (&'static str, fn() -> Result<()>);
        let all: &[Test] = &[
            ("persons_example", persons_example),
            ("batch_and_counters", batch_and_counters),
            ("parameters_of_every_shape", parameters_of_every_shape),
            ("optional_rows", optional_rows),
            ("transactions_with_rollback", transactions_with_rollback),
            ("blobs_nulls_and_types", blobs_nulls_and_types),
            ("custom_types", custom_types),
            ("constraint_errors", constraint_errors),
            (
                "query_and_then_with_an_application_error",
                query_and_then_with_an_application_error,
            ),
            ("column_metadata", column_metadata),
            #[cfg(feature = "chrono")]
            ("dates", dates),
        ];
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for &(name, test) in all {
                let blocking = tokio::task::spawn_blocking(test).await.unwrap();
                assert!(blocking.is_ok(), "{name} in spawn_blocking: {blocking:?}");
                let direct = tokio::spawn(async move { test() }).await.unwrap();
                assert!(direct.is_ok(), "{name} in an async task: {direct:?}");
            }
        });
    }
}
