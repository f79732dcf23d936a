//! The async connection.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::cache::StatementCache;
use crate::config::Builder;
use crate::error::exec_error;
use crate::params::{Params, bind};
use crate::row::Row;
use crate::transaction::TransactionBehavior;
use crate::{Error, Result};
use dqlite_client::sql::SqlInfo;
use dqlite_client::{Deferred, Session, Shared};

use super::statement::{CachedStatement, Rows, Statement};
use super::transaction::{Savepoint, Transaction};

/// A connection to a dqlite cluster: to whichever node leads it, followed
/// across leader changes. See the [crate docs](crate) for what happens
/// when the leader changes.
#[derive(Debug)]
pub struct Connection {
    pub(crate) session: Arc<tokio::sync::Mutex<Session>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) cache: Mutex<StatementCache>,
    database: String,
}

/// The SQL text, what the scanner found in it, and the bound values.
type Prepared = (String, SqlInfo, Vec<dqlite_protocol::Value>);

/// Scans `sql` (one statement expected) and binds `params` to it. The
/// text sent is the statement alone, without a trailing `;` or comment
/// (after which dqlite 1.11 answers EXEC_SQL with zero counters).
fn prepare_one<P: Params>(sql: &str, params: P) -> Result<Prepared> {
    let info = SqlInfo::new(sql);
    if info.statements.len() > 1 {
        return Err(Error::MultipleStatement);
    }
    let sql = match info.statements.first() {
        Some(statement) => &sql[statement.span.clone()],
        None => sql,
    };
    let info = SqlInfo::new(sql);
    let values = bind(params, &info.params, info.params.count)?;
    Ok((sql.to_owned(), info, values))
}

impl Connection {
    /// Connects to the leader of the cluster named by a
    /// `dqlite://host:port[,host:port…]/database` URL (see
    /// [`Builder`] for the query parameters).
    pub async fn open(url: impl AsRef<str>) -> Result<Self> {
        Self::open_with(Builder::from_url(url.as_ref())?).await
    }

    /// Connects with explicit settings.
    pub async fn open_with(builder: Builder) -> Result<Self> {
        let capacity = builder.cache_capacity;
        let database = builder.client.database.clone();
        let mut session = Session::new(builder.client_config())?;
        session.connect().await?;
        Ok(Self {
            shared: session.shared(),
            session: Arc::new(tokio::sync::Mutex::new(session)),
            cache: Mutex::new(StatementCache::new(capacity)),
            database,
        })
    }

    /// The database this connection opened.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The database name, where rusqlite gives the file's path.
    pub fn path(&self) -> Option<&str> {
        Some(&self.database)
    }

    /// The address of the leader this connection talks to, if connected.
    pub async fn leader(&self) -> Option<String> {
        self.session.lock().await.leader().map(str::to_owned)
    }

    /// The cluster's nodes as last reported by the leader (voters first).
    pub async fn nodes(&self) -> Vec<String> {
        self.session.lock().await.nodes().to_vec()
    }

    /// Runs one statement and returns the number of rows it changed.
    ///
    /// Errors: `MultipleStatement` if `sql` holds several statements,
    /// `ExecuteReturnedResults` if the statement returns rows.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> impl Future<Output = Result<usize>> {
        let prepared = prepare_one(sql, params);
        async move {
            let (sql, info, values) = prepared?;
            if info.statements.is_empty() {
                return Ok(0);
            }
            let changes = self
                .session
                .lock()
                .await
                .exec_sql(&sql, &info, values)
                .await
                .map_err(exec_error)?;
            Ok(usize::try_from(changes).unwrap_or(usize::MAX))
        }
    }

    /// Runs every statement of `sql`, in one request; stops at the first
    /// error. Unlike rusqlite, a statement that returns rows fails (dqlite
    /// refuses rows from EXEC_SQL).
    pub async fn execute_batch(&self, sql: &str) -> Result<()> {
        let info = SqlInfo::new(sql);
        if info.statements.is_empty() {
            return Ok(());
        }
        self.session
            .lock()
            .await
            .exec_sql(sql, &info, Vec::new())
            .await
            .map(|_| ())
            .map_err(Error::from)
    }

    /// The rowid of the last row inserted by EXEC on this connection (0
    /// after a reconnection, until the next insert).
    pub fn last_insert_rowid(&self) -> i64 {
        self.shared
            .last_insert_rowid
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Rows changed by the last EXEC on this connection.
    pub fn changes(&self) -> u64 {
        self.shared
            .changes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether no transaction is open, as far as the statements sent on
    /// this connection tell (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT and
    /// RELEASE are followed; an automatic rollback by SQLite after some
    /// errors is not seen).
    pub fn is_autocommit(&self) -> bool {
        !self
            .shared
            .in_transaction
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) async fn start_query(
        &self,
        sql: String,
        info: SqlInfo,
        values: Vec<dqlite_protocol::Value>,
    ) -> Result<Rows<'_>> {
        let started = self
            .session
            .lock()
            .await
            .query_sql(&sql, &info, values)
            .await?;
        Rows::start(self, started)
    }

    /// Runs a query and passes its first row to `f`; `QueryReturnedNoRows`
    /// if there is none (see [`OptionalExtension`](crate::OptionalExtension)).
    /// Further rows are ignored.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> impl Future<Output = Result<T>>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let prepared = prepare_one(sql, params);
        async move {
            let (sql, info, values) = prepared?;
            let mut rows = self.start_query(sql, info, values).await?;
            rows.get_expected_row().await.and_then(f)
        }
    }

    /// Like [`query_row`](Self::query_row), but `QueryReturnedMoreThanOneRow`
    /// if there is a second row.
    pub fn query_one<T, P, F>(&self, sql: &str, params: P, f: F) -> impl Future<Output = Result<T>>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let prepared = prepare_one(sql, params);
        async move {
            let (sql, info, values) = prepared?;
            let mut rows = self.start_query(sql, info, values).await?;
            let value = rows.get_expected_row().await.and_then(f)?;
            if rows.next().await?.is_some() {
                return Err(Error::QueryReturnedMoreThanOneRow);
            }
            Ok(value)
        }
    }

    /// Like [`query_row`](Self::query_row) with an error type of the caller's.
    pub fn query_row_and_then<T, E, P, F>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> impl Future<Output = Result<T, E>>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let prepared = prepare_one(sql, params);
        async move {
            let (sql, info, values) = prepared?;
            let mut rows = self.start_query(sql, info, values).await?;
            let row = rows.get_expected_row().await?;
            f(row)
        }
    }

    /// Prepares a statement on the server (PREPARE). For queries the
    /// column names are fetched in the same round trip.
    pub async fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        let info = SqlInfo::new(sql);
        if info.statements.len() > 1 {
            return Err(Error::MultipleStatement);
        }
        let handle = self.session.lock().await.prepare(sql, &info).await?;
        Ok(Statement::new(self, sql.into(), Arc::new(info), handle))
    }

    /// Like [`prepare`](Self::prepare), reusing a statement prepared
    /// earlier on this connection; the statement goes back to the cache
    /// when dropped.
    pub async fn prepare_cached(&self, sql: &str) -> Result<CachedStatement<'_>> {
        let cached = self.cache.lock().ok().and_then(|mut c| c.take(sql));
        let stmt = match cached {
            Some(c) => Statement::new(self, c.sql, c.info, c.handle),
            None => self.prepare(sql).await?,
        };
        Ok(CachedStatement::new(stmt))
    }

    /// How many statements `prepare_cached` keeps (16 unless configured).
    pub fn set_prepared_statement_cache_capacity(&self, capacity: usize) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.set_capacity(capacity, &self.shared);
        }
    }

    /// Forgets every cached statement (finalized with the next request).
    pub fn flush_prepared_statement_cache(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear(&self.shared);
        }
    }

    /// Begins a deferred transaction; it rolls back when dropped unfinished.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(self, TransactionBehavior::Deferred).await
    }

    /// Begins a transaction of the given kind.
    pub async fn transaction_with_behavior(
        &mut self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(self, behavior).await
    }

    /// Begins a transaction through a shared reference (the caller keeps
    /// other uses of the connection out of it).
    pub async fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(self, TransactionBehavior::Deferred).await
    }

    /// Opens a savepoint (a transaction when none is open).
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::with_depth(self, 0).await
    }

    /// Opens a savepoint with a name of the caller's.
    pub async fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::with_name(self, name.into()).await
    }

    /// Queues SQL to run before the next request and, inside a tokio
    /// runtime, sends it from a spawned task right away.
    pub(crate) fn defer_sql(&self, sql: String) {
        self.shared.defer(Deferred::Sql { sql });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let session = self.session.clone();
            handle.spawn(async move {
                session.lock().await.flush_deferred().await;
            });
        }
    }
}
