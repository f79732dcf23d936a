//! The dqlite request handlers of one client connection.
//!
//! [`Gateway::handle`] takes one request frame and writes its answer (one
//! message, or a stream of ROWS messages) to the connection. Checks run in
//! dqlite's order (spec §7.1): schema and fixed fields, leadership,
//! database, statement, parameters, then execution. Failures carry
//! dqlite's codes and messages; where the C server crashes or hangs, a
//! clean failure is sent instead (see the README's table of deliberate
//! differences).
//!
//! A connection whose peer has no admin certificate ([`Access::Restricted`],
//! with `--tls-admin-ca`) gets `FAILURE(SQLITE_AUTH, "permission denied:
//! ADD needs a certificate from the admin CA")` (the request's name in
//! it) for ADD, ASSIGN, REMOVE, TRANSFER and WEIGHT, before any other
//! check, whichever node it asks; the connection stays usable.

mod cluster;
mod registry;

use bytes::{Bytes, BytesMut};
use dqlite_protocol::codes;
use dqlite_protocol::request::{self as req, Request, RequestType};
use dqlite_protocol::response::{self as resp, NodeInfo, Response};
use dqlite_protocol::{DecodeError, Frame, ProtocolVersion, Role, Schema};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub(crate) use self::cluster::Cluster;
use self::registry::Registry;
use crate::error::Error;
use crate::metrics::{Held, Metrics, Outcome};
use crate::session::Session;
use crate::tls::Access;

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    Continue,
    /// Close the connection (unreadable request, or a node-to-node CONNECT).
    Close,
}

/// A prepared statement of the connection.
#[derive(Debug)]
struct Statement {
    sql: String,
    /// Its share of the node's [`StatementBudget`], returned when the
    /// statement is finalized or the connection closes.
    _held: tokio::sync::OwnedSemaphorePermit,
    /// Its unit of the node's prepared-statements gauge.
    _counted: Held,
}

/// Bytes of prepared SQL the connections of a node hold at once, at most:
/// together with the per-connection count limit, this bounds the memory
/// prepared statements take however large each one is.
pub const STATEMENT_BYTES: usize = 256 * 1024 * 1024;

/// The node-wide budget of prepared SQL bytes ([`STATEMENT_BYTES`]).
pub(crate) type StatementBudget = std::sync::Arc<tokio::sync::Semaphore>;

/// A fresh [`StatementBudget`].
pub(crate) fn statement_budget() -> StatementBudget {
    std::sync::Arc::new(tokio::sync::Semaphore::new(STATEMENT_BYTES))
}

/// State of one client connection to the node `N`.
pub(crate) struct Gateway<N> {
    node: N,
    version: ProtocolVersion,
    session: Option<Session>,
    statements: Registry<Statement>,
    /// Prepared statements a connection may hold at once.
    max_statements: usize,
    statement_bytes: StatementBudget,
    /// What the peer may do (decided by its certificate).
    access: Access,
    /// The node's metrics (requests and prepared statements counted).
    metrics: std::sync::Arc<Metrics>,
}

/// What a request's answer did: the connection's next step and how the
/// request ended (for the metrics).
type Sent = (Next, Outcome);

/// A failure answer.
fn failure(code: u64, message: impl Into<String>) -> Response {
    Response::Failure(resp::Failure::new(code, message))
}

fn no_database() -> Response {
    failure(codes::SQLITE_NOTFOUND, "no database opened")
}

fn no_statement() -> Response {
    failure(codes::SQLITE_NOTFOUND, "no statement with the given id")
}

fn from_error(e: &Error) -> Response {
    let (code, message) = e.failure();
    failure(code, message)
}

fn result(outcome: crate::session::ExecOutcome) -> Response {
    Response::Result(resp::ExecResult {
        last_insert_id: outcome.last_insert_id.cast_unsigned(),
        rows_affected: outcome.rows_affected,
    })
}

/// The name of a request that changes the cluster, which only an admin
/// may send; `None` for the others.
fn admin_only(kind: u8) -> Option<&'static str> {
    Some(match RequestType::from_code(kind)? {
        RequestType::Add => "ADD",
        RequestType::Assign => "ASSIGN",
        RequestType::Remove => "REMOVE",
        RequestType::Transfer => "TRANSFER",
        RequestType::Weight => "WEIGHT",
        _ => return None,
    })
}

/// The answer to a request `name` from a peer without an admin
/// certificate.
fn permission_denied(name: &str) -> Response {
    failure(
        codes::SQLITE_AUTH,
        format!("permission denied: {name} needs a certificate from the admin CA"),
    )
}

/// Requests that need this node to be the leader (dqlite ≥ 1.18.2).
fn needs_leader(kind: RequestType) -> bool {
    matches!(
        kind,
        RequestType::Open
            | RequestType::Prepare
            | RequestType::Exec
            | RequestType::Query
            | RequestType::ExecSql
            | RequestType::QuerySql
            | RequestType::Add
            | RequestType::Assign
            | RequestType::Remove
            | RequestType::Transfer
    )
}

impl<N: Cluster> Gateway<N> {
    pub(crate) fn new(
        node: N,
        version: ProtocolVersion,
        max_statements: usize,
        statement_bytes: StatementBudget,
        access: Access,
    ) -> Self {
        Self {
            metrics: node.metrics().clone(),
            node,
            version,
            session: None,
            statements: Registry::default(),
            max_statements,
            statement_bytes,
            access,
        }
    }

    /// Answers one request frame on `out`, and counts it in the node's
    /// metrics (type, outcome, time to the answer written): a clock read
    /// on each side and a few atomic additions.
    pub(crate) async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        frame: &Frame,
        out: &mut W,
    ) -> std::io::Result<Next> {
        let started = std::time::Instant::now();
        let sent = self.answer(frame, out).await;
        let outcome = sent
            .as_ref()
            .map_or(Outcome::Error, |(_, outcome)| *outcome);
        self.metrics
            .requests
            .record(frame.header.kind, outcome, started.elapsed());
        sent.map(|(next, _)| next)
    }

    /// Answers one request frame on `out`.
    async fn answer<W: AsyncWrite + Unpin>(
        &mut self,
        frame: &Frame,
        out: &mut W,
    ) -> std::io::Result<Sent> {
        if self.access == Access::Restricted
            && let Some(name) = admin_only(frame.header.kind)
        {
            tracing::debug!(request = name, "refused: no admin certificate");
            return send(out, &permission_denied(name)).await;
        }
        let request = match Request::decode_frame(frame) {
            Ok(request) => request,
            Err(e) => return self.refuse(e, out).await,
        };
        let kind = request.request_type();
        tracing::debug!(?kind, "request");
        if needs_leader(kind)
            && !self.node.is_leader()
            && self.node.settled_leader().await != Some(self.node.id())
        {
            return send(out, &failure(codes::NOT_LEADER, "not leader")).await;
        }
        let response = match request {
            Request::Leader(_) => {
                // In the middle of an election, its outcome.
                if self.node.leader().is_none() {
                    self.node.settled_leader().await;
                }
                self.leader()
            }
            Request::Client(_) => Response::Welcome(resp::Welcome::default()),
            Request::Open(open) => self.open(open).await,
            Request::Prepare(prepare) => self.prepare(prepare).await,
            Request::Exec(exec) => self.exec(exec).await,
            Request::Query(query) => return self.query(query, out).await,
            Request::Finalize(finalize) => self.finalize(finalize),
            Request::ExecSql(exec) => self.exec_sql(exec).await,
            Request::QuerySql(query) => return self.query_sql(query, out).await,
            // Streams are never interrupted mid-way: every INTERRUPT arrives
            // after a result ended, and is simply acknowledged.
            Request::Interrupt(_) => Response::Empty(resp::Empty),
            Request::Cluster(cluster) => self.cluster(cluster),
            Request::Describe(describe) => self.describe(describe),
            Request::Weight(weight) => {
                self.node.set_weight(weight.weight);
                Response::Empty(resp::Empty)
            }
            Request::Dump(dump) => self.dump(dump).await,
            Request::Add(add) => done(self.node.add_node(add.id, &add.address).await),
            Request::Assign(assign) => self.assign(assign).await,
            Request::Remove(remove) => done(self.node.remove_node(remove.id).await),
            Request::Transfer(transfer) => done(self.node.transfer(transfer.id).await),
            // Node-to-node traffic does not belong on a client connection.
            Request::Connect(_) => return Ok((Next::Close, Outcome::Error)),
            // HEARTBEAT was never implemented by dqlite; latest answers this.
            _ => failure(codes::DQLITE_PARSE, "unrecognized request type"),
        };
        send(out, &response).await
    }

    /// Answers a request that did not decode.
    async fn refuse<W: AsyncWrite + Unpin>(
        &mut self,
        error: DecodeError,
        out: &mut W,
    ) -> std::io::Result<Sent> {
        let response = match error {
            DecodeError::UnknownRequestType(_) => {
                failure(codes::DQLITE_PARSE, "unrecognized request type")
            }
            DecodeError::UnsupportedSchema { .. } => {
                failure(codes::SQLITE_ERROR, "unrecognized schema version")
            }
            DecodeError::Params {
                request,
                db_id,
                stmt_id,
                reason,
            } => {
                if needs_leader(request) && !self.node.is_leader() {
                    failure(codes::NOT_LEADER, "not leader")
                } else if self.database(db_id).is_none() {
                    no_database()
                } else if stmt_id.is_some_and(|id| self.statements.get(id).is_none()) {
                    no_statement()
                } else {
                    failure(codes::DQLITE_PARSE, format!("invalid parameters: {reason}"))
                }
            }
            other => {
                tracing::debug!(error = %other, "closing connection on an unreadable request");
                return Ok((Next::Close, Outcome::Error));
            }
        };
        send(out, &response).await
    }

    /// The open session, if `db_id` names it (always 0).
    fn database(&self, db_id: u64) -> Option<&Session> {
        if db_id == 0 {
            self.session.as_ref()
        } else {
            None
        }
    }

    fn leader(&self) -> Response {
        match self.version {
            // Legacy clients get the address without the voter check.
            ProtocolVersion::Legacy => Response::ServerLegacy(resp::ServerLegacy {
                address: self
                    .node
                    .leader()
                    .map(|(_, address)| address)
                    .unwrap_or_default(),
            }),
            ProtocolVersion::V1 => {
                let (id, address) = self.node.reported_leader().unwrap_or_default();
                Response::Server(resp::Server { id, address })
            }
        }
    }

    async fn open(&mut self, open: req::Open) -> Response {
        if self.session.is_some() {
            return failure(
                codes::SQLITE_BUSY,
                "a database for this connection is already open",
            );
        }
        if open.name.is_empty() || open.name == ":memory:" {
            return failure(codes::SQLITE_CANTOPEN, "unable to open database file");
        }
        match self.node.session(&open.name).await {
            Ok(session) => {
                self.session = Some(session);
                Response::Db(resp::Db { id: 0 })
            }
            Err(e) => from_error(&e),
        }
    }

    async fn prepare(&mut self, prepare: req::Prepare) -> Response {
        let Some(session) = self.database(prepare.db_id) else {
            return no_database();
        };
        if self.statements.len() >= self.max_statements {
            return failure(
                codes::SQLITE_ERROR,
                format!(
                    "too many prepared statements on this connection (at most {}): finalize some first",
                    self.max_statements
                ),
            );
        }
        let held = u32::try_from(prepare.sql.len().max(1))
            .ok()
            .and_then(|bytes| {
                self.statement_bytes
                    .clone()
                    .try_acquire_many_owned(bytes)
                    .ok()
            });
        let Some(held) = held else {
            return failure(
                codes::SQLITE_ERROR,
                "too much prepared SQL held on this node: finalize some statements first",
            );
        };
        let prepared = match session.prepare(&prepare.sql).await {
            Ok(Some(prepared)) => prepared,
            Ok(None) => return from_error(&Error::EmptyStatement),
            Err(e) => return from_error(&e),
        };
        if prepared.nonempty_tail && prepare.schema == Schema::V0 {
            return from_error(&Error::NonemptyTail);
        }
        let (params, offset) = (prepared.params, prepared.tail_offset);
        let statement = Statement {
            sql: prepared.sql,
            _held: held,
            _counted: Held::one(&self.metrics.statements),
        };
        let Some(stmt_id) = self.statements.insert(statement) else {
            return failure(codes::SQLITE_ERROR, "too many prepared statements");
        };
        Response::Stmt(resp::Stmt {
            db_id: 0,
            stmt_id,
            params,
            tail_offset: (prepare.schema == Schema::V1).then_some(offset),
        })
    }

    /// The session and statement text of an EXEC/QUERY, or the failure.
    fn statement(&self, db_id: u32, stmt_id: u32) -> Result<(&Session, String), Response> {
        let session = self.database(u64::from(db_id)).ok_or_else(no_database)?;
        let statement = self.statements.get(stmt_id).ok_or_else(no_statement)?;
        Ok((session, statement.sql.clone()))
    }

    async fn exec(&mut self, exec: req::Exec) -> Response {
        let (session, sql) = match self.statement(exec.db_id, exec.stmt_id) {
            Ok(found) => found,
            Err(response) => return response,
        };
        match session.exec_prepared(&sql, exec.params.values).await {
            Ok(outcome) => result(outcome),
            Err(e) => from_error(&e),
        }
    }

    async fn query<W: AsyncWrite + Unpin>(
        &mut self,
        query: req::Query,
        out: &mut W,
    ) -> std::io::Result<Sent> {
        let (session, sql) = match self.statement(query.db_id, query.stmt_id) {
            Ok(found) => found,
            Err(response) => return send(out, &response).await,
        };
        forward(
            |tx| session.query_statement(&sql, query.params.values, tx),
            out,
        )
        .await
    }

    fn finalize(&mut self, finalize: req::Finalize) -> Response {
        if self.database(u64::from(finalize.db_id)).is_none() {
            return no_database();
        }
        match self.statements.remove(finalize.stmt_id) {
            Some(_) => Response::Empty(resp::Empty),
            None => no_statement(),
        }
    }

    async fn exec_sql(&mut self, exec: req::ExecSql) -> Response {
        let Some(session) = self.database(exec.db_id) else {
            return no_database();
        };
        match session.exec_sql(&exec.sql, exec.params.values).await {
            Ok((outcome, true)) => result(outcome),
            Ok((_, false)) => result(crate::session::ExecOutcome::default()),
            Err(e) => from_error(&e),
        }
    }

    async fn query_sql<W: AsyncWrite + Unpin>(
        &mut self,
        query: req::QuerySql,
        out: &mut W,
    ) -> std::io::Result<Sent> {
        let Some(session) = self.database(query.db_id) else {
            return send(out, &no_database()).await;
        };
        forward(
            |tx| session.query_sql(&query.sql, query.params.values, tx),
            out,
        )
        .await
    }

    fn cluster(&self, cluster: req::Cluster) -> Response {
        if cluster.format > 1 {
            return failure(codes::DQLITE_PARSE, "unrecognized cluster format");
        }
        let nodes = self
            .node
            .members()
            .into_iter()
            .map(|m| NodeInfo {
                id: m.id,
                address: m.address,
                role: cluster.wants_roles().then_some(m.role),
            })
            .collect();
        Response::Servers(resp::Servers { nodes })
    }

    fn describe(&self, describe: req::Describe) -> Response {
        if describe.format != 0 {
            return failure(codes::SQLITE_PROTOCOL, "bad format version");
        }
        let metadata = self.node.metadata();
        Response::Metadata(resp::Metadata {
            failure_domain: metadata.failure_domain,
            weight: metadata.weight,
        })
    }

    async fn dump(&mut self, dump: req::Dump) -> Response {
        if !self.node.has_database(&dump.name) {
            return failure(codes::DQLITE_NOTFOUND, "database does not exists");
        }
        let image = match self.node.session(&dump.name).await {
            Ok(session) => session.dump().await,
            Err(e) => Err(e),
        };
        match image {
            Ok(data) => Response::Files(resp::Files {
                files: vec![
                    resp::File {
                        name: dump.name.clone(),
                        data,
                    },
                    resp::File {
                        name: format!("{}-wal", dump.name),
                        data: Vec::new(),
                    },
                ],
            }),
            Err(e) => from_error(&e),
        }
    }

    async fn assign(&self, assign: req::Assign) -> Response {
        // No role word: the legacy PROMOTE, to voter.
        let Some(role) = Role::from_code(assign.role.unwrap_or(0)) else {
            return failure(codes::SQLITE_ERROR, "server role is not valid");
        };
        done(self.node.assign(assign.id, role).await)
    }
}

/// EMPTY, or the failure.
fn done(outcome: crate::error::Result<()>) -> Response {
    match outcome {
        Ok(()) => Response::Empty(resp::Empty),
        Err(e) => from_error(&e),
    }
}

/// Runs `query` with a channel for its ROWS messages and writes them to
/// `out` as they come, ending with a FAILURE if the query fails, part-way
/// or before its first row.
async fn forward<W: AsyncWrite + Unpin, F>(
    query: impl FnOnce(mpsc::Sender<Bytes>) -> F,
    out: &mut W,
) -> std::io::Result<Sent>
where
    F: std::future::Future<Output = crate::error::Result<()>>,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let query = query(tx);
    let forward = async {
        while let Some(batch) = rx.recv().await {
            out.write_all(&batch).await?;
        }
        std::io::Result::Ok(())
    };
    let (outcome, written) = tokio::join!(query, forward);
    written?;
    match outcome {
        Ok(()) => {
            out.flush().await?;
            Ok((Next::Continue, Outcome::Ok))
        }
        Err(e) => send(out, &from_error(&e)).await,
    }
}

/// Encodes and writes one response.
async fn send<W: AsyncWrite + Unpin>(out: &mut W, response: &Response) -> std::io::Result<Sent> {
    let outcome = match response {
        Response::Failure(f) => {
            tracing::debug!(code = f.code, message = %f.message, "failure");
            if f.code == codes::NOT_LEADER {
                Outcome::NotLeader
            } else {
                Outcome::Error
            }
        }
        _ => Outcome::Ok,
    };
    let mut buf = BytesMut::new();
    if let Err(e) = response.encode(&mut buf) {
        // Only a message with a NUL inside text can fail here.
        tracing::warn!(error = %e, "response cannot be encoded");
        failure(
            codes::SQLITE_ERROR,
            format!("response cannot be encoded: {e}"),
        )
        .encode(&mut buf)
        .map_err(std::io::Error::other)?;
    }
    out.write_all(&buf).await?;
    out.flush().await?;
    Ok((Next::Continue, outcome))
}
