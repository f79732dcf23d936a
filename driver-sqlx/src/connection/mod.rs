//! [`DqliteConnection`]: one connection to the cluster's leader.

mod executor;
pub(crate) mod run;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use dqlite_client::sql::SqlInfo;
use dqlite_client::{Deferred, Session, Shared};
use sqlx_core::connection::Connection;
use sqlx_core::error::Error;
use sqlx_core::transaction::Transaction;

use crate::error::from_client;
use crate::statement_cache::{Cached, StatementCache};
use crate::{Dqlite, DqliteConnectOptions};

/// A connection to the leader of a dqlite cluster.
///
/// It is a `dqlite-client` session: it finds the leader among the nodes
/// of its options, reconnects to the new leader after a change, sends a
/// statement again only when it certainly did not run or only reads, and
/// reports a write whose answer was lost as of unknown outcome (see
/// [`client_error`](crate::client_error)).
#[derive(Debug)]
pub struct DqliteConnection {
    pub(crate) session: Session,
    pub(crate) shared: Arc<Shared>,
    pub(crate) cache: StatementCache,
    /// Open transaction levels started through sqlx (`begin`).
    pub(crate) depth: usize,
    /// A `begin` was sent and not answered (its future was dropped).
    pub(crate) begin_in_flight: bool,
    /// The last `begin` failed: the `Transaction` it leaves is not a level.
    pub(crate) failed_begin: bool,
    pub(crate) options: DqliteConnectOptions,
    /// The token of the migration lock this connection holds.
    pub(crate) migration_lock: Option<String>,
}

impl DqliteConnection {
    /// Finds the leader and opens the database.
    pub(crate) async fn establish(options: &DqliteConnectOptions) -> Result<Self, Error> {
        let mut session = Session::new(options.client.clone()).map_err(from_client)?;
        session.connect().await.map_err(from_client)?;
        tracing::debug!(leader = ?session.leader(), database = %options.client.database, "connected");
        Ok(Self {
            shared: session.shared(),
            session,
            cache: StatementCache::new(options.statement_cache_capacity),
            depth: 0,
            begin_in_flight: false,
            failed_begin: false,
            options: options.clone(),
            migration_lock: None,
        })
    }

    /// The address of the leader this connection talks to, if connected
    /// (after losing the leader, it reconnects on its next use).
    pub fn leader(&self) -> Option<&str> {
        self.session.leader()
    }

    /// The cluster's nodes as last reported by the leader (voters first)
    /// and the configured ones.
    pub fn nodes(&self) -> &[String] {
        self.session.nodes()
    }

    /// Whether a transaction is open on the server, as far as the
    /// statements sent on this connection tell (`BEGIN` through
    /// `sqlx::query` counts too).
    pub fn in_transaction(&self) -> bool {
        self.shared.in_transaction.load(Ordering::Relaxed)
    }

    /// Runs SQL without arguments or rows (transaction statements, DDL).
    pub(crate) async fn exec_plain(&mut self, sql: &str) -> Result<u64, Error> {
        let info = SqlInfo::new(sql);
        self.session
            .exec_sql(sql, &info, Vec::new())
            .await
            .map_err(from_client)
    }

    /// The cached statement for `sql` (one statement), or a new one
    /// prepared on the leader.
    pub(crate) async fn take_or_prepare(
        &mut self,
        sql: &str,
        info: &SqlInfo,
    ) -> Result<Cached, Error> {
        if let Some(cached) = self.cache.take(sql) {
            return Ok(cached);
        }
        let handle = self.session.prepare(sql, info).await.map_err(from_client)?;
        Ok(Cached {
            sql: sql.into(),
            handle,
        })
    }

    /// Returns a statement to the cache (or finalizes it if nothing is
    /// cached).
    pub(crate) fn keep(&mut self, cached: Cached) {
        self.cache.put(cached, &self.shared);
    }
}

impl Connection for DqliteConnection {
    type Database = Dqlite;
    type Options = DqliteConnectOptions;

    /// Sends the queued work (a ROLLBACK of a dropped transaction,
    /// FINALIZEs) and closes the socket; the server frees the rest.
    async fn close(mut self) -> Result<(), Error> {
        self.session.flush_deferred().await;
        Ok(())
    }

    fn close_hard(self) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        drop(self);
        std::future::ready(Ok(()))
    }

    /// `SELECT 1` on the leader, after the queued work. On a connection
    /// whose leader is gone this reconnects to the new one (a read is
    /// always safe to send again); in a transaction lost with its
    /// connection it fails, so a pool drops such a connection.
    async fn ping(&mut self) -> Result<(), Error> {
        let sql = "SELECT 1";
        let started = self
            .session
            .query_sql(sql, &SqlInfo::new(sql), Vec::new())
            .await
            .map_err(from_client)?;
        if started.more {
            self.shared.defer(Deferred::Abandon {
                ticket: started.ticket,
            });
        }
        Ok(())
    }

    fn begin(
        &mut self,
    ) -> impl Future<Output = Result<Transaction<'_, Dqlite>, Error>> + Send + '_ {
        Transaction::begin(self, None)
    }

    fn cached_statements_size(&self) -> usize {
        self.cache.len()
    }

    async fn clear_cached_statements(&mut self) -> Result<(), Error> {
        self.cache.clear(&self.shared);
        self.session.flush_deferred().await;
        Ok(())
    }

    /// Nothing to shrink: a connection holds one ROWS message at a time,
    /// and only while a result is read.
    fn shrink_buffers(&mut self) {}

    async fn flush(&mut self) -> Result<(), Error> {
        self.session.flush_deferred().await;
        Ok(())
    }

    fn should_flush(&self) -> bool {
        self.shared.has_deferred()
    }
}
