//! A client's handle on one database: one SQLite connection, driven
//! directly by the task that owns the session (on a node's own thread,
//! every client connection's task). Every call that commits a write
//! transaction replicates its WAL frames through Raft before it returns.
//!
//! SQLite runs inline, between awaits, as in the C server's event loop: a
//! point query costs no thread switch. Each synchronous stretch of SQLite
//! work holds the node's SQL lock ([`crate::sql::SqlLock`]), so sessions
//! used from other threads never drive the VFS concurrently; no lock is
//! held across an await. A query's rows are produced one ROWS message at a
//! time, each sent before the next is stepped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dqlite_protocol::Value;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::node::Raft;
use crate::raft::typ::Command;
use crate::sql::SqlLock;
use crate::sql::rows::{bind, column_kinds, next_batch};
use crate::sql::split::first_statement_cached;
use crate::vfs::{Frames, Vfs};

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

/// One SQLite connection to a database of a node.
///
/// A session is `Send` but not `Sync`, and its futures are not `Send`:
/// drive it from one task (on a current-thread runtime, or a `LocalSet`).
pub struct Session {
    node_id: u64,
    raft: Raft,
    barrier_term: Arc<AtomicU64>,
    vfs: Vfs,
    lock: SqlLock,
    busy: BusyWait,
    conn: Connection,
    db: String,
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

/// Longest pause between retries when no release is signalled.
const MAX_BUSY_PAUSE: Duration = Duration::from_millis(16);

/// Where a query's ROWS messages go.
type RowsSink = mpsc::Sender<Bytes>;

impl Session {
    pub(crate) fn open(
        node_id: u64,
        raft: Raft,
        barrier_term: Arc<AtomicU64>,
        vfs: Vfs,
        lock: SqlLock,
        busy: BusyWait,
        db: &str,
    ) -> Result<Self> {
        let conn = {
            let _sql = lock.hold();
            vfs.open(db)?
        };
        Ok(Self {
            node_id,
            raft,
            barrier_term,
            vfs,
            lock,
            busy,
            conn,
            db: db.to_owned(),
        })
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
        let first = {
            let _sql = self.lock.hold();
            first_statement_cached(&self.conn, sql)?.ok_or(Error::EmptyStatement)?
        };
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
        self.barrier().await?;
        let mut stmt = {
            let _sql = self.lock.hold();
            let mut stmt = self.conn.prepare_cached(stmt_sql)?;
            if stmt.column_count() == 0 {
                return Err(Error::NoColumns);
            }
            check_param_count(&stmt, &params, "column index out of range")?;
            bind(&mut stmt, &params)?;
            stmt
        };
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
        loop {
            let (batch, done) = {
                let _sql = self.lock.hold();
                next_batch(&mut rows, &names, &kinds)?
            };
            sink.send(batch).await.map_err(|_| Error::ShuttingDown)?;
            if done {
                return Ok(());
            }
        }
    }

    /// A standalone image of the database (DUMP): every page, with the WAL
    /// folded in.
    pub async fn dump(&self) -> Result<Vec<u8>> {
        let _sql = self.lock.hold();
        let mut dst = Connection::open_in_memory()?;
        rusqlite::backup::Backup::new(&self.conn, &mut dst)?.step(-1)?;
        let data = dst.serialize(rusqlite::MAIN_DB)?;
        Ok(data.to_vec())
    }

    /// Runs `job` on this session's connection, then replicates the write
    /// transaction it committed, if any, before returning its result. A
    /// job refused because another connection holds the write lock is run
    /// again when that may have changed, until the busy timeout.
    async fn run<R>(&self, mut job: impl FnMut(&Connection) -> Result<R>) -> Result<R> {
        let deadline = tokio::time::Instant::now() + self.busy.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            // Registered before the attempt, so a release during it counts.
            let released = self.busy.released.notified();
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
                    self.busy.released.notify_waiters();
                    return result;
                }
            }
        }
    }

    /// One attempt of [`run`](Self::run).
    async fn run_once<R>(&self, job: &mut impl FnMut(&Connection) -> Result<R>) -> Result<R> {
        self.barrier().await?;
        let (result, frames) = {
            let _sql = self.lock.hold();
            // Holding the SQL lock, no other connection runs: a pending
            // transaction that appears during this job is this job's; one
            // that was already there belongs to another session, whose
            // own call replicates it.
            let before = self.vfs.pending_tx(&self.db)?;
            let result = job(&self.conn);
            // Even a failed job may have committed (a RETURNING write
            // reported as an error, say).
            let after = self.vfs.pending_tx(&self.db)?;
            let frames = if after.is_some() && after != before {
                self.vfs.poll(&self.db)?
            } else {
                None
            };
            (result, frames)
        };
        if let Some(frames) = frames {
            self.replicate(frames).await?;
        }
        result
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
    async fn barrier(&self) -> Result<()> {
        use openraft::ReadPolicy;
        use openraft::async_runtime::WatchReceiver;
        let (term, sole_leader) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            let voters = m.membership_config.membership().voter_ids().count();
            (
                m.current_term,
                m.current_leader == Some(self.node_id) && voters == 1,
            )
        };
        if sole_leader && self.barrier_term.load(Ordering::Acquire) == term {
            return Ok(());
        }
        let confirmed = match self.raft.ensure_linearizable(ReadPolicy::LeaseRead).await {
            Ok(read) => Ok(read),
            Err(e) if e.forward_to_leader().is_some() => return Err(Error::NotLeader),
            Err(_) => {
                let read_index = self.raft.ensure_linearizable(ReadPolicy::ReadIndex);
                match tokio::time::timeout(QUORUM_TIMEOUT, read_index).await {
                    Ok(confirmed) => confirmed,
                    Err(_) => {
                        return Err(Error::LeadershipLost(format!(
                            "no quorum confirmed this leader within {QUORUM_TIMEOUT:?}"
                        )));
                    }
                }
            }
        };
        match confirmed {
            Ok(_) => {
                self.barrier_term.store(term, Ordering::Release);
                Ok(())
            }
            Err(e) if e.forward_to_leader().is_some() => Err(Error::NotLeader),
            Err(e) => Err(Error::LeadershipLost(e.to_string())),
        }
    }

    async fn replicate(&self, frames: Frames) -> Result<()> {
        let command = Command::Frames {
            db: self.db.clone(),
            origin: self.node_id,
            frames,
        };
        let written =
            match tokio::time::timeout(QUORUM_TIMEOUT, self.raft.client_write(command)).await {
                Ok(written) => written,
                Err(_) => {
                    // Still leader as far as Raft knows, but no quorum took the
                    // entry: its fate is open, so the transaction stays pending
                    // (holding the write lock) until Raft commits it (then it
                    // is published) or a new leader's log replaces it (then it
                    // is dropped). Nothing can be built on top of it meanwhile.
                    tracing::warn!(db = %self.db, "a write was not committed in time");
                    return Err(Error::LeadershipLost(format!(
                        "not committed by a quorum within {QUORUM_TIMEOUT:?}"
                    )));
                }
            };
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, db = %self.db, "replication failed");
                // The entry may or may not commit later; locally it must
                // not stay pending (it would hold the write lock forever).
                let aborted = {
                    let _sql = self.lock.hold();
                    self.vfs.abort(&self.db)
                };
                if let Err(abort) = aborted {
                    tracing::error!(%abort, "could not abort a pending transaction");
                }
                Err(if e.forward_to_leader().is_some() {
                    Error::NotLeader
                } else {
                    Error::LeadershipLost(e.to_string())
                })
            }
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
        self.busy.released.notify_waiters();
    }
}

/// The names of a statement's result columns.
fn column_names(stmt: &rusqlite::Statement<'_>) -> Vec<String> {
    stmt.column_names().map(str::to_owned).collect()
}
