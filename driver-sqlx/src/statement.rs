//! [`DqliteStatement`]: a statement prepared on the leader.

use std::sync::Arc;

use sqlx_core::Either;
use sqlx_core::column::ColumnIndex;
use sqlx_core::error::Error;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::statement::Statement;

use crate::row::Columns;
use crate::{Dqlite, DqliteArguments, DqliteColumn, DqliteTypeInfo};

/// A prepared statement: its SQL, its parameter count (dqlite tells no
/// parameter types), and its columns when they can be known before running
/// it (see [`DqliteColumn`]).
///
/// The statement stays prepared in the connection's statement cache;
/// running it (`statement.query().fetch_all(&mut conn)`) on the connection
/// that prepared it reuses the server-side statement.
#[derive(Debug, Clone)]
pub struct DqliteStatement {
    pub(crate) sql: SqlStr,
    pub(crate) parameters: usize,
    pub(crate) columns: Arc<Columns>,
}

impl Statement for DqliteStatement {
    type Database = Dqlite;

    fn into_sql(self) -> SqlStr {
        self.sql
    }

    fn sql(&self) -> &SqlStr {
        &self.sql
    }

    fn parameters(&self) -> Option<Either<&[DqliteTypeInfo], usize>> {
        Some(Either::Right(self.parameters))
    }

    fn columns(&self) -> &[DqliteColumn] {
        &self.columns.columns
    }

    sqlx_core::impl_statement_query!(DqliteArguments);
}

impl ColumnIndex<DqliteStatement> for &'_ str {
    fn index(&self, statement: &DqliteStatement) -> Result<usize, Error> {
        statement
            .columns
            .by_name
            .get(*self)
            .copied()
            .ok_or_else(|| Error::ColumnNotFound((*self).to_owned()))
    }
}
