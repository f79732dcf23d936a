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
}
