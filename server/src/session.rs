//! A client's handle on one database: one SQLite connection, driven
//! directly by the task that owns the session (on a node's own thread,
//! every client connection's task).
//!
//! SQLite runs inline, between awaits, as in the C server's event loop: a
//! point query costs no thread switch. Each synchronous stretch of SQLite
//! work (a *job*) holds the node's SQL lock ([`crate::sql::SqlLock`]), so
//! sessions used from other threads never drive the VFS concurrently; no
//! lock is held across an await.
//!
//! Writes pipeline (see [`crate::vfs`] and [`crate::pipeline`]): a job
//! that commits a write transaction queues its frames for Raft and frees
//! the write lock at once, so the next write transaction, of this session
//! or another, builds on it while Raft replicates. No answer leaves a
//! session before every transaction it could have seen is committed: after
//! each job the session waits for the newest pending transaction's ticket.
//! If that transaction is aborted (leadership lost), the answer is the
//! "leadership lost" error, and a connection whose open transaction may
//! have seen it is rolled back before its next statement.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dqlite_protocol::Value;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::pipeline::{LeaderId, Proposal, Proposer};
use crate::raft::instance::Raft;
use crate::sql::rows::{bind, column_kinds, next_batch};
use crate::sql::split::first_statement_cached;
use crate::sql::{SqlLock, delete};
use crate::vfs::{ConnectionId, TxState, TxTicket, Vfs};

/// Outcome of statements that ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecOutcome {
    /// `sqlite3_last_insert_rowid` of the connection.
    pub last_insert_id: i64,
    /// `sqlite3_changes` of the connection.
    pub rows_affected: u64,
}

/// What PREPARE learns about the first statement of some SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The statement's text.
    pub sql: String,
    /// Number of the highest parameter.
    pub params: u64,
    /// Bytes of the input the statement took.
    pub tail_offset: u64,
    /// Whether anything but whitespace and comments follows it.
    pub nonempty_tail: bool,
}

/// What every session of a node shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) node_id: u64,
    pub(crate) raft: Raft,
    /// The leadership a barrier last confirmed.
    pub(crate) confirmed: Arc<Mutex<Option<LeaderId>>>,
    pub(crate) vfs: Vfs,
    pub(crate) lock: SqlLock,
    pub(crate) busy: BusyWait,
    pub(crate) proposer: Proposer,
}

/// One SQLite connection to a database of a node.
///
/// A session is `Send` but not `Sync`, and its futures are not `Send`:
/// drive it from one task (on a current-thread runtime, or a `LocalSet`).
pub struct Session {
    shared: Shared,
    conn: Connection,
    /// The connection's handle in the VFS (for fencing).
    file: Option<ConnectionId>,
    db: String,
    /// Set while a transaction of this session that ran `PRAGMA
    /// delete_database` is open: the schema cookie it set (see
    /// `sql::delete`).
    emptied: std::cell::Cell<Option<i64>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("db", &self.db).finish()
    }
}

/// How long a statement waits for another connection's write transaction
/// to end before it fails with "database is locked" (dqlite's busy
/// timeout), and the signal that one may have ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct BusyWait {
    pub(crate) timeout: Duration,
    /// Notified whenever a session finishes a statement or closes.
    pub(crate) released: Arc<tokio::sync::Notify>,
}

/// How long a leader waits for a quorum (to commit a write, or to confirm
/// its leadership before a statement) before it answers "leadership lost":
/// a leader cut off from the other voters refuses work instead of hanging.
pub const QUORUM_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause before another ReadIndex round when one found no quorum.
const QUORUM_RETRY: Duration = Duration::from_millis(20);

/// Longest pause between retries when no release is signalled.
const MAX_BUSY_PAUSE: Duration = Duration::from_millis(16);

/// Where a query's ROWS messages go.
type RowsSink = mpsc::Sender<Bytes>;

impl Session {
    pub(crate) fn open(shared: Shared, db: &str) -> Result<Self> {
        let (conn, file) = {
            let _sql = shared.lock.hold();
            let conn = shared.vfs.open(db)?;
            let file = shared.vfs.file_id(&conn);
            (conn, file)
        };
        Ok(Self {
            shared,
            conn,
            file,
            db: db.to_owned(),
            emptied: std::cell::Cell::new(None),
        })
    }

    /// After each statement that ran to completion: empties the database
    /// if the statement was `PRAGMA delete_database` (in the same
    /// transaction), and vacuums it once such a transaction committed.
    fn after_statement(&self, conn: &Connection) -> Result<()> {
        if let Some(file) = self.file
            && self.shared.vfs.take_delete_request(&self.db, file)?
        {
            tracing::info!(db = %self.db, "PRAGMA delete_database: emptying the database");
            self.emptied.set(Some(delete::empty_database(conn)?));
        }
        if let Some(emptied) = self.emptied.get() {
            match delete::reclaim_if_ended(conn, emptied) {
                Ok(None) => {}
                Ok(Some(_)) => self.emptied.set(None),
                Err(e) => {
                    // The delete itself is committed: only its pages stay
                    // until the next VACUUM.
                    tracing::warn!(db = %self.db, error = %e, "could not vacuum a deleted database");
                    self.emptied.set(None);
                }
            }
        }
        Ok(())
    }

    /// The database name.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// Runs every statement of `sql` without parameters.
    pub async fn exec(&self, sql: &str) -> Result<ExecOutcome> {
        self.exec_sql(sql, Vec::new())
            .await
            .map(|(outcome, _)| outcome)
    }

    /// Runs every statement of `sql`, one at a time, each taking as many of
    /// `params` as it has parameters (dqlite ≥ 1.18.2). Each committed write
    /// is replicated before the next statement runs. Returns the counters
    /// after the last statement and whether any statement ran.
    pub async fn exec_sql(&self, sql: &str, params: Vec<Value>) -> Result<(ExecOutcome, bool)> {
        let mut offset = 0;
        let mut used = 0;
        let mut outcome = None;
        while offset < sql.len() {
            let rest = &sql[offset..];
            let (consumed, ran) = self
                .run(|conn| {
                    let Some(first) = first_statement_cached(conn, rest)? else {
                        // Only whitespace and comments are left.
                        return Ok((rest.len(), None));
                    };
                    let mut stmt = conn.prepare_cached(&rest[..first.len])?;
                    let wanted = stmt.parameter_count();
                    let available = &params[used.min(params.len())..];
                    let mine = &available[..wanted.min(available.len())];
                    bind(&mut stmt, mine)?;
                    let yielded = run_to_completion(&mut stmt)?;
                    drop(stmt);
                    self.after_statement(conn)?;
                    if yielded {
                        // As latest dqlite; a RETURNING write still commits
                        // and is replicated.
                        return Err(Error::RowsYielded);
                    }
                    Ok((
                        first.len,
                        Some((
                            ExecOutcome {
                                last_insert_id: conn.last_insert_rowid(),
                                rows_affected: conn.changes(),
                            },
                            wanted,
                        )),
                    ))
                })
                .await?;
            if let Some((ran, wanted)) = ran {
                outcome = Some(ran);
                used += wanted;
            }
            if consumed == 0 {
                break;
            }
            offset += consumed;
        }
        Ok((outcome.unwrap_or_default(), outcome.is_some()))
    }

    /// Runs the first statement of `sql` and returns all its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<SqlValue>>> {
        self.run(move |conn| {
            let mut stmt = conn.prepare(sql)?;
            let width = stmt.column_count();
            let rows = stmt
                .query_map([], |row| {
                    (0..width).map(|i| row.get::<_, SqlValue>(i)).collect()
                })?
                .collect::<rusqlite::Result<Vec<Vec<SqlValue>>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Compiles the first statement of `sql`; `None` if there is none.
    pub async fn prepare(&self, sql: &str) -> Result<Option<Prepared>> {
        self.run(move |conn| {
            let Some(first) = first_statement_cached(conn, sql)? else {
                return Ok(None);
            };
            let text = sql[..first.len].to_owned();
            let params = conn.prepare_cached(&text)?.parameter_count();
            Ok(Some(Prepared {
                sql: text,
                params: params as u64,
                tail_offset: first.len as u64,
                nonempty_tail: first.nonempty_tail,
            }))
        })
        .await
    }

    /// QUERY_SQL: runs the first statement of `sql` and sends its rows to
    /// `sink`. Text without a statement, or
    /// with more than one, is refused as dqlite ≥ 1.15 does.
    pub async fn query_sql(&self, sql: &str, params: Vec<Value>, sink: RowsSink) -> Result<()> {
        let (first, ticket) = {
            let _sql = self.shared.lock.hold();
            let first = first_statement_cached(&self.conn, sql);
            (first, self.shared.vfs.last_tx(&self.db)?)
        };
        // Compiling read the schema, which pending writes may have changed.
        self.settle(ticket).await?;
        let first = first?.ok_or(Error::EmptyStatement)?;
        if first.nonempty_tail {
            return Err(Error::NonemptyTail);
        }
        self.query_statement(&sql[..first.len], params, sink).await
    }

    /// Runs a prepared statement to completion (EXEC). A statement that
    /// yields rows runs (a write with RETURNING is applied and replicated)
    /// and then reports [`Error::RowsYielded`].
    pub async fn exec_prepared(&self, stmt_sql: &str, params: Vec<Value>) -> Result<ExecOutcome> {
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(stmt_sql)?;
            check_param_count(&stmt, &params, "bind parameters")?;
            bind(&mut stmt, &params)?;
            let yielded = run_to_completion(&mut stmt)?;
            drop(stmt);
            self.after_statement(conn)?;
            if yielded {
                return Err(Error::RowsYielded);
            }
            Ok(ExecOutcome {
                last_insert_id: conn.last_insert_rowid(),
                rows_affected: conn.changes(),
            })
        })
        .await
    }

    /// Runs a prepared statement and sends its rows to `sink` as ROWS
    /// messages (QUERY). A read-only statement streams: each message is
    /// stepped, then sent (waiting while the client is slow), then the
    /// next. Rows of a statement that writes (RETURNING) are sent only
    /// after its write is committed.
    pub async fn query_statement(
        &self,
        stmt_sql: &str,
        params: Vec<Value>,
        sink: RowsSink,
    ) -> Result<()> {
        let leader = self.confirm_leadership().await?;
        let (stmt, ticket) = {
            let _sql = self.shared.lock.hold();
            self.enter(leader)?;
            let stmt = self.conn.prepare_cached(stmt_sql).map_err(Error::from);
            (stmt, self.shared.vfs.last_tx(&self.db)?)
        };
        self.settle(ticket).await?;
        let mut stmt = stmt?;
        if stmt.column_count() == 0 {
            return Err(Error::NoColumns);
        }
        check_param_count(&stmt, &params, "column index out of range")?;
        bind(&mut stmt, &params)?;
        if !stmt.readonly() {
            drop(stmt);
            let held = self
                .run(|conn| {
                    let mut stmt = conn.prepare_cached(stmt_sql)?;
                    bind(&mut stmt, &params)?;
                    let (names, kinds) = (column_names(&stmt), column_kinds(&stmt));
                    let mut rows = stmt.raw_query();
                    let mut held = Vec::new();
                    loop {
                        let (batch, done) = next_batch(&mut rows, &names, &kinds)?;
                        held.push(batch);
                        if done {
                            return Ok(held);
                        }
                    }
                })
                .await?;
            for batch in held {
                sink.send(batch).await.map_err(|_| Error::ShuttingDown)?;
            }
            return Ok(());
        }
        let (names, kinds) = (column_names(&stmt), column_kinds(&stmt));
        let mut rows = stmt.raw_query();
        // The statement's snapshot is taken at its first step: it depends
        // on the transactions pending then, and only on them.
        let mut depends = None;
        let mut first = true;
        loop {
            let (batch, ticket) = {
                let _sql = self.shared.lock.hold();
                if !first {
                    self.check_fence()?;
                }
                let batch = next_batch(&mut rows, &names, &kinds);
                if first {
                    depends = self.shared.vfs.last_tx(&self.db)?;
                    first = false;
                }
                (batch, depends.clone())
            };
            self.settle(ticket).await?;
            let (batch, done) = batch?;
            sink.send(batch).await.map_err(|_| Error::ShuttingDown)?;
            if done {
                return Ok(());
            }
        }
    }

    /// A standalone image of the database (DUMP): every page, with the WAL
    /// folded in.
    pub async fn dump(&self) -> Result<Vec<u8>> {
        // Any node dumps what it holds (no barrier), but never pending
        // writes before they commit.
        let (data, ticket) = {
            let _sql = self.shared.lock.hold();
            let data = (|| {
                let mut dst = Connection::open_in_memory()?;
                rusqlite::backup::Backup::new(&self.conn, &mut dst)?.step(-1)?;
                Ok::<_, Error>(dst.serialize(rusqlite::MAIN_DB)?.to_vec())
            })();
            (data, self.shared.vfs.last_tx(&self.db)?)
        };
        self.settle(ticket).await?;
        data
    }

    /// Runs `job` on this session's connection, queues the write
    /// transaction it committed, if any, for Raft, and returns its result
    /// once everything it could see is committed. A
    /// job refused because another connection holds the write lock is run
    /// again when that may have changed, until the busy timeout.
    async fn run<R>(&self, mut job: impl FnMut(&Connection) -> Result<R>) -> Result<R> {
        let deadline = tokio::time::Instant::now() + self.shared.busy.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            // Registered before the attempt, so a release during it counts.
            let released = self.shared.busy.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let result = self.run_once(&mut job).await;
            let now = tokio::time::Instant::now();
            match result {
                Err(e) if e.is_busy() && now < deadline => {
                    let wait = pause.min(deadline - now);
                    tokio::select! {
                        () = &mut released => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                    pause = (pause * 2).min(MAX_BUSY_PAUSE);
                }
                result => {
                    self.shared.busy.released.notify_waiters();
                    return result;
                }
            }
        }
    }

    /// One attempt of [`run`](Self::run).
    async fn run_once<R>(&self, job: &mut impl FnMut(&Connection) -> Result<R>) -> Result<R> {
        let leader = self.confirm_leadership().await?;
        let (result, ticket) = {
            let _sql = self.shared.lock.hold();
            self.enter(leader)?;
            let before = self.shared.vfs.last_tx(&self.db)?.map(|t| t.id);
            let result = job(&self.conn);
            // Even a failed job may have committed (a RETURNING write
            // reported as an error, say).
            self.propose_since(before, leader)?;
            (result, self.shared.vfs.last_tx(&self.db)?)
        };
        self.settle(ticket).await?;
        result
    }

    /// Runs before each job, with the SQL lock held: pending transactions
    /// of an earlier leadership are dropped, and a connection whose open
    /// transaction was cut short is rolled back and the job refused.
    fn enter(&self, leader: LeaderId) -> Result<()> {
        self.shared.vfs.begin_term(&self.db, leader.term)?;
        self.check_fence()
    }

    /// Refuses to go on with a connection the VFS fenced (its transaction
    /// may have seen frames that were dropped), rolling its transaction
    /// back. Needs the SQL lock.
    fn check_fence(&self) -> Result<()> {
        let Some(file) = self.file else {
            return Ok(());
        };
        if !self.shared.vfs.take_fenced(&self.db, file)? {
            return Ok(());
        }
        self.rollback();
        Err(Error::LeadershipLost(
            "the transaction was aborted: it may have seen writes that were not committed".into(),
        ))
    }

    /// Ends the connection's transaction, if any. Needs the SQL lock.
    fn rollback(&self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, db = %self.db, "could not roll back");
        }
    }

    /// Queues for Raft every transaction committed since `before` (this
    /// job's), in order. Needs the SQL lock.
    fn propose_since(&self, before: Option<u64>, leader: LeaderId) -> Result<()> {
        for frames in self.shared.vfs.frames_after(&self.db, before)? {
            let proposal = Proposal {
                db: self.db.clone(),
                leader,
                frames,
            };
            if let Err(refused) = self.shared.proposer.propose(proposal) {
                self.shared.vfs.abort_from(&self.db, refused.frames.tx_id)?;
                return Err(Error::ShuttingDown);
            }
        }
        Ok(())
    }

    /// Waits until the transaction of `ticket` (the newest one a job could
    /// see) is committed: only then may its result be answered.
    async fn settle(&self, ticket: Option<TxTicket>) -> Result<()> {
        let Some(mut ticket) = ticket else {
            return Ok(());
        };
        if ticket.state() == TxState::Committed {
            return Ok(());
        }
        match tokio::time::timeout(QUORUM_TIMEOUT, ticket.settled()).await {
            Ok(TxState::Committed) => Ok(()),
            Ok(_) => Err(Error::LeadershipLost(
                "a write transaction was not committed: leadership changed".into(),
            )),
            Err(_) => {
                // Still leader as far as Raft knows, but no quorum took the
                // entry: its fate is open, so the transaction stays pending
                // until Raft commits it or a new leader's log replaces it.
                tracing::warn!(db = %self.db, "a write was not committed in time");
                Err(Error::LeadershipLost(format!(
                    "not committed by a quorum within {QUORUM_TIMEOUT:?}"
                )))
            }
        }
    }

    /// Makes sure this node is the leader and has applied every committed
    /// entry before a job runs (dqlite's barrier), and returns the
    /// leadership confirmed. A connection left in a transaction by a
    /// refusal is rolled back: this node cannot finish it.
    async fn confirm_leadership(&self) -> Result<LeaderId> {
        match self.barrier().await {
            Ok(leader) => Ok(leader),
            Err(e) => {
                let _sql = self.shared.lock.hold();
                self.rollback();
                Err(e)
            }
        }
    }

    /// Waits until this node, confirmed as leader, has applied every
    /// committed entry (dqlite's barrier): after an election or a restart
    /// no statement runs on a database older than the committed log.
    ///
    /// A sole voter that already passed a barrier in its current term
    /// skips it: every entry committed since was applied before its writer
    /// was answered. With other voters, the leader's lease (openraft's: a
    /// quorum acknowledged it within the last election timeout, so no
    /// other leader can exist yet) proves leadership without a network
    /// round; when the lease has lapsed, a ReadIndex round asks a quorum.
    /// Either way a deposed leader never serves stale data.
    async fn barrier(&self) -> Result<LeaderId> {
        use openraft::ReadPolicy;
        use openraft::async_runtime::WatchReceiver;
        let (term, sole_leader) = {
            let metrics = self.shared.raft.metrics();
            let m = metrics.borrow_watched();
            let voters = m.membership_config.membership().voter_ids().count();
            (
                m.current_term,
                m.current_leader == Some(self.shared.node_id) && voters == 1,
            )
        };
        let confirmed = *self
            .shared
            .confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sole_leader && let Some(leader) = confirmed.filter(|l| l.term == term) {
            return Ok(leader);
        }
        let confirmed = match self
            .shared
            .raft
            .ensure_linearizable(ReadPolicy::LeaseRead)
            .await
        {
            Ok(read) => Ok(read),
            Err(e) if e.forward_to_leader().is_some() => return Err(Error::NotLeader),
            Err(_) => {
                // A ReadIndex round; one that finds no quorum right now (a
                // voter just added, a peer reconnecting) is tried again
                // until the deadline rather than failing the statement.
                let deadline = tokio::time::Instant::now() + QUORUM_TIMEOUT;
                loop {
                    let read_index = self.shared.raft.ensure_linearizable(ReadPolicy::ReadIndex);
                    match tokio::time::timeout_at(deadline, read_index).await {
                        Ok(Err(e))
                            if e.forward_to_leader().is_none()
                                && tokio::time::Instant::now() + QUORUM_RETRY < deadline =>
                        {
                            tracing::debug!(error = %e, "leadership not confirmed yet; again");
                            tokio::time::sleep(QUORUM_RETRY).await;
                        }
                        Ok(confirmed) => break confirmed,
                        Err(_) => {
                            return Err(Error::LeadershipLost(format!(
                                "no quorum confirmed this leader within {QUORUM_TIMEOUT:?}"
                            )));
                        }
                    }
                }
            }
        };
        match confirmed {
            Ok(read) => {
                let leader = *read.committed_leader_id();
                *self
                    .shared
                    .confirmed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(leader);
                Ok(leader)
            }
            Err(e) if e.forward_to_leader().is_some() => Err(Error::NotLeader),
            Err(e) => Err(Error::LeadershipLost(e.to_string())),
        }
    }
}

/// Steps a statement until it is done; returns whether it yielded rows.
fn run_to_completion(stmt: &mut rusqlite::Statement<'_>) -> Result<bool> {
    let mut rows = stmt.raw_query();
    let mut yielded = false;
    while rows.next()?.is_some() {
        yielded = true;
    }
    Ok(yielded)
}

fn check_param_count(
    stmt: &rusqlite::Statement<'_>,
    params: &[Value],
    message: &str,
) -> Result<()> {
    if params.len() > stmt.parameter_count() {
        return Err(Error::Sqlite {
            code: rusqlite::ffi::SQLITE_RANGE,
            message: message.into(),
        });
    }
    Ok(())
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing rolls back an open transaction: a waiting writer may go.
        self.shared.busy.released.notify_waiters();
    }
}

/// The names of a statement's result columns.
fn column_names(stmt: &rusqlite::Statement<'_>) -> Vec<String> {
    stmt.column_names().map(str::to_owned).collect()
}
