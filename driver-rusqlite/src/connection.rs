//! The blocking connection: the async one, each call run to completion by
//! [`blocking::block_on`](crate::blocking) on the calling thread.

use std::future::Future;

use crate::config::Builder;
use crate::params::Params;
use crate::row::Row;
use crate::statement::{CachedStatement, Statement};
use crate::transaction::{Savepoint, Transaction, TransactionBehavior};
use crate::{Error, Result, asynchronous, blocking};

/// A connection to a dqlite cluster, as `rusqlite::Connection`.
///
/// It talks to the cluster's leader, found and followed as the [crate
/// docs](crate) describe. Every method blocks the calling thread until the
/// answer is in; the connection's IO is driven by one background thread
/// shared by every blocking connection of the process, so it works on any
/// thread, `tokio::task::spawn_blocking` and pool threads (r2d2, deadpool)
/// included. Called from an async task directly it works too, but blocks
/// that worker thread for the whole call: use [`asynchronous::Connection`]
/// there.
#[derive(Debug)]
pub struct Connection {
    pub(crate) inner: asynchronous::Connection,
    io: &'static tokio::runtime::Handle,
}

impl Connection {
    /// Connects to the leader of the cluster named by a
    /// `dqlite://host:port[,host:port…]/database` URL (see [`Builder`] for
    /// the query parameters, e.g. `?connect_timeout=5s`).
    pub fn open(url: impl AsRef<str>) -> Result<Self> {
        Self::open_with(Builder::from_url(url.as_ref())?)
    }

    /// Connects with explicit settings.
    pub fn open_with(builder: Builder) -> Result<Self> {
        let io = blocking::io_handle()?;
        let inner = blocking::block_on(io, asynchronous::Connection::open_with(builder))?;
        Ok(Self { inner, io })
    }

    /// Runs one call of the async connection to completion.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        blocking::block_on(self.io, future)
    }

    /// Sends queued work (rollbacks, finalizations) now.
    pub(crate) fn flush_deferred(&self) {
        self.block_on(async { self.inner.session.lock().await.flush_deferred().await });
    }

    /// The database this connection opened.
    pub fn database(&self) -> &str {
        self.inner.database()
    }

    /// The database name, where rusqlite gives the file's path.
    pub fn path(&self) -> Option<&str> {
        self.inner.path()
    }

    /// The address of the leader this connection talks to, if connected.
    pub fn leader(&self) -> Option<String> {
        self.block_on(self.inner.leader())
    }

    /// The cluster's nodes as last reported by the leader (voters first).
    pub fn nodes(&self) -> Vec<String> {
        self.block_on(self.inner.nodes())
    }

    /// Runs one statement and returns the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.block_on(self.inner.execute(sql, params))
    }

    /// Runs every statement of `sql` in one request; stops at the first
    /// error. Unlike rusqlite, a statement that returns rows fails.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.block_on(self.inner.execute_batch(sql))
    }

    /// The rowid of the last row inserted on this connection.
    pub fn last_insert_rowid(&self) -> i64 {
        self.inner.last_insert_rowid()
    }

    /// Rows changed by the last statement run with EXEC on this connection.
    pub fn changes(&self) -> u64 {
        self.inner.changes()
    }

    /// Whether no transaction is open (as the statements sent on this
    /// connection tell; see [`asynchronous::Connection::is_autocommit`]).
    pub fn is_autocommit(&self) -> bool {
        self.inner.is_autocommit()
    }

    /// Runs a query and passes its first row to `f`; `QueryReturnedNoRows`
    /// if there is none.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.block_on(self.inner.query_row(sql, params, f))
    }

    /// Like [`query_row`](Self::query_row), but `QueryReturnedMoreThanOneRow`
    /// if there is a second row.
    pub fn query_one<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.block_on(self.inner.query_one(sql, params, f))
    }

    /// Like [`query_row`](Self::query_row) with an error type of the caller's.
    pub fn query_row_and_then<T, E, P, F>(&self, sql: &str, params: P, f: F) -> Result<T, E>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.block_on(self.inner.query_row_and_then(sql, params, f))
    }

    /// Prepares a statement on the server.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        let inner = self.block_on(self.inner.prepare(sql))?;
        Ok(Statement::new(self, inner))
    }

    /// Like [`prepare`](Self::prepare), reusing a cached statement.
    pub fn prepare_cached(&self, sql: &str) -> Result<CachedStatement<'_>> {
        let inner = self.block_on(self.inner.prepare_cached(sql))?;
        Ok(CachedStatement::new(self, inner))
    }

    /// How many statements `prepare_cached` keeps.
    pub fn set_prepared_statement_cache_capacity(&self, capacity: usize) {
        self.inner.set_prepared_statement_cache_capacity(capacity);
    }

    /// Forgets every cached statement.
    pub fn flush_prepared_statement_cache(&self) {
        self.inner.flush_prepared_statement_cache();
    }

    /// Begins a deferred transaction; it rolls back when dropped unfinished.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::new(self, TransactionBehavior::Deferred)
    }

    /// Begins a transaction of the given kind.
    pub fn transaction_with_behavior(
        &mut self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        Transaction::new(self, behavior)
    }

    /// Begins a transaction through a shared reference.
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(self, TransactionBehavior::Deferred)
    }

    /// Opens a savepoint (a transaction when none is open).
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(self, 0, None)
    }

    /// Opens a savepoint with a name of the caller's.
    pub fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::start(self, 0, Some(name.into()))
    }

    /// Closes the connection (sending queued finalizations first). The
    /// error type is rusqlite's; closing never fails here.
    #[allow(clippy::result_large_err)]
    pub fn close(self) -> Result<(), (Self, Error)> {
        self.flush_deferred();
        Ok(())
    }
}
