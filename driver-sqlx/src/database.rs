//! The [`Dqlite`] marker type: it names every type of the driver for sqlx.

use sqlx_core::database::{Database, HasStatementCache};

use crate::{
    DqliteArgumentBuffer, DqliteArguments, DqliteColumn, DqliteConnection, DqliteQueryResult,
    DqliteRow, DqliteStatement, DqliteTransactionManager, DqliteTypeInfo, DqliteValue,
    DqliteValueRef,
};

/// A dqlite cluster, as a database for sqlx: `Pool<Dqlite>`,
/// `Transaction<'_, Dqlite>`, `impl Type<Dqlite>`, …
#[derive(Debug)]
pub struct Dqlite;

impl Database for Dqlite {
    type Connection = DqliteConnection;
    type TransactionManager = DqliteTransactionManager;
    type Row = DqliteRow;
    type QueryResult = DqliteQueryResult;
    type Column = DqliteColumn;
    type TypeInfo = DqliteTypeInfo;
    type Value = DqliteValue;
    type ValueRef<'r> = DqliteValueRef<'r>;
    type Arguments = DqliteArguments;
    type ArgumentBuffer = DqliteArgumentBuffer;
    type Statement = DqliteStatement;

    const NAME: &'static str = "dqlite";
    const URL_SCHEMES: &'static [&'static str] = &["dqlite"];
}

impl HasStatementCache for Dqlite {}
