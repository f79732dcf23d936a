//! `Executor` for `&mut DqliteConnection`.

use std::sync::Arc;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx_core::Either;
use sqlx_core::describe::Describe;
use sqlx_core::error::Error;
use sqlx_core::executor::{Execute, Executor};
use sqlx_core::ext::ustr::UStr;
use sqlx_core::sql_str::SqlStr;

use super::DqliteConnection;
use super::run::{Step, run};
use crate::row::Columns;
use crate::{Dqlite, DqliteColumn, DqliteDataType, DqliteRow, DqliteStatement, DqliteTypeInfo};
use dqlite_client::sql::SqlInfo;

impl<'c> Executor<'c> for &'c mut DqliteConnection {
    type Database = Dqlite;

    fn fetch_many<'e, 'q: 'e, E>(self, mut query: E) -> BoxStream<'e, Result<Step, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Dqlite>,
    {
        let arguments = query.take_arguments().map_err(Error::Encode);
        let persistent = query.persistent();
        let sql = query.sql();
        match arguments {
            Ok(arguments) => run(self, sql, arguments, persistent),
            Err(e) => futures_util::stream::once(std::future::ready(Err(e))).boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DqliteRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Dqlite>,
    {
        let mut steps = self.fetch_many(query);
        Box::pin(async move {
            while let Some(step) = steps.try_next().await? {
                if let Either::Right(row) = step {
                    // Dropping the stream cuts the rest of the result short.
                    return Ok(Some(row));
                }
            }
            Ok(None)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        _parameters: &'e [DqliteTypeInfo],
    ) -> BoxFuture<'e, Result<DqliteStatement, Error>>
    where
        'c: 'e,
    {
        Box::pin(async move { self.prepare_statement(sql).await })
    }

    /// What dqlite can tell without running the statement: the parameter
    /// count and, for queries, the column names (types NULL, nullability
    /// unknown). Enough for `prepare`, not for `query!` (see the crate docs).
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Dqlite>, Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            let statement = self.prepare_statement(sql).await?;
            let columns = statement.columns.columns.clone();
            Ok(Describe {
                nullable: vec![None; columns.len()],
                columns,
                parameters: Some(Either::Right(statement.parameters)),
            })
        })
    }
}

impl DqliteConnection {
    /// Prepares one statement on the leader and keeps it in the cache.
    async fn prepare_statement(&mut self, sql: SqlStr) -> Result<DqliteStatement, Error> {
        let info = SqlInfo::new(sql.as_str());
        let [statement] = info.statements.as_slice() else {
            return Err(Error::InvalidArgument(format!(
                "a prepared statement holds exactly one SQL statement, not {}",
                info.statements.len()
            )));
        };
        let stmt_sql = &sql.as_str()[statement.span.clone()];
        let stmt_info = SqlInfo::new(stmt_sql);
        let cached = self.take_or_prepare(stmt_sql, &stmt_info).await?;
        let parameters = cached.handle.param_count;
        let names = cached.handle.columns.clone().unwrap_or_default();
        self.keep(cached);
        let columns = names
            .iter()
            .enumerate()
            .map(|(ordinal, name)| DqliteColumn {
                name: UStr::new(name),
                ordinal,
                type_info: DqliteTypeInfo::new(DqliteDataType::Null),
            })
            .collect();
        Ok(DqliteStatement {
            sql,
            parameters,
            columns: Arc::new(Columns::new(columns)),
        })
    }
}
