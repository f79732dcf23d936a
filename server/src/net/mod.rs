//! Accepting client connections and running their read/answer loop.
//!
//! The caller binds the listener (tests bind `127.0.0.1:0`) and hands it
//! to [`crate::NodeBuilder::serve`]; the node's thread runs `serve`, one
//! local task per connection, until the node stops, then closes every
//! connection.
//!
//! # Limits under abuse ([`Limits`])
//!
//! - At most `max_connections` client connections; at the limit a new one
//!   takes the place of the connection idle longest, which is closed
//!   (`table`). Other nodes' connections do not count.
//! - A connection must finish its TLS handshake (when the node runs TLS)
//!   and send its protocol version within `handshake_timeout`, must not
//!   sit idle between requests longer than
//!   `idle_timeout`, and once a request has started its bytes must keep
//!   coming (`stall_timeout` between reads).
//! - Requests larger than [`SMALL_REQUEST`] are buffered only with a share
//!   of a node-wide budget of `request_budget` bytes: a connection whose
//!   request does not fit waits (and reads nothing meanwhile) until others
//!   are done, so many large requests at once cannot exhaust memory.
//! - A connection holds at most `max_statements` prepared statements.
//!
//! # TLS
//!
//! With a [`Tls`], every connection, a client's or another node's, must
//! complete a mutually authenticated TLS handshake first: nothing of the
//! dqlite protocol is read before the peer's certificate is verified. A
//! refused handshake is logged at WARN with the peer's address and the
//! reason (the same peer and reason again within a minute at DEBUG).
//! The handshake also decides, once, what the peer may do ([`Access`]):
//! with an admin CA, a peer without an admin certificate gets a gateway
//! that refuses cluster changes, and its node-to-node hello is refused.
//!
//! Connections closed for being idle or evicted are reset (TCP RST) rather
//! than closed gracefully: a client then sees a connection error on its
//! next request, which go-dqlite's `database/sql` driver (1.11 and v3)
//! treats as a bad connection and retries on a new one, where a graceful
//! close would give go-dqlite 1.11 an EOF it reports to the application.

mod table;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::{Accepted, AsyncListener, Stream};
use bytes::BytesMut;
use dqlite_protocol::{FrameLimits, ProtocolVersion};
use tokio::io::{AsyncReadExt, BufWriter};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::gateway::{Cluster, Gateway, Next};
use crate::metrics::Held;
use crate::raft::network::PEER_MAGIC;
use crate::raft::rpc::{PeerService, serve_peer};
use crate::throttle::Throttle;
use crate::tls::{Access, Tls, handshake_failure};
use table::{Admitted, Slot, Table};

/// Bytes of free buffer space a connection reads into.
const READ_ROOM: usize = 64 * 1024;

/// Requests up to this size are read without a share of the request
/// budget (they fit the connection's ordinary read buffer).
pub const SMALL_REQUEST: usize = 64 * 1024;

/// Default largest request body: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = dqlite_protocol::frame::DEFAULT_MAX_BODY;
/// Default most simultaneous client connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default time a new connection has to send its protocol version.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest idle time between two requests of a connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default longest pause in the bytes of a request once it started.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default node-wide budget of buffered large requests: 256 MiB.
pub const DEFAULT_REQUEST_BUDGET: usize = 256 * 1024 * 1024;
/// Default most prepared statements per connection.
pub const DEFAULT_MAX_STATEMENTS: usize = 1024;
/// Longest a large request waits for its share of the request budget.
const BUDGET_WAIT: Duration = Duration::from_secs(30);
/// How often the same refused TLS handshake (peer host and reason), or
/// the same refused Unix connection (peer user and reason), is logged at
/// WARN.
const TLS_WARN_EVERY: Duration = Duration::from_secs(60);

/// Limits applied to client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted; a larger one closes the connection.
    /// Capped by `request_budget`.
    pub max_frame: usize,
    /// Client connections open at once, at most; at the limit a new one
    /// replaces the longest-idle connection.
    pub max_connections: usize,
    /// A connection that sends no version word within this time is closed.
    pub handshake_timeout: Duration,
    /// A connection idle this long between requests is closed; zero never
    /// closes one.
    pub idle_timeout: Duration,
    /// A connection whose request stops arriving for this long is closed.
    pub stall_timeout: Duration,
    /// Bytes of large requests buffered at once, node-wide.
    pub request_budget: usize,
    /// Prepared statements a connection may hold at once.
    pub max_statements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            request_budget: DEFAULT_REQUEST_BUDGET,
            max_statements: DEFAULT_MAX_STATEMENTS,
        }
    }
}

/// Where other nodes' connections to the same port are handed: the
/// node's Raft, behind the gate that admits their calls.
#[derive(Clone)]
pub(crate) struct Peers {
    /// What answers their calls.
    pub(crate) service: PeerService,
    /// TLS every connection must run first, if any.
    pub(crate) tls: Option<Tls>,
}

/// Serves client connections to `node` on `listener` until `shutdown`
/// resolves; other nodes' connections go to `peers`. Runs inside a
/// `LocalSet`: connections drive their sessions' SQLite connections
/// directly, which makes their tasks `!Send`.
pub(crate) async fn serve<N: Cluster>(
    listener: AsyncListener,
    node: N,
    peers: Peers,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let table = Table::new(limits.max_connections);
    let budget = Arc::new(Semaphore::new(
        limits.request_budget.min(Semaphore::MAX_PERMITS),
    ));
    let statement_bytes = crate::gateway::statement_budget();
    let refusals = Arc::new(Throttle::new(TLS_WARN_EVERY));
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(Accepted::Stream(stream, peer)) => (stream, peer),
            Ok(Accepted::Refused { peer, why }) => {
                if refusals.warn_now(format!("{peer} {why}")) {
                    tracing::warn!(%peer, why, "refused a connection");
                } else {
                    tracing::debug!(%peer, why, "refused a connection");
                }
                continue;
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match Table::admit(&table, Instant::now()) {
            Admitted::Free(slot) => slot,
            Admitted::Evicted { slot, idle } => {
                tracing::info!(
                    %peer,
                    limit = limits.max_connections,
                    ?idle,
                    "at the connection limit: closed the longest-idle connection"
                );
                slot
            }
            Admitted::Full => {
                tracing::warn!(%peer, limit = limits.max_connections, "too many busy connections; closing");
                continue;
            }
        };
        next_id += 1;
        let span = tracing::info_span!("conn", id = next_id, peer = %peer);
        let node = node.clone();
        let peers = peers.clone();
        let budget = budget.clone();
        let statement_bytes = statement_bytes.clone();
        let refusals = refusals.clone();
        connections.spawn_local(tracing::Instrument::instrument(
            async move {
                let conn = Conn {
                    node,
                    peers,
                    limits,
                    peer,
                    slot,
                    budget,
                    statement_bytes,
                    refusals,
                };
                if let Err(e) = conn.run(stream).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            },
            span,
        ));
    }
    connections.shutdown().await;
}

/// What the first word of a connection says it is.
enum First {
    Client(ProtocolVersion),
    Peer,
}

/// One connection: a client's (handshake, then request after request), or
/// another node's (Raft calls).
struct Conn<N> {
    node: N,
    peers: Peers,
    limits: Limits,
    peer: String,
    slot: Slot,
    budget: Arc<Semaphore>,
    statement_bytes: crate::gateway::StatementBudget,
    /// Refused TLS handshakes logged lately.
    refusals: Arc<Throttle>,
}

/// Why a connection stops reading.
enum Stop {
    /// The peer hung up, or closing is the answer (bad frame, handshake).
    Close,
    /// Reset: idle too long, stalled, or evicted at the connection limit.
    Reset(&'static str),
}

impl<N: Cluster> Conn<N> {
    async fn run(self, stream: Stream) -> std::io::Result<()> {
        stream.set_nodelay()?;
        // The TLS handshake and the version word share one deadline.
        let deadline = tokio::time::Instant::now() + self.limits.handshake_timeout;
        let (mut stream, access) = match &self.peers.tls {
            None => (stream, Access::Admin),
            Some(tls) => {
                let accepted = tokio::select! {
                    accepted = tokio::time::timeout_at(deadline, tls.accept(stream)) => accepted,
                    () = self.slot.closed() => return Ok(()),
                };
                match accepted {
                    Ok(Ok(accepted)) => accepted,
                    Ok(Err(e)) => {
                        self.refuse(&handshake_failure(&e));
                        return Ok(());
                    }
                    Err(_) => {
                        self.refuse(&format!(
                            "no TLS handshake within {:?}",
                            self.limits.handshake_timeout
                        ));
                        return Ok(());
                    }
                }
            }
        };
        let mut buf = BytesMut::with_capacity(4096);
        let first = tokio::select! {
            first = tokio::time::timeout_at(deadline, first_word(&mut stream, &mut buf)) => first.unwrap_or(Ok(None))?,
            () = self.slot.closed() => None,
        };
        let version = match first {
            None => return Ok(()),
            Some(First::Peer) => {
                let _ = buf.split_to(8);
                let Conn {
                    peers, peer, slot, ..
                } = self;
                slot.release();
                serve_peer(stream, buf, peers.service, peer, access).await;
                return Ok(());
            }
            Some(First::Client(version)) => version,
        };
        let _ = buf.split_to(8);
        let _open = Held::one(&self.node.metrics().connections);
        tracing::debug!(?version, ?access, "handshake");
        self.slot.idle(Instant::now());
        let (mut reader, writer) = stream.into_split();
        let mut out = BufWriter::new(writer);
        let mut gateway = Gateway::new(
            self.node.clone(),
            version,
            self.limits.max_statements,
            self.statement_bytes.clone(),
            access,
        );
        match self
            .requests(&mut reader, &mut buf, &mut gateway, &mut out)
            .await?
        {
            Stop::Close => {}
            Stop::Reset(why) => {
                tracing::debug!(why, "resetting the connection");
                reader.set_zero_linger();
            }
        }
        Ok(())
    }

    /// Logs a refused TLS handshake: at WARN once per peer host and
    /// reason in [`TLS_WARN_EVERY`], else at DEBUG.
    fn refuse(&self, reason: &str) {
        let host = self
            .peer
            .rsplit_once(':')
            .map_or(self.peer.as_str(), |(host, _)| host);
        let peer = &self.peer;
        if self.refusals.warn_now(format!("{host} {reason}")) {
            tracing::warn!(%peer, reason, "refused a connection during the TLS handshake");
        } else {
            tracing::debug!(%peer, reason, "refused a connection during the TLS handshake");
        }
    }

    /// Reads requests and has `gateway` answer them, until the connection
    /// is to stop.
    async fn requests(
        &self,
        reader: &mut crate::transport::ReadHalf,
        buf: &mut BytesMut,
        gateway: &mut Gateway<N>,
        out: &mut BufWriter<crate::transport::WriteHalf>,
    ) -> std::io::Result<Stop> {
        let limits = &self.limits;
        let largest = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
        let frames = FrameLimits {
            max_body: limits.max_frame.min(limits.request_budget).min(largest),
        };
        let mut share = None;
        let mut idle_since = tokio::time::Instant::now();
        loop {
            let frame = match frames.split_frame(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    let total = frames
                        .check_header(buf)
                        .ok()
                        .flatten()
                        .and_then(|h| frames.total_len(h).ok());
                    if let Some(total) = total
                        && total > SMALL_REQUEST
                        && share.is_none()
                    {
                        match self.budget_share(total).await {
                            Some(permit) => share = Some(permit),
                            None => return Ok(Stop::Reset("no room for a large request")),
                        }
                    }
                    // Room for a whole typical request in one read: a
                    // nearly full buffer would split it over two calls.
                    if buf.capacity() - buf.len() < READ_ROOM / 4 {
                        buf.reserve(READ_ROOM);
                    }
                    let deadline = if buf.is_empty() {
                        (!limits.idle_timeout.is_zero()).then(|| idle_since + limits.idle_timeout)
                    } else {
                        Some(tokio::time::Instant::now() + limits.stall_timeout)
                    };
                    let read = tokio::select! {
                        read = reader.read_buf(buf) => read?,
                        () = self.slot.closed() => return Ok(Stop::Reset("evicted at the connection limit")),
                        () = sleep_until(deadline) => {
                            return Ok(Stop::Reset(if buf.is_empty() { "idle" } else { "request stalled" }));
                        }
                    };
                    if read == 0 {
                        if !buf.is_empty() {
                            tracing::debug!(buffered = buf.len(), "connection closed mid-message");
                        }
                        return Ok(Stop::Close);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "closing connection on a bad frame");
                    return Ok(Stop::Close);
                }
            };
            self.slot.busy();
            let next = gateway.handle(&frame, out).await?;
            drop(frame);
            share = None;
            self.slot.idle(Instant::now());
            idle_since = tokio::time::Instant::now();
            if next == Next::Close {
                return Ok(Stop::Close);
            }
            if buf.capacity() > 4 * READ_ROOM && buf.len() < READ_ROOM {
                // Give back the room a large request took.
                let mut small = BytesMut::with_capacity(READ_ROOM);
                small.extend_from_slice(buf);
                *buf = small;
            }
        }
    }

    /// A share of the request budget for a request of `total` bytes,
    /// waited for (bounded by [`BUDGET_WAIT`]); `None` if it does not come
    /// or the connection is to close meanwhile.
    async fn budget_share(&self, total: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let bytes = u32::try_from(total).ok()?;
        let acquire = self.budget.clone().acquire_many_owned(bytes);
        tokio::select! {
            permit = tokio::time::timeout(BUDGET_WAIT, acquire) => {
                let permit = permit.ok()?.ok()?;
                Some(permit)
            }
            () = self.slot.closed() => None,
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Reads the first word of a connection: a client's protocol version, or
/// another node's magic word. `None` for anything else.
async fn first_word(stream: &mut Stream, buf: &mut BytesMut) -> std::io::Result<Option<First>> {
    loop {
        if let Some(word) = buf.first_chunk::<8>() {
            let word = u64::from_le_bytes(*word);
            if word == PEER_MAGIC {
                return Ok(Some(First::Peer));
            }
            return Ok(match ProtocolVersion::from_word(word) {
                Ok(version) => Some(First::Client(version)),
                Err(e) => {
                    tracing::debug!(error = %e, "bad handshake");
                    None
                }
            });
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
