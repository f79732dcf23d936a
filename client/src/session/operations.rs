//! The operations drivers call: EXEC and QUERY (of SQL text or of a
//! prepared statement), PREPARE with its column probe, FINALIZE, the
//! further messages of a streamed result set, and DUMP (for backups). Each goes through the retry
//! loop ([`Session::with_retries`]).

use std::sync::atomic::Ordering;

use dqlite_protocol::frame::Frame;
use dqlite_protocol::request::{Dump, Exec, ExecSql, Finalize, Prepare, Query, QuerySql, Request};
use dqlite_protocol::response::{Response, ResponseType};
use dqlite_protocol::{Params, Value};

use super::exchange::Outcome;
use super::transaction::commits;
use super::{Deferred, MAX_ATTEMPTS, Session, Started, StmtHandle, ends_with_part, wire_i64};
use crate::sql::SqlInfo;
use crate::wire::{Wire, decode, unexpected};
use crate::{Error, Result};

impl Session {
    /// EXEC_SQL of `sql` (all its statements) with `values`.
    pub async fn exec_sql(&mut self, sql: &str, info: &SqlInfo, values: Vec<Value>) -> Result<u64> {
        if self.check_lost(info)? {
            return Ok(0);
        }
        let frames = self.run_sql(sql, info, values, false).await?;
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
        let frames = self.run_prepared(sql, info, handle, values, false).await?;
        self.finish_exec(frames, info)
    }

    pub(super) fn finish_exec(&mut self, frames: Vec<Frame>, info: &SqlInfo) -> Result<u64> {
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
        let frames = self.run_sql(sql, info, values, true).await?;
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
        let frames = self.run_prepared(sql, info, handle, values, true).await?;
        let started = self.start_rows(frames, info)?;
        Ok(started)
    }

    /// EXEC_SQL (or QUERY_SQL, if `query`) of `sql`, through the retry
    /// loop.
    async fn run_sql(
        &mut self,
        sql: &str,
        info: &SqlInfo,
        values: Vec<Value>,
        query: bool,
    ) -> Result<Vec<Frame>> {
        let (sql, params) = (sql.to_owned(), Params::new(values));
        let request = if query {
            Request::from(QuerySql {
                db_id: 0,
                sql,
                params,
            })
        } else {
            Request::from(ExecSql {
                db_id: 0,
                sql,
                params,
            })
        };
        self.with_retries(
            |_| Some(vec![request.clone()]),
            info.is_read_only(),
            commits(info),
            None,
        )
        .await
    }

    /// EXEC (or QUERY, if `query`) of a prepared statement, through the
    /// retry loop (which prepares it again on a new connection).
    async fn run_prepared(
        &mut self,
        sql: &str,
        info: &SqlInfo,
        handle: &mut StmtHandle,
        values: Vec<Value>,
        query: bool,
    ) -> Result<Vec<Frame>> {
        let params = Params::new(values);
        let request = |stmt_id| {
            let params = params.clone();
            if query {
                Request::from(Query {
                    db_id: 0,
                    stmt_id,
                    params,
                })
            } else {
                Request::from(Exec {
                    db_id: 0,
                    stmt_id,
                    params,
                })
            }
        };
        self.with_retries(
            |h| h.map(|h| vec![request(h.id)]),
            info.is_read_only(),
            commits(info),
            Some((sql, handle)),
        )
        .await
    }

    pub(super) fn start_rows(&mut self, frames: Vec<Frame>, info: &SqlInfo) -> Result<Started> {
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
        let more = ends_with_part(&frame.body);
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
                if frame.header.kind != ResponseType::Rows.code() || !ends_with_part(&frame.body) {
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
    pub(super) async fn prepare_once(
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
                        if ends_with_part(&probe.body) {
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
    pub(super) async fn with_retries(
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

    /// DUMP of the session's database on the leader, as `go-dqlite`'s
    /// client sends it: on a connection of its own that does not OPEN the
    /// database (opening a name creates that database), so a name the
    /// leader does not have stays unknown. A node answers from its own
    /// copy without checking that it still leads, so the image is the
    /// leader's as of when it answered. The whole answer must fit in
    /// [`Config::max_response`](crate::Config::max_response). A lost
    /// connection is retried (DUMP only reads).
    ///
    /// A database the leader does not have is [`Error::Failure`] with
    /// [`DQLITE_NOTFOUND`](dqlite_protocol::codes::DQLITE_NOTFOUND) from
    /// this server and recent C dqlite, and two empty files from C dqlite
    /// before 1.18.
    pub async fn dump(&mut self) -> Result<Dumped> {
        let request = Request::from(Dump {
            name: self.config.database.clone(),
        });
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            let mut wire = self.bare_leader().await?;
            match dump_on(&mut wire, &request).await {
                Ok(files) => {
                    return Ok(Dumped {
                        leader: wire.address().to_owned(),
                        files,
                    });
                }
                Err(e @ Error::Io(_)) => {
                    tracing::debug!(error = %e, "DUMP: connection lost, trying again");
                    last = Some(e);
                }
                Err(e) => return Err(e),
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

/// A database image the leader sent ([`Session::dump`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dumped {
    /// The node that answered: the leader when it answered.
    pub leader: String,
    /// The files, each as `(name, content)`: the main database file, then
    /// its WAL.
    pub files: Vec<(String, Vec<u8>)>,
}

/// One DUMP request and its FILES answer on `wire`.
async fn dump_on(wire: &mut Wire, request: &Request) -> Result<Vec<(String, Vec<u8>)>> {
    wire.push(request)?;
    wire.flush().await?;
    match decode(&wire.read().await?)? {
        Response::Files(files) => Ok(files
            .files
            .into_iter()
            .map(|file| (file.name, file.data))
            .collect()),
        Response::Failure(f) => Err(Error::failure(f.code, f.message)),
        other => Err(unexpected("FILES", &other)),
    }
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
