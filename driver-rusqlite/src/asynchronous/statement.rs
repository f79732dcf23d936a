//! Async prepared statements and result sets.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::cache::{Cached, finalize_later};
use crate::error::exec_error;
use crate::params::{Params, bind};
use crate::row::{Row, column_index, decode_batch};
use crate::{Error, Result};
use dqlite_client::sql::SqlInfo;
use dqlite_client::{ResultSet, Started, StmtHandle};

use super::Connection;

/// A statement prepared on the server, as `rusqlite::Statement`. It is
/// finalized when dropped (with the connection's next request), and
/// prepared again by itself if the connection moved to a new leader.
#[derive(Debug)]
pub struct Statement<'conn> {
    conn: &'conn Connection,
    sql: Arc<str>,
    info: Arc<SqlInfo>,
    handle: Option<StmtHandle>,
}

impl<'conn> Statement<'conn> {
    pub(crate) fn new(
        conn: &'conn Connection,
        sql: Arc<str>,
        info: Arc<SqlInfo>,
        handle: StmtHandle,
    ) -> Self {
        Self {
            conn,
            sql,
            info,
            handle: Some(handle),
        }
    }

    fn handle(&self) -> &StmtHandle {
        // Only `finalize` and the cache take the handle, and both consume
        // the statement.
        #[allow(clippy::expect_used)]
        self.handle.as_ref().expect("a live statement has a handle")
    }

    fn bind<P: Params>(&self, params: P) -> Result<Vec<dqlite_protocol::Value>> {
        bind(params, &self.info.params, self.handle().param_count)
    }

    /// Runs the statement; returns the number of rows changed.
    /// `ExecuteReturnedResults` if it returns rows.
    pub fn execute<P: Params>(&mut self, params: P) -> impl Future<Output = Result<usize>> {
        let values = self.bind(params);
        async move {
            let values = values?;
            let conn = self.conn;
            let Some(handle) = self.handle.as_mut() else {
                return Err(Error::Protocol("statement already finalized".into()));
            };
            let changes = conn
                .session
                .lock()
                .await
                .exec_stmt(&self.sql, &self.info, handle, values)
                .await
                .map_err(exec_error)?;
            Ok(usize::try_from(changes).unwrap_or(usize::MAX))
        }
    }

    /// Runs an INSERT and returns the new rowid; `StatementChangedRows` if
    /// it did not change exactly one row.
    pub fn insert<P: Params>(&mut self, params: P) -> impl Future<Output = Result<i64>> {
        let conn = self.conn;
        let run = self.execute(params);
        async move {
            match run.await? {
                1 => Ok(conn.last_insert_rowid()),
                n => Err(Error::StatementChangedRows(n)),
            }
        }
    }

    /// Runs the statement and returns its rows, streamed one ROWS message
    /// at a time.
    pub fn query<P: Params>(&mut self, params: P) -> impl Future<Output = Result<Rows<'_>>> {
        let values = self.bind(params);
        async move {
            let values = values?;
            let conn = self.conn;
            let Some(handle) = self.handle.as_mut() else {
                return Err(Error::Protocol("statement already finalized".into()));
            };
            let started = conn
                .session
                .lock()
                .await
                .query_stmt(&self.sql, &self.info, handle, values)
                .await?;
            let rows = Rows::start(conn, started)?;
            handle.columns = Some(rows.columns.clone());
            Ok(rows)
        }
    }

    /// Runs the query and maps each row with `f`.
    pub fn query_map<T, P, F>(
        &mut self,
        params: P,
        f: F,
    ) -> impl Future<Output = Result<MappedRows<'_, F>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let rows = self.query(params);
        async move {
            Ok(MappedRows {
                rows: rows.await?,
                map: f,
            })
        }
    }

    /// Runs the query and maps each row with a fallible `f` of the caller's error type.
    pub fn query_and_then<T, E, P, F>(
        &mut self,
        params: P,
        f: F,
    ) -> impl Future<Output = Result<AndThenRows<'_, F>>>
    where
        P: Params,
        E: From<Error>,
        F: FnMut(&Row<'_>) -> Result<T, E>,
    {
        let rows = self.query(params);
        async move {
            Ok(AndThenRows {
                rows: rows.await?,
                map: f,
            })
        }
    }

    /// Whether the query returns at least one row.
    pub fn exists<P: Params>(&mut self, params: P) -> impl Future<Output = Result<bool>> {
        let rows = self.query(params);
        async move { Ok(rows.await?.next().await?.is_some()) }
    }

    /// The first row through `f`; `QueryReturnedNoRows` if there is none.
    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> impl Future<Output = Result<T>>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let rows = self.query(params);
        async move { rows.await?.get_expected_row().await.and_then(f) }
    }

    /// The only row through `f`; `QueryReturnedMoreThanOneRow` if there are more.
    pub fn query_one<T, P, F>(&mut self, params: P, f: F) -> impl Future<Output = Result<T>>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let rows = self.query(params);
        async move {
            let mut rows = rows.await?;
            let value = rows.get_expected_row().await.and_then(f)?;
            if rows.next().await?.is_some() {
                return Err(Error::QueryReturnedMoreThanOneRow);
            }
            Ok(value)
        }
    }

    /// Column names: known at prepare time for `SELECT`/`VALUES`/`WITH`
    /// queries, otherwise after the first query (empty before).
    pub fn column_names(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.columns().iter().map(String::as_str)
    }

    fn columns(&self) -> &[String] {
        self.handle().columns.as_deref().unwrap_or(&[])
    }

    /// Number of columns (see [`column_names`](Self::column_names)).
    pub fn column_count(&self) -> usize {
        self.columns().len()
    }

    /// The name of column `col`.
    pub fn column_name(&self, col: usize) -> Result<&str> {
        self.columns()
            .get(col)
            .map(String::as_str)
            .ok_or(Error::InvalidColumnIndex(col))
    }

    /// The index of the column named `name` (ignoring ASCII case).
    pub fn column_index(&self, name: &str) -> Result<usize> {
        column_index(self.columns(), name)
    }

    /// Number of parameters (the highest parameter index).
    pub fn parameter_count(&self) -> usize {
        self.handle().param_count
    }

    /// The 1-based index of a named parameter (prefix included, e.g. `":id"`).
    pub fn parameter_index(&self, name: &str) -> Result<Option<usize>> {
        Ok(self.info.params.index_of(name))
    }

    /// The name of the parameter at a 1-based index, if it has one.
    pub fn parameter_name(&self, index: usize) -> Option<&str> {
        self.info.params.name_of(index)
    }

    /// The SQL text the statement was prepared from.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Finalizes the statement now, reporting errors.
    pub async fn finalize(mut self) -> Result<()> {
        match self.handle.take() {
            Some(handle) => Ok(self.conn.session.lock().await.finalize(&handle).await?),
            None => Ok(()),
        }
    }

    /// Moves the server-side statement into the connection's cache.
    pub(crate) fn return_to_cache(mut self) {
        if let Some(handle) = self.handle.take() {
            let entry = Cached {
                sql: self.sql.clone(),
                info: self.info.clone(),
                handle,
            };
            match self.conn.cache.lock() {
                Ok(mut cache) => cache.put(entry, &self.conn.shared),
                Err(_) => finalize_later(&entry.handle, &self.conn.shared),
            }
        }
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            finalize_later(&handle, &self.conn.shared);
        }
    }
}

/// A statement from [`Connection::prepare_cached`]; goes back to the cache
/// when dropped.
#[derive(Debug)]
pub struct CachedStatement<'conn> {
    stmt: Option<Statement<'conn>>,
}

impl<'conn> CachedStatement<'conn> {
    pub(crate) fn new(stmt: Statement<'conn>) -> Self {
        Self { stmt: Some(stmt) }
    }

    /// Drops the statement instead of returning it to the cache.
    pub fn discard(mut self) {
        self.stmt = None;
    }
}

impl<'conn> Deref for CachedStatement<'conn> {
    type Target = Statement<'conn>;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &Statement<'conn> {
        self.stmt.as_ref().expect("present until dropped")
    }
}

impl DerefMut for CachedStatement<'_> {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.stmt.as_mut().expect("present until dropped")
    }
}

impl Drop for CachedStatement<'_> {
    fn drop(&mut self) {
        if let Some(stmt) = self.stmt.take() {
            stmt.return_to_cache();
        }
    }
}

/// The rows of a query, read one ROWS message at a time: at most one
/// message is held in memory, unless another request goes out on the same
/// connection before the rows are all read (then the rest is read ahead).
/// Dropping it early stops the query on the server (INTERRUPT, queued by
/// `dqlite_client::ResultSet`).
#[derive(Debug)]
pub struct Rows<'stmt> {
    conn: &'stmt Connection,
    pub(crate) columns: Arc<[String]>,
    batch: VecDeque<Vec<dqlite_protocol::Value>>,
    result: ResultSet,
    current: Option<Row<'stmt>>,
}

impl<'stmt> Rows<'stmt> {
    pub(crate) fn start(conn: &'stmt Connection, started: Started) -> Result<Self> {
        let (result, first) = ResultSet::new(started, conn.shared.clone());
        let mut batch = VecDeque::new();
        let (columns, _) = decode_batch(&first, &mut batch)?;
        Ok(Self {
            conn,
            columns: columns.into(),
            batch,
            result,
            current: None,
        })
    }

    /// The next row, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<&Row<'stmt>>> {
        loop {
            if let Some(values) = self.batch.pop_front() {
                self.current = Some(Row::new(self.columns.clone(), values));
                return Ok(self.current.as_ref());
            }
            self.current = None;
            if !self.result.has_more() {
                return Ok(None);
            }
            let mut session = self.conn.session.lock().await;
            let Some(frame) = self.result.next_frame(&mut session).await? else {
                return Ok(None);
            };
            drop(session);
            // On error the rest of the stream is left to INTERRUPT on drop.
            decode_batch(&frame, &mut self.batch)?;
        }
    }

    /// The first row, or `QueryReturnedNoRows`.
    pub(crate) async fn get_expected_row(&mut self) -> Result<&Row<'stmt>> {
        match self.next().await? {
            Some(row) => Ok(row),
            None => Err(Error::QueryReturnedNoRows),
        }
    }

    /// Maps each row with `f`.
    pub fn mapped<F, T>(self, f: F) -> MappedRows<'stmt, F>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        MappedRows { rows: self, map: f }
    }

    /// Maps each row with a fallible `f`.
    pub fn and_then<F, T, E>(self, f: F) -> AndThenRows<'stmt, F>
    where
        F: FnMut(&Row<'_>) -> Result<T, E>,
    {
        AndThenRows { rows: self, map: f }
    }

    /// Column names of the result.
    pub fn column_names(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.columns.iter().map(String::as_str)
    }
}

/// Rows mapped by a closure ([`Statement::query_map`]).
#[derive(Debug)]
pub struct MappedRows<'stmt, F> {
    rows: Rows<'stmt>,
    map: F,
}

impl<T, F> MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    /// The next mapped row, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub async fn next(&mut self) -> Option<Result<T>> {
        match self.rows.next().await {
            Ok(Some(row)) => Some((self.map)(row)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Collects every mapped row; `Result<Vec<T>>` stops at the first error.
    pub async fn collect<B: FromIterator<Result<T>>>(mut self) -> B {
        let mut items = Vec::new();
        while let Some(item) = self.next().await {
            items.push(item);
        }
        items.into_iter().collect()
    }
}

/// Rows mapped by a fallible closure ([`Statement::query_and_then`]).
#[derive(Debug)]
pub struct AndThenRows<'stmt, F> {
    rows: Rows<'stmt>,
    map: F,
}

impl<T, E, F> AndThenRows<'_, F>
where
    E: From<Error>,
    F: FnMut(&Row<'_>) -> Result<T, E>,
{
    /// The next mapped row, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub async fn next(&mut self) -> Option<Result<T, E>> {
        match self.rows.next().await {
            Ok(Some(row)) => Some((self.map)(row)),
            Ok(None) => None,
            Err(e) => Some(Err(E::from(e))),
        }
    }

    /// Collects every mapped row.
    pub async fn collect<B: FromIterator<Result<T, E>>>(mut self) -> B {
        let mut items = Vec::new();
        while let Some(item) = self.next().await {
            items.push(item);
        }
        items.into_iter().collect()
    }
}
