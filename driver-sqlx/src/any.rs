//! sqlx's `Any` driver over dqlite: register [`ANY_DRIVER`](crate::ANY_DRIVER)
//! with `install_drivers`, then `AnyPool::connect("dqlite://…")`.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx_core::Either;
use sqlx_core::any::{
    Any, AnyArguments, AnyColumn, AnyConnectOptions, AnyConnectionBackend, AnyQueryResult, AnyRow,
    AnyStatement, AnyTypeInfo, AnyTypeInfoKind,
};
use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::database::Database;
use sqlx_core::describe::Describe;
use sqlx_core::error::Error;
use sqlx_core::executor::Executor;
use sqlx_core::migrate::Migrate;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::transaction::TransactionManager;

use crate::connection::run::run;
use crate::{
    Dqlite, DqliteColumn, DqliteConnectOptions, DqliteConnection, DqliteDataType,
    DqliteQueryResult, DqliteRow, DqliteTransactionManager, DqliteTypeInfo,
};

impl AnyConnectionBackend for DqliteConnection {
    fn name(&self) -> &str {
        <Dqlite as Database>::NAME
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(Connection::close(*self))
    }

    fn close_hard(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(Connection::close_hard(*self))
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Connection::ping(self))
    }

    fn begin(&mut self, statement: Option<SqlStr>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(DqliteTransactionManager::begin(self, statement))
    }

    fn commit(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(DqliteTransactionManager::commit(self))
    }

    fn rollback(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(DqliteTransactionManager::rollback(self))
    }

    fn start_rollback(&mut self) {
        DqliteTransactionManager::start_rollback(self);
    }

    fn get_transaction_depth(&self) -> usize {
        DqliteTransactionManager::get_transaction_depth(self)
    }

    fn cached_statements_size(&self) -> usize {
        Connection::cached_statements_size(self)
    }

    fn clear_cached_statements(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Connection::clear_cached_statements(self))
    }

    fn shrink_buffers(&mut self) {
        Connection::shrink_buffers(self);
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Connection::flush(self))
    }

    fn should_flush(&self) -> bool {
        Connection::should_flush(self)
    }

    fn as_migrate(&mut self) -> Result<&mut (dyn Migrate + Send + 'static), Error> {
        Ok(self)
    }

    fn fetch_many(
        &mut self,
        query: SqlStr,
        persistent: bool,
        arguments: Option<AnyArguments>,
    ) -> BoxStream<'_, Result<Either<AnyQueryResult, AnyRow>, Error>> {
        let arguments = match arguments.map(AnyArguments::convert_into).transpose() {
            Ok(arguments) => arguments,
            Err(e) => {
                return futures_util::stream::once(std::future::ready(Err(Error::Encode(e))))
                    .boxed();
            }
        };
        run(self, query, arguments, persistent)
            .and_then(|step| {
                std::future::ready(match step {
                    Either::Left(result) => Ok(Either::Left(any_result(result))),
                    Either::Right(row) => any_row(&row).map(Either::Right),
                })
            })
            .boxed()
    }

    fn fetch_optional(
        &mut self,
        query: SqlStr,
        persistent: bool,
        arguments: Option<AnyArguments>,
    ) -> BoxFuture<'_, Result<Option<AnyRow>, Error>> {
        let mut steps = AnyConnectionBackend::fetch_many(self, query, persistent, arguments);
        Box::pin(async move {
            while let Some(step) = steps.try_next().await? {
                if let Either::Right(row) = step {
                    return Ok(Some(row));
                }
            }
            Ok(None)
        })
    }

    fn prepare_with<'c, 'q: 'c>(
        &'c mut self,
        sql: SqlStr,
        _parameters: &[AnyTypeInfo],
    ) -> BoxFuture<'c, Result<AnyStatement, Error>> {
        Box::pin(async move {
            let statement = Executor::prepare_with(&mut *self, sql, &[]).await?;
            let names = statement.columns.by_name.clone();
            AnyStatement::try_from_statement(statement, names)
        })
    }

    fn describe(&mut self, sql: SqlStr) -> BoxFuture<'_, Result<Describe<Any>, Error>> {
        Box::pin(async move { Executor::describe(&mut *self, sql).await?.try_into_any() })
    }
}

fn any_result(result: DqliteQueryResult) -> AnyQueryResult {
    AnyQueryResult {
        rows_affected: result.changes,
        last_insert_id: Some(result.last_insert_rowid),
    }
}

fn any_row(row: &DqliteRow) -> Result<AnyRow, Error> {
    AnyRow::map_from(row, row.columns.by_name.clone())
}

impl TryFrom<&DqliteTypeInfo> for AnyTypeInfo {
    type Error = Error;

    fn try_from(info: &DqliteTypeInfo) -> Result<Self, Error> {
        let kind = match info.data_type() {
            DqliteDataType::Null => AnyTypeInfoKind::Null,
            DqliteDataType::Integer | DqliteDataType::UnixTime => AnyTypeInfoKind::BigInt,
            DqliteDataType::Float => AnyTypeInfoKind::Double,
            DqliteDataType::Text | DqliteDataType::Iso8601 => AnyTypeInfoKind::Text,
            DqliteDataType::Blob => AnyTypeInfoKind::Blob,
            DqliteDataType::Boolean => AnyTypeInfoKind::Bool,
        };
        Ok(AnyTypeInfo { kind })
    }
}

impl TryFrom<&DqliteColumn> for AnyColumn {
    type Error = Error;

    fn try_from(column: &DqliteColumn) -> Result<Self, Error> {
        Ok(AnyColumn {
            ordinal: column.ordinal,
            name: column.name.clone(),
            type_info: AnyTypeInfo::try_from(&column.type_info)?,
        })
    }
}

impl TryFrom<&AnyConnectOptions> for DqliteConnectOptions {
    type Error = Error;

    fn try_from(options: &AnyConnectOptions) -> Result<Self, Error> {
        let mut dqlite = DqliteConnectOptions::from_url(&options.database_url)?;
        dqlite.log_settings = options.log_settings.clone();
        Ok(dqlite)
    }
}
