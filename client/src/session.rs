//! The client core: one logical connection to the cluster's leader.
//!
//! A `Session` finds the leader (as go-dqlite does: LEADER on each known
//! node, follow the answer, check that the named node names itself), opens
//! the database, keeps the node list current from CLUSTER, and runs
//! requests. It reconnects on its own when the leader changes, and retries
//! a request only when it certainly did not run (a "not leader" answer, a
//! request that could not be sent) or when it only reads; a write whose
//! answer was lost is reported as [`Error::OutcomeUnknown`]. A transaction
//! open on a lost connection is gone: statements fail with
//! [`Error::TransactionLost`] until it is rolled back.
//!
//! Result sets stream: a query's first ROWS message is returned and the
//! rest stay on the socket until asked for. If another request must go out
//! first, the rest of the result is read into memory ("spilled") for its
//! reader; an abandoned result is cut short with INTERRUPT. Work that
//! cannot wait for an answer (FINALIZE of a dropped statement, ROLLBACK of
//! a dropped async transaction, INTERRUPT) is queued in [`Shared`] and
//! written in front of the next request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dqlite_protocol::codes::{LEGACY_NOT_LEADER, NOT_LEADER, SQLITE_ROW, is_leadership_error};
use dqlite_protocol::frame::Frame;
use dqlite_protocol::request::{
    Client, Cluster, Exec, ExecSql, Finalize, Interrupt, Open, Prepare, Query, QuerySql, Request,
};
use dqlite_protocol::response::{Response, ResponseType};
use dqlite_protocol::{Params, Role, Value};

use crate::config::Config;
use crate::sql::{SqlInfo, StmtKind};
use crate::wire::{Wire, decode, unexpected};
use crate::{Error, Result};

/// Attempts of one request across reconnections.
const MAX_ATTEMPTS: usize = 3;

/// The PART marker ends a ROWS message that more messages follow.
const PART: [u8; 8] = [0xee; 8];

/// State shared with the handles that cannot wait for the session (drops).
#[derive(Debug, Default)]
pub struct Shared {
    /// The last EXEC's last insert rowid.
    pub last_insert_rowid: AtomicI64,
    /// The last EXEC's count of changed rows.
    pub changes: AtomicU64,
    /// Whether a transaction is open, as far as the statements sent tell.
    pub in_transaction: AtomicBool,
    deferred: Mutex<Vec<Deferred>>,
}

impl Shared {
    /// Queues work for the next request.
    pub fn defer(&self, work: Deferred) {
        match self.deferred.lock() {
            Ok(mut queue) => queue.push(work),
            Err(poisoned) => poisoned.into_inner().push(work),
        }
    }

    fn take_deferred(&self) -> Vec<Deferred> {
        match self.deferred.lock() {
            Ok(mut queue) => std::mem::take(&mut *queue),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Whether work is queued for the next request.
    pub fn has_deferred(&self) -> bool {
        self.deferred.lock().map(|q| !q.is_empty()).unwrap_or(false)
    }
}

/// Work queued by a drop.
#[derive(Debug)]
pub enum Deferred {
    /// FINALIZE a statement prepared on connection `epoch`.
    Finalize {
        /// The connection it was prepared on ([`StmtHandle::epoch`]).
        epoch: u64,
        /// Its id there.
        id: u32,
    },
    /// Run SQL (a ROLLBACK) if the transaction is still open.
    Sql {
        /// The SQL, run with EXEC_SQL.
        sql: String,
    },
    /// Stop result set `ticket`.
    Abandon {
        /// [`Started::ticket`].
        ticket: u64,
    },
}

/// A statement prepared on the server.
#[derive(Debug, Clone)]
pub struct StmtHandle {
    /// The statement's id on the server.
    pub id: u32,
    /// The connection it lives on.
    pub epoch: u64,
    /// The server's parameter count.
    pub param_count: usize,
    /// Column names, when known (from a probe or a past query).
    pub columns: Option<Arc<[String]>>,
}

/// The first message of a result set.
#[derive(Debug)]
pub struct Started {
    /// Names the result set for [`Session::next_frame`] and [`Deferred::Abandon`].
    pub ticket: u64,
    /// The first ROWS message.
    pub frame: Frame,
    /// More messages follow.
    pub more: bool,
}

/// What an answer to a request means for retrying it.
enum Outcome {
    /// The answers, one per request.
    Done(Vec<Frame>),
    /// The request did not run (or only reads): try again after reconnecting.
    Retry(Error),
}

/// What is expected in front of the request's own answers.
enum Expect {
    Empty,
    Result(SqlInfo),
    UntilEmpty,
}

#[derive(Debug, Default)]
struct TxState {
    active: bool,
    /// The connection was lost while `active`.
    lost: bool,
    /// Open savepoints, and whether each one started the transaction.
    savepoints: Vec<(String, bool)>,
}

/// The client core; see the module docs.
#[derive(Debug)]
pub struct Session {
    config: Config,
    wire: Option<Wire>,
    epoch: u64,
    nodes: Vec<String>,
    leader: Option<String>,
    stream: Option<u64>,
    spilled: HashMap<u64, VecDeque<Result<Frame>>>,
    next_ticket: u64,
    tx: TxState,
    shared: Arc<Shared>,
}

impl Session {
    /// A session that has not connected yet.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            nodes: config.nodes.clone(),
            config,
            wire: None,
            epoch: 0,
            leader: None,
            stream: None,
            spilled: HashMap::new(),
            next_ticket: 1,
            tx: TxState::default(),
            shared: Arc::new(Shared::default()),
        })
    }

    /// The state shared with handles that cannot wait (drops).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The leader this session talks to, if connected.
    pub fn leader(&self) -> Option<&str> {
        self.wire.as_ref().map(Wire::address)
    }

    /// The nodes known from the last CLUSTER answer (voters first) and the
    /// configured ones.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    // ---- connecting -------------------------------------------------

    /// Connects to the leader unless connected.
    pub async fn connect(&mut self) -> Result<()> {
        if self.wire.is_some() {
            return Ok(());
        }
        let started = Instant::now();
        let deadline = started + self.config.connect_timeout;
        let mut pause = self.config.backoff;
        let mut last_error = String::from("no node was tried");
        loop {
            let mut candidates: Vec<String> = self.leader.iter().cloned().collect();
            for node in &self.nodes {
                if !candidates.contains(node) {
                    candidates.push(node.clone());
                }
            }
            for address in candidates {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                match tokio::time::timeout(remaining, self.try_node(&address)).await {
                    Ok(Ok(Some(wire))) => {
                        match tokio::time::timeout(remaining, self.open_on(wire)).await {
                            Ok(Ok(())) => return Ok(()),
                            Ok(Err(e)) => {
                                last_error = format!("opening the database on {address}: {e}")
                            }
                            Err(_) => {
                                last_error = format!("opening the database on {address}: timed out")
                            }
                        }
                    }
                    Ok(Ok(None)) => last_error = format!("{address} knows no leader"),
                    Ok(Err(e)) => last_error = format!("{address}: {e}"),
                    Err(_) => last_error = format!("{address}: timed out"),
                }
                tracing::debug!(%address, error = %last_error, "leader probe failed");
            }
            if Instant::now() + pause >= deadline {
                return Err(Error::NoLeader {
                    timeout: self.config.connect_timeout,
                    last_error,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.config.backoff_max);
        }
    }

    /// Asks `address` for the leader; returns a connection to the leader
    /// if `address` is it, or if the node it names confirms.
    async fn try_node(&self, address: &str) -> Result<Option<Wire>, String> {
        let (dial, timeout) = (self.config.dial_timeout, self.config.request_timeout);
        let mut wire = Wire::connect(address, dial, timeout)
            .await
            .map_err(|e| e.to_string())?;
        let named = wire.leader().await.map_err(|e| e.to_string())?;
        if named.address.is_empty() {
            return Ok(None);
        }
        if named.address == address {
            return Ok(Some(wire));
        }
        drop(wire);
        let leader = named.address;
        let confirm = async {
            let mut wire = Wire::connect(&leader, dial, timeout).await?;
            let confirmed = wire.leader().await?;
            Ok::<_, Error>((confirmed.address == leader).then_some(wire))
        };
        confirm
            .await
            .map_err(|e| format!("it names {leader} as the leader: {e}"))
    }

    /// CLIENT, OPEN and CLUSTER in one write; keeps the connection.
    async fn open_on(&mut self, mut wire: Wire) -> Result<()> {
        wire.push(&Request::from(Client { id: 0 }))?;
        wire.push(&Request::from(Open {
            name: self.config.database.clone(),
            flags: 0,
            vfs: "volatile".into(),
        }))?;
        wire.push(&Request::from(Cluster {
            format: Cluster::FORMAT_WITH_ROLES,
        }))?;
        wire.flush().await?;
        match decode(&wire.read().await?)? {
            Response::Welcome(_) => {}
            Response::Failure(f) => return Err(Error::failure(f.code, f.message)),
            other => return Err(unexpected("WELCOME", &other)),
        }
        match decode(&wire.read().await?)? {
            Response::Db(_) => {}
            Response::Failure(f) => return Err(Error::failure(f.code, f.message)),
            other => return Err(unexpected("DB", &other)),
        }
        match decode(&wire.read().await?)? {
            Response::Servers(servers) => {
                let mut nodes: Vec<(u8, String)> = servers
                    .nodes
                    .into_iter()
                    .map(|n| {
                        let rank = match n.role {
                            Some(Role::Voter) | None => 0,
                            Some(Role::StandBy) => 1,
                            Some(Role::Spare) => 2,
                        };
                        (rank, n.address)
                    })
                    .collect();
                nodes.sort_by_key(|(rank, _)| *rank);
                let mut list: Vec<String> = nodes.into_iter().map(|(_, a)| a).collect();
                for seed in &self.config.nodes {
                    if !list.contains(seed) {
                        list.push(seed.clone());
                    }
                }
                self.nodes = list;
            }
            Response::Failure(f) => {
                tracing::debug!(code = f.code, message = %f.message, "CLUSTER refused; keeping the node list");
            }
            other => return Err(unexpected("SERVERS", &other)),
        }
        tracing::debug!(leader = %wire.address(), nodes = ?self.nodes, "connected to the leader");
        self.leader = Some(wire.address().to_owned());
        self.wire = Some(wire);
        self.epoch += 1;
        Ok(())
    }

    /// Drops the connection after a failure.
    fn disconnect(&mut self, why: &Error) {
        if self.wire.take().is_some() {
            tracing::debug!(error = %why, "connection to the leader dropped");
        }
        if let Some(ticket) = self.stream.take() {
            self.spilled
                .entry(ticket)
                .or_default()
                .push_back(Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    format!("connection lost in the middle of a result set: {why}"),
                ))));
        }
        if self.tx.active {
            self.tx.lost = true;
        }
    }

    // ---- transaction tracking ---------------------------------------

    /// Refuses work in a lost transaction; `Ok(true)` means "nothing to
    /// send" (a ROLLBACK of a lost transaction).
    fn check_lost(&mut self, info: &SqlInfo) -> Result<bool> {
        if !self.tx.lost {
            return Ok(false);
        }
        let kind = info.statements.first().map(|s| &s.kind);
        match kind {
            Some(StmtKind::Rollback) => {
                self.end_transaction();
                Ok(true)
            }
            Some(StmtKind::Commit) => {
                self.end_transaction();
                Err(Error::TransactionLost)
            }
            Some(StmtKind::Release(name))
                if self
                    .tx
                    .savepoints
                    .first()
                    .is_some_and(|(n, started)| *started && n.eq_ignore_ascii_case(name)) =>
            {
                self.end_transaction();
                Err(Error::TransactionLost)
            }
            _ => Err(Error::TransactionLost),
        }
    }

    fn end_transaction(&mut self) {
        self.tx = TxState::default();
        self.shared.in_transaction.store(false, Ordering::Relaxed);
    }

    /// Follows the statements that ran successfully.
    fn track(&mut self, info: &SqlInfo) {
        for statement in &info.statements {
            match &statement.kind {
                StmtKind::Begin => self.tx.active = true,
                StmtKind::Commit | StmtKind::Rollback => self.end_transaction(),
                StmtKind::Savepoint(name) => {
                    let starts = !self.tx.active;
                    self.tx.active = true;
                    self.tx.savepoints.push((name.clone(), starts));
                }
                StmtKind::Release(name) => {
                    if let Some(i) = self.find_savepoint(name) {
                        let started = self.tx.savepoints[i].1;
                        self.tx.savepoints.truncate(i);
                        if started {
                            self.end_transaction();
                        }
                    }
                }
                StmtKind::RollbackTo(name) => {
                    if let Some(i) = self.find_savepoint(name) {
                        self.tx.savepoints.truncate(i + 1);
                    }
                }
                StmtKind::Read | StmtKind::Other => {}
            }
        }
        self.shared
            .in_transaction
            .store(self.tx.active, Ordering::Relaxed);
    }

    fn find_savepoint(&self, name: &str) -> Option<usize> {
        self.tx
            .savepoints
            .iter()
            .rposition(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    // ---- one exchange -------------------------------------------------

    /// Writes the deferred work and `requests` in one go and reads their
    /// answers. Classifies failures for retrying.
    async fn attempt(
        &mut self,
        requests: &[Request],
        read_only: bool,
        commit: bool,
    ) -> Result<Outcome> {
        let in_tx = self.tx.active;
        let result = self.exchange(requests).await;
        match result {
            Ok(frames) => {
                let Some(first) = frames.first() else {
                    return Ok(Outcome::Done(frames));
                };
                if first.header.kind != ResponseType::Failure.code() {
                    return Ok(Outcome::Done(frames));
                }
                let Response::Failure(failure) = decode(first)? else {
                    return Err(Error::Protocol("undecodable FAILURE".into()));
                };
                if !is_leadership_error(failure.code) {
                    return Err(Error::failure(failure.code, failure.message));
                }
                let not_leader = matches!(failure.code, NOT_LEADER | LEGACY_NOT_LEADER);
                let error = if not_leader {
                    Error::NotLeader(failure.message)
                } else {
                    Error::OutcomeUnknown(format!("leadership lost ({})", failure.message))
                };
                self.disconnect(&error);
                if in_tx {
                    if commit {
                        // The transaction is over, committed or not.
                        self.end_transaction();
                    }
                    return Err(if not_leader || !commit {
                        Error::TransactionLost
                    } else {
                        error
                    });
                }
                if not_leader || read_only {
                    return Ok(Outcome::Retry(error));
                }
                Err(error)
            }
            Err(Failed::Local(e)) => Err(e),
            Err(Failed::NotSent(e)) => {
                self.disconnect(&e);
                if in_tx {
                    tracing::debug!(error = %e, "transaction lost with the connection");
                    if commit {
                        self.end_transaction();
                    }
                    return Err(Error::TransactionLost);
                }
                Ok(Outcome::Retry(e))
            }
            Err(Failed::Lost(e)) => {
                self.disconnect(&e);
                if in_tx && !commit {
                    // Nothing of the transaction was committed.
                    tracing::debug!(error = %e, "transaction lost with the connection");
                    return Err(Error::TransactionLost);
                }
                if in_tx {
                    self.end_transaction();
                }
                if read_only && !in_tx {
                    return Ok(Outcome::Retry(e));
                }
                if read_only {
                    return Err(e);
                }
                Err(Error::OutcomeUnknown(e.to_string()))
            }
        }
    }

    /// The raw exchange (see [`attempt`](Self::attempt)).
    async fn exchange(&mut self, requests: &[Request]) -> Result<Vec<Frame>, Failed> {
        // An abandoned result set still on the socket is cut short with
        // INTERRUPT; one still wanted is read ahead for its reader.
        let mut interrupt = false;
        let mut deferred = Vec::new();
        for work in self.shared.take_deferred() {
            match work {
                Deferred::Abandon { ticket } if self.stream == Some(ticket) => {
                    self.stream = None;
                    interrupt = true;
                }
                Deferred::Abandon { ticket } => {
                    self.spilled.remove(&ticket);
                }
                other => deferred.push(other),
            }
        }
        let early = match self.settle_stream().await {
            Err(e) => Some(e),
            Ok(()) if self.wire.is_none() => Some(Error::Protocol("not connected".into())),
            Ok(()) if interrupt => None,
            Ok(()) => self
                .wire
                .as_ref()
                .and_then(Wire::closed_while_idle)
                .map(|why| {
                    Error::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        why,
                    ))
                }),
        };
        if let Some(e) = early {
            // The connection is unusable: the queued work dies with it, but
            // a queued ROLLBACK still ends the transaction here.
            self.disconnect(&e);
            for work in deferred {
                if let Deferred::Sql { sql } = work {
                    self.track(&SqlInfo::new(&sql));
                }
            }
            return Err(Failed::NotSent(e));
        }
        let epoch = self.epoch;
        let in_open_tx = self.tx.active && !self.tx.lost;
        let Some(wire) = self.wire.as_mut() else {
            return Err(Failed::NotSent(Error::Protocol("not connected".into())));
        };
        let mut expects = Vec::new();
        let mut skipped_tracking = Vec::new();
        if interrupt && wire.push(&Request::from(Interrupt { db_id: 0 })).is_ok() {
            expects.push(Expect::UntilEmpty);
        }
        for work in deferred {
            match work {
                Deferred::Finalize { epoch: e, id } if e == epoch => {
                    if wire
                        .push(&Request::from(Finalize {
                            db_id: 0,
                            stmt_id: id,
                        }))
                        .is_ok()
                    {
                        expects.push(Expect::Empty);
                    }
                }
                Deferred::Sql { sql } if in_open_tx => {
                    let request = Request::from(ExecSql {
                        db_id: 0,
                        sql: sql.clone(),
                        params: Params::default(),
                    });
                    if wire.push(&request).is_ok() {
                        expects.push(Expect::Result(SqlInfo::new(&sql)));
                    }
                }
                Deferred::Sql { sql, .. } => skipped_tracking.push(SqlInfo::new(&sql)),
                Deferred::Finalize { .. } | Deferred::Abandon { .. } => {}
            }
        }
        let mut pushed = 0;
        let mut local_error = None;
        for request in requests {
            if let Err(e) = wire.push(request) {
                local_error = Some(e);
                break;
            }
            pushed += 1;
        }
        if pushed == 0
            && expects.is_empty()
            && let Some(e) = local_error
        {
            return Err(Failed::Local(e));
        }
        wire.flush().await.map_err(Failed::NotSent)?;
        for expect in expects {
            match expect {
                Expect::Empty => {
                    let frame = wire.read().await.map_err(Failed::Lost)?;
                    if frame.header.kind == ResponseType::Failure.code() {
                        tracing::debug!(answer = ?decode(&frame).ok(), "deferred FINALIZE failed");
                    }
                }
                Expect::Result(info) => {
                    let frame = wire.read().await.map_err(Failed::Lost)?;
                    if frame.header.kind == ResponseType::Result.code() {
                        skipped_tracking.push(info);
                    } else {
                        tracing::warn!(answer = ?decode(&frame).ok(), "deferred statement failed");
                    }
                }
                Expect::UntilEmpty => loop {
                    let frame = wire.read().await.map_err(Failed::Lost)?;
                    if frame.header.kind == ResponseType::Empty.code() {
                        break;
                    }
                },
            }
        }
        let mut frames = Vec::with_capacity(pushed);
        for _ in 0..pushed {
            frames.push(wire.read().await.map_err(Failed::Lost)?);
        }
        for info in skipped_tracking {
            self.track(&info);
        }
        if let Some(e) = local_error {
            return Err(Failed::Local(e));
        }
        Ok(frames)
    }

    /// Reads the rest of a result set still on the socket into memory,
    /// so that another request can go out.
    async fn settle_stream(&mut self) -> Result<()> {
        let Some(ticket) = self.stream else {
            return Ok(());
        };
        let Some(wire) = self.wire.as_mut() else {
            self.stream = None;
            return Ok(());
        };
        let mut frames = VecDeque::new();
        let result = loop {
            match wire.read().await {
                Ok(frame) => {
                    let end = frame.header.kind != ResponseType::Rows.code()
                        || !frame.body.ends_with(&PART);
                    frames.push_back(Ok(frame));
                    if end {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.stream = None;
        let spilled = self.spilled.entry(ticket).or_default();
        spilled.extend(frames);
        if let Err(e) = result {
            let message = e.to_string();
            self.disconnect(&e);
            self.spilled
                .entry(ticket)
                .or_default()
                .push_back(Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    message.clone(),
                ))));
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                message,
            )));
        }
        tracing::trace!(ticket, "result set read ahead to send another request");
        Ok(())
    }

    /// Sends the deferred work now (after an async drop).
    pub async fn flush_deferred(&mut self) {
        if self.wire.is_none() || !self.shared.has_deferred() {
            return;
        }
        if let Err(e) = self.exchange(&[]).await {
            let e = match e {
                Failed::Local(e) | Failed::NotSent(e) | Failed::Lost(e) => e,
            };
            self.disconnect(&e);
        }
    }

    // ---- operations ---------------------------------------------------

    /// EXEC_SQL of `sql` (all its statements) with `values`.
    pub async fn exec_sql(&mut self, sql: &str, info: &SqlInfo, values: Vec<Value>) -> Result<u64> {
        if self.check_lost(info)? {
            return Ok(0);
        }
        let commit = commits(info);
        let request = Request::from(ExecSql {
            db_id: 0,
            sql: sql.to_owned(),
            params: Params::new(values),
        });
        let frames = self
            .with_retries(
                |_| Some(vec![request.clone()]),
                info.is_read_only(),
                commit,
                None,
            )
            .await?;
        self.finish_exec(frames, info)
    }

    /// EXEC of a prepared statement.
    pub async fn exec_stmt(
        &mut self,
        sql: &str,
        info: &SqlInfo,
        handle: &mut StmtHandle,
        values: Vec<Value>,
    ) -> Result<u64> {
        if self.check_lost(info)? {
            return Ok(0);
        }
        let commit = commits(info);
        let params = Params::new(values);
        let frames = self
            .with_retries(
                |h| {
                    h.map(|h| {
                        vec![Request::from(Exec {
                            db_id: 0,
                            stmt_id: h.id,
                            params: params.clone(),
                        })]
                    })
                },
                info.is_read_only(),
                commit,
                Some((sql, handle)),
            )
            .await?;
        self.finish_exec(frames, info)
    }

    fn finish_exec(&mut self, frames: Vec<Frame>, info: &SqlInfo) -> Result<u64> {
        let frame = frames
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol("no answer".into()))?;
        match decode(&frame)? {
            Response::Result(result) => {
                self.track(info);
                self.shared
                    .last_insert_rowid
                    .store(wire_i64(result.last_insert_id), Ordering::Relaxed);
                self.shared
                    .changes
                    .store(result.rows_affected, Ordering::Relaxed);
                Ok(result.rows_affected)
            }
            other => Err(unexpected("RESULT", &other)),
        }
    }

    /// QUERY_SQL of the first statement of `sql`.
    pub async fn query_sql(
        &mut self,
        sql: &str,
        info: &SqlInfo,
        values: Vec<Value>,
    ) -> Result<Started> {
        self.check_lost(info)?;
        let request = Request::from(QuerySql {
            db_id: 0,
            sql: sql.to_owned(),
            params: Params::new(values),
        });
        let frames = self
            .with_retries(
                |_| Some(vec![request.clone()]),
                info.is_read_only(),
                commits(info),
                None,
            )
            .await?;
        self.start_rows(frames, info)
    }

    /// QUERY of a prepared statement.
    pub async fn query_stmt(
        &mut self,
        sql: &str,
        info: &SqlInfo,
        handle: &mut StmtHandle,
        values: Vec<Value>,
    ) -> Result<Started> {
        self.check_lost(info)?;
        let params = Params::new(values);
        let frames = self
            .with_retries(
                |h| {
                    h.map(|h| {
                        vec![Request::from(Query {
                            db_id: 0,
                            stmt_id: h.id,
                            params: params.clone(),
                        })]
                    })
                },
                info.is_read_only(),
                commits(info),
                Some((sql, handle)),
            )
            .await?;
        let started = self.start_rows(frames, info)?;
        Ok(started)
    }

    fn start_rows(&mut self, frames: Vec<Frame>, info: &SqlInfo) -> Result<Started> {
        let frame = frames
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol("no answer".into()))?;
        if frame.header.kind != ResponseType::Rows.code() {
            return Err(unexpected("ROWS", &decode(&frame)?));
        }
        // A query can be a write (`… RETURNING`) or a savepoint statement.
        self.track(info);
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let more = frame.body.ends_with(&PART);
        if more {
            self.stream = Some(ticket);
        }
        Ok(Started {
            ticket,
            frame,
            more,
        })
    }

    /// The next message of result set `ticket`.
    pub async fn next_frame(&mut self, ticket: u64) -> Result<Frame> {
        if let Some(queue) = self.spilled.get_mut(&ticket) {
            let next = queue.pop_front();
            if queue.is_empty() {
                self.spilled.remove(&ticket);
            }
            return rows_or_failure(
                next.unwrap_or_else(|| Err(Error::Protocol("result set ended".into())))?,
            );
        }
        if self.stream != Some(ticket) {
            return Err(Error::Protocol(
                "the result set is no longer available".into(),
            ));
        }
        let Some(wire) = self.wire.as_mut() else {
            return Err(Error::Protocol("not connected".into()));
        };
        match wire.read().await {
            Ok(frame) => {
                if frame.header.kind != ResponseType::Rows.code() || !frame.body.ends_with(&PART) {
                    self.stream = None;
                }
                rows_or_failure(frame)
            }
            Err(e) => {
                let message = e.to_string();
                self.stream = None;
                self.disconnect(&e);
                Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    format!("connection lost in the middle of a result set: {message}"),
                )))
            }
        }
    }

    /// PREPARE, with a column probe for queries (`SELECT * FROM (…) LIMIT 0`
    /// in the same write: it lists the columns without running anything).
    pub async fn prepare(&mut self, sql: &str, info: &SqlInfo) -> Result<StmtHandle> {
        let mut handle = StmtHandle {
            id: 0,
            epoch: 0,
            param_count: 0,
            columns: None,
        };
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            self.connect().await?;
            match self.prepare_once(sql, info, &mut handle).await? {
                None => return Ok(handle),
                Some(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::Protocol("no attempt".into())))
    }

    /// One PREPARE attempt; `Some(error)` means "retry".
    async fn prepare_once(
        &mut self,
        sql: &str,
        info: &SqlInfo,
        handle: &mut StmtHandle,
    ) -> Result<Option<Error>> {
        let mut requests = vec![Request::from(Prepare {
            db_id: 0,
            sql: sql.to_owned(),
            schema: Default::default(),
        })];
        if info.first_is_select()
            && let Some(first) = info.statements.first()
        {
            requests.push(Request::from(QuerySql {
                db_id: 0,
                sql: format!("SELECT * FROM ({}) LIMIT 0", &sql[first.span.clone()]),
                params: Params::new(vec![Value::Null; info.params.count]),
            }));
        }
        match self.attempt(&requests, true, false).await? {
            Outcome::Retry(e) => Ok(Some(e)),
            Outcome::Done(frames) => {
                let mut frames = frames.into_iter();
                let stmt = frames
                    .next()
                    .ok_or_else(|| Error::Protocol("no answer".into()))?;
                let Response::Stmt(stmt) = decode(&stmt)? else {
                    return Err(Error::Protocol(
                        "PREPARE answered with something else than STMT".into(),
                    ));
                };
                handle.id = stmt.stmt_id;
                handle.epoch = self.epoch;
                handle.param_count = usize::try_from(stmt.params)
                    .map_err(|_| Error::Protocol(format!("{} parameters", stmt.params)))?;
                if let Some(probe) = frames.next() {
                    if probe.header.kind == ResponseType::Rows.code() {
                        if probe.body.ends_with(&PART) {
                            let ticket = self.next_ticket;
                            self.next_ticket += 1;
                            self.stream = Some(ticket);
                            self.shared.defer(Deferred::Abandon { ticket });
                        }
                        if let Ok(reader) = dqlite_protocol::response::RowsReader::new(&probe.body)
                        {
                            handle.columns =
                                Some(reader.columns().iter().map(|c| (*c).to_owned()).collect());
                        }
                    } else {
                        tracing::trace!("column probe failed; columns known after the first query");
                    }
                }
                Ok(None)
            }
        }
    }

    /// Runs `build`'s requests with reconnection and retries; for a
    /// prepared statement, prepares it again on a new connection first.
    async fn with_retries(
        &mut self,
        build: impl Fn(Option<&StmtHandle>) -> Option<Vec<Request>>,
        read_only: bool,
        commit: bool,
        mut stmt: Option<(&str, &mut StmtHandle)>,
    ) -> Result<Vec<Frame>> {
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            self.connect().await?;
            if let Some((sql, handle)) = stmt.as_mut()
                && handle.epoch != self.epoch
            {
                let info = SqlInfo::new(sql);
                let columns = handle.columns.clone();
                if let Some(e) = self.prepare_once(sql, &info, handle).await? {
                    last = Some(e);
                    continue;
                }
                handle.columns = handle.columns.take().or(columns);
            }
            let requests = build(stmt.as_ref().map(|(_, h)| &**h))
                .ok_or_else(|| Error::Protocol("nothing to send".into()))?;
            match self.attempt(&requests, read_only, commit).await? {
                Outcome::Done(frames) => return Ok(frames),
                Outcome::Retry(e) => {
                    tracing::debug!(error = %e, "retrying on the new leader");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(Error::Protocol("no attempt".into())))
    }

    /// FINALIZE now.
    pub async fn finalize(&mut self, handle: &StmtHandle) -> Result<()> {
        if handle.epoch != self.epoch || self.wire.is_none() {
            return Ok(());
        }
        match self
            .attempt(
                &[Request::from(Finalize {
                    db_id: 0,
                    stmt_id: handle.id,
                })],
                true,
                false,
            )
            .await?
        {
            Outcome::Done(frames) => match frames.first().map(decode).transpose()? {
                Some(Response::Empty(_)) => Ok(()),
                Some(other) => Err(unexpected("EMPTY", &other)),
                None => Err(Error::Protocol("no answer".into())),
            },
            // The connection is gone, and the statement with it.
            Outcome::Retry(_) => Ok(()),
        }
    }
}

/// Why an exchange failed.
enum Failed {
    /// The requests could not be encoded; the connection is fine.
    Local(Error),
    /// Nothing of the request reached the server.
    NotSent(Error),
    /// The request was sent; its answer was lost.
    Lost(Error),
}

/// Whether a statement's success commits (COMMIT, END, RELEASE): its lost
/// answer leaves the outcome unknown even inside a transaction.
fn commits(info: &SqlInfo) -> bool {
    info.statements
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Commit | StmtKind::Release(_)))
}

/// A ROWS frame, or the error a FAILURE frame carries.
fn rows_or_failure(frame: Frame) -> Result<Frame> {
    if frame.header.kind == ResponseType::Rows.code() {
        return Ok(frame);
    }
    match decode(&frame)? {
        Response::Failure(f) => Err(Error::failure(f.code, f.message)),
        other => Err(unexpected("ROWS", &other)),
    }
}

/// Reinterprets the bits of a wire `u64` as the `i64` SQLite stored.
pub fn wire_i64(v: u64) -> i64 {
    i64::from_le_bytes(v.to_le_bytes())
}

/// Whether a ROWS message says that more messages of its result set follow.
pub fn has_more(frame: &Frame) -> bool {
    frame.header.kind == ResponseType::Rows.code() && frame.body.ends_with(&PART)
}

/// Whether a FAILURE says that the statement returned rows where none were
/// expected (EXEC of a query).
pub fn is_rows_yielded(code: u64, message: &str) -> bool {
    code == SQLITE_ROW || message.starts_with("rows yielded when none expected")
}
