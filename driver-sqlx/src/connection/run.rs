//! Running a query: binding, the choice between EXEC and QUERY, the
//! statement cache, and streaming the rows one ROWS message at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use dqlite_client::ResultSet;
use dqlite_client::sql::{SqlInfo, StatementInfo, StmtKind};
use dqlite_protocol::Value;
use dqlite_protocol::response::RowsReader;
use futures_core::stream::BoxStream;
use sqlx_core::Either;
use sqlx_core::error::Error;
use sqlx_core::ext::ustr::UStr;
use sqlx_core::logger::QueryLogger;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::try_stream;

use super::DqliteConnection;
use crate::arguments::bind;
use crate::error::from_client;
use crate::row::Columns;
use crate::value::DqliteValue;
use crate::{DqliteArguments, DqliteColumn, DqliteQueryResult, DqliteRow, DqliteTypeInfo};

/// One step of a result: rows, and a result per statement.
pub(crate) type Step = Either<DqliteQueryResult, DqliteRow>;

/// Runs every statement of `sql` in turn (see the crate docs, "How
/// queries run").
pub(crate) fn run<'e, 'c: 'e>(
    conn: &'c mut DqliteConnection,
    sql: SqlStr,
    arguments: Option<DqliteArguments>,
    persistent: bool,
) -> BoxStream<'e, Result<Step, Error>> {
    Box::pin(try_stream! {
        let mut logger = QueryLogger::new(sql.clone(), conn.options.log_settings.clone());
        let text = sql.as_str();
        let info = SqlInfo::new(text);
        let mut pending: VecDeque<Value> = arguments
            .map(|a| a.buffer.values)
            .unwrap_or_default()
            .into();
        let single = info.statements.len() == 1;
        for statement in &info.statements {
            let stmt_sql = &text[statement.span.clone()];
            let stmt_info = SqlInfo::new(stmt_sql);
            let values = if single {
                bind(&stmt_info.params, pending.drain(..).collect())?
            } else {
                let count = stmt_info.params.count.min(pending.len());
                bind(&stmt_info.params, pending.drain(..count).collect())?
            };
            let prepared = persistent && single && conn.cache.capacity() > 0;
            if statement.returns_rows(stmt_sql) {
                let started = if prepared {
                    let mut cached = conn.take_or_prepare(stmt_sql, &stmt_info).await?;
                    let started = conn
                        .session
                        .query_stmt(stmt_sql, &stmt_info, &mut cached.handle, values)
                        .await;
                    conn.keep(cached);
                    started.map_err(from_client)?
                } else {
                    conn.session
                        .query_sql(stmt_sql, &stmt_info, values)
                        .await
                        .map_err(from_client)?
                };
                // Dropped before its end (the stream dropped), the result
                // set queues INTERRUPT.
                let (mut result, mut frame) = ResultSet::new(started, conn.shared.clone());
                let mut columns: Option<Arc<Columns>> = None;
                let mut count = 0_u64;
                loop {
                    let mut reader = RowsReader::new(&frame.body).map_err(Error::protocol)?;
                    let names: Vec<&str> = reader.columns().to_vec();
                    let mut row = Vec::with_capacity(names.len());
                    while reader.next_into(&mut row).map_err(Error::protocol)? {
                        let values: Box<[DqliteValue]> =
                            row.iter().map(|v| DqliteValue::from_wire(*v)).collect();
                        let columns = columns
                            .get_or_insert_with(|| Arc::new(columns_of(&names, &values)))
                            .clone();
                        count += 1;
                        logger.increment_rows_returned();
                        r#yield!(Either::Right(DqliteRow { values, columns }));
                    }
                    match result.next_frame(&mut conn.session).await.map_err(from_client)? {
                        Some(next) => frame = next,
                        None => break,
                    }
                }
                let changes = if writes(statement) { count } else { 0 };
                logger.increase_rows_affected(changes);
                r#yield!(Either::Left(DqliteQueryResult {
                    changes,
                    last_insert_rowid: 0,
                }));
            } else {
                let changes = if prepared {
                    let mut cached = conn.take_or_prepare(stmt_sql, &stmt_info).await?;
                    let changes = conn
                        .session
                        .exec_stmt(stmt_sql, &stmt_info, &mut cached.handle, values)
                        .await;
                    conn.keep(cached);
                    changes.map_err(from_client)?
                } else {
                    conn.session
                        .exec_sql(stmt_sql, &stmt_info, values)
                        .await
                        .map_err(from_client)?
                };
                logger.increase_rows_affected(changes);
                r#yield!(Either::Left(DqliteQueryResult {
                    changes,
                    last_insert_rowid: conn.shared.last_insert_rowid.load(Ordering::Relaxed),
                }));
            }
        }
        if !pending.is_empty() {
            Err(Error::InvalidArgument(format!(
                "{} argument(s) more than the statements take",
                pending.len()
            )))?;
        }
        Ok(())
    })
}

/// Whether rows returned by the statement are rows it changed (a write
/// with `RETURNING`).
fn writes(statement: &StatementInfo) -> bool {
    statement.returning && statement.kind != StmtKind::Read && !statement.select_like
}

/// The columns of a result, typed by its first row.
fn columns_of(names: &[&str], first: &[DqliteValue]) -> Columns {
    Columns::new(
        names
            .iter()
            .enumerate()
            .map(|(ordinal, name)| DqliteColumn {
                name: UStr::new(name),
                ordinal,
                type_info: first
                    .get(ordinal)
                    .map_or(DqliteTypeInfo::new(crate::DqliteDataType::Null), |v| {
                        v.type_info
                    }),
            })
            .collect(),
    )
}
