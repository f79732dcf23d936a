//! The node-to-node transport, calling side: openraft's RPCs over the
//! node's one address, next to client traffic.
//!
//! # On the wire
//!
//! A node dials a peer's address and sends a hello (`raft::peer_wire`):
//! [`PEER_MAGIC`] where a client would send its protocol version word (1,
//! or the legacy word), so the listener tells the two apart by the first
//! 8 bytes, then its own id and the address it is a member with, which
//! the callee checks against its configuration (`raft::gate`). Then each
//! side sends postcard-encoded `PeerRequest`s and `PeerResponse`s in
//! bounded frames; requests and responses alternate. Append batches whose
//! entries add up to more than [`APPEND_BATCH_BYTES`] are sent a part at a
//! time (openraft's partial success), and snapshots in
//! [`SNAPSHOT_CHUNK`]s, so that no call holds much more than one entry.
//!
//! # Failures
//!
//! A peer that cannot be dialed is *unreachable* (openraft backs off); a
//! connection that breaks mid-call is a *network* error (retried at once);
//! a call past openraft's deadline (stretched for large appends) is a
//! *timeout*. Every failure drops the connection, and the next call dials
//! again, but not before a short backoff after a failed dial
//! ([`MAX_DIAL_BACKOFF`]), nor sooner than [`RECONNECT_DELAY`] after a
//! connection broke. Failed dials are logged with backoff too: the
//! first, then one line per doubling interval with the count since.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::progress::{Progress, Unit, log_progress};
use crate::transport::{Dialer, Stream};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RPCTypes};
use tokio::io::AsyncWriteExt;

pub use super::peer_wire::{APPEND_BATCH_BYTES, PEER_MAGIC, SNAPSHOT_CHUNK};
use super::peer_wire::{Hello, PeerConn, PeerRequest, PeerResponse};
use super::snapshot_stream::RESUME_GRACE;
use super::state_machine::{Snapshot, SnapshotData};
use super::typ::{Entry, NodeInfo, TypeConfig, Vote};

/// How long dialing a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait before dialing a peer again after a failed dial.
pub const MAX_DIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Wait before dialing a peer again after its connection broke (dqlite's
/// Raft waits as long): a peer that went away is not hammered, and one
/// that restarts is reached again within it. Embedders whose dial function
/// forwards connections to a node that is stopping (go-dqlite's external
/// connections) rely on the pause.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Interval between the first two log lines about one unreachable peer;
/// it doubles after each.
const FIRST_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Longest interval between two log lines about one unreachable peer.
const MAX_LOG_INTERVAL: Duration = Duration::from_secs(300);

/// Transfer rate assumed when stretching a large append's deadline.
const SLOWEST_BYTES_PER_SEC: u64 = 8 * 1024 * 1024;

/// Creates [`Peer`] clients for one node, dialing through its dialer.
#[derive(Debug, Clone)]
pub struct Network {
    /// The node's id, sent in each hello.
    pub id: u64,
    /// The node's address as members know it, sent in each hello.
    pub address: String,
    /// How connections to peers are opened.
    pub dialer: Arc<dyn Dialer>,
    /// Failed dials by peer, shared by the clients of one peer (openraft
    /// keeps several: replication, heartbeats).
    pub dials: Dials,
    /// Where snapshots sent are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Failed dials of each peer.
pub type Dials = Arc<std::sync::Mutex<std::collections::HashMap<u64, DialHistory>>>;

/// A client for one peer: one connection, dialed on first use and again
/// after any failure.
#[derive(Debug)]
pub struct Peer {
    hello: Hello,
    target: u64,
    address: String,
    dialer: Arc<dyn Dialer>,
    conn: Option<PeerConn<Stream>>,
    dials: Dials,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Failed dials of one peer: when to dial again, and when to say so.
#[derive(Debug, Default)]
pub struct DialHistory {
    /// Failed dials in a row.
    failed: u32,
    /// Failed dials not logged yet.
    unlogged: u32,
    retry_at: Option<Instant>,
    log_at: Option<Instant>,
    log_interval: Duration,
}

impl DialHistory {
    /// Whether a dial may be tried now.
    fn may_dial(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    fn failed(&mut self, target: u64, address: &str, error: &std::io::Error) {
        let now = Instant::now();
        self.failed = self.failed.saturating_add(1);
        self.unlogged = self.unlogged.saturating_add(1);
        let backoff = Duration::from_millis(10)
            .saturating_mul(1 << self.failed.min(10))
            .min(MAX_DIAL_BACKOFF);
        self.retry_at = Some(now + backoff);
        if self.log_at.is_none_or(|at| now >= at) {
            tracing::warn!(
                peer = target,
                %address,
                error = %error,
                failed_dials = self.unlogged,
                "cannot reach a member"
            );
            self.unlogged = 0;
            self.log_interval = (self.log_interval * 2)
                .max(FIRST_LOG_INTERVAL)
                .min(MAX_LOG_INTERVAL);
            self.log_at = Some(now + self.log_interval);
        }
    }

    /// A connection to the peer broke (it went away, or restarts): as
    /// dqlite's Raft does, dial it again only after [`RECONNECT_DELAY`].
    fn broke(&mut self) {
        let at = Instant::now() + RECONNECT_DELAY;
        if self.retry_at.is_none_or(|r| r < at) {
            self.retry_at = Some(at);
        }
    }

    fn succeeded(&mut self, target: u64, address: &str) {
        if self.failed > 0 && self.log_at.is_some() {
            tracing::info!(peer = target, %address, "reached a member again");
        }
        *self = DialHistory::default();
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &NodeInfo) -> Self::Network {
        self.peer(target, &node.address)
    }
}

impl Network {
    fn peer(&self, target: u64, address: &str) -> Peer {
        Peer {
            hello: Hello {
                id: self.id,
                address: self.address.clone(),
            },
            target,
            address: address.to_owned(),
            dialer: self.dialer.clone(),
            conn: None,
            dials: self.dials.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Asks each of `members` (id, address) in turn for its configuration
    /// and returns the first that lists node `id` at `address`.
    pub(crate) async fn listed_by_any(
        &self,
        members: &[(u64, String)],
        id: u64,
        address: &str,
    ) -> Option<u64> {
        for (member, member_address) in members {
            let mut peer = self.peer(*member, member_address);
            match peer.call(&PeerRequest::Members, CONNECT_TIMEOUT).await {
                Ok(PeerResponse::Members(Ok(listed)))
                    if listed.iter().any(|(i, a)| *i == id && a == address) =>
                {
                    return Some(*member);
                }
                Ok(other) => tracing::debug!(member, ?other, "a member does not list the caller"),
                Err(_) => tracing::debug!(member, "cannot ask a member about a caller"),
            }
        }
        None
    }
}

/// Why a call failed, before it is told in openraft's terms.
enum CallError {
    Dial(std::io::Error),
    Broken(std::io::Error),
    Timeout,
}

impl Peer {
    /// Runs `f` on this peer's dial history.
    fn history<T>(&self, f: impl FnOnce(&mut DialHistory) -> T) -> T {
        let mut dials = self
            .dials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(dials.entry(self.target).or_default())
    }

    async fn dial(&mut self) -> std::io::Result<PeerConn<Stream>> {
        if !self.history(|h| h.may_dial()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "backing off after a failed dial",
            ));
        }
        tracing::debug!(peer = self.target, address = %self.address, "dialing a member");
        let dialed = async {
            let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, self.dialer.dial(&self.address))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                })??;
            stream.write_all(&self.hello.encode()?).await?;
            Ok(PeerConn::new(stream, bytes::BytesMut::new()))
        }
        .await;
        let (target, address) = (self.target, self.address.clone());
        match &dialed {
            Ok(_) => self.history(|h| h.succeeded(target, &address)),
            Err(e) => self.history(|h| h.failed(target, &address, e)),
        }
        dialed
    }

    /// Sends `request` and reads the answer, within `ttl`.
    async fn call(
        &mut self,
        request: &PeerRequest,
        ttl: Duration,
    ) -> Result<PeerResponse, CallError> {
        let exchange = async {
            if self.conn.is_none() {
                self.conn = Some(self.dial().await.map_err(CallError::Dial)?);
            }
            let conn = self.conn.as_mut().ok_or(CallError::Timeout)?;
            conn.send(request).await.map_err(CallError::Broken)?;
            conn.recv()
                .await
                .map_err(CallError::Broken)?
                .ok_or_else(|| {
                    CallError::Broken(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection",
                    ))
                })
        };
        let result = match tokio::time::timeout(ttl, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout),
        };
        if let Err(e) = &result {
            // Whatever was half sent or half read is lost with it.
            if self.conn.take().is_some() && matches!(e, CallError::Broken(_)) {
                self.history(DialHistory::broke);
            }
        }
        result
    }

    fn rpc_error(&self, error: CallError, action: RPCTypes, ttl: Duration) -> RPCError<TypeConfig> {
        match error {
            CallError::Dial(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Broken(e) => RPCError::Network(NetworkError::new(&e)),
            CallError::Timeout => RPCError::Timeout(Timeout {
                action,
                id: 0,
                target: self.target,
                timeout: ttl,
            }),
        }
    }

    fn unexpected(&self, response: &PeerResponse) -> RPCError<TypeConfig> {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("node {} answered with {response:?}", self.target),
        );
        RPCError::Network(NetworkError::new(&e))
    }

    fn remote(&self, message: String) -> RPCError<TypeConfig> {
        let e = std::io::Error::other(format!("node {}: {message}", self.target));
        RPCError::Network(NetworkError::new(&e))
    }

    /// Calls the peer and picks the answer out of its response with
    /// `answer` (`None` for a response of the wrong kind).
    async fn rpc<T>(
        &mut self,
        request: &PeerRequest,
        action: RPCTypes,
        ttl: Duration,
        answer: fn(PeerResponse) -> Result<Result<T, String>, PeerResponse>,
    ) -> Result<T, RPCError<TypeConfig>> {
        match self.call(request, ttl).await.map(answer) {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(message))) => Err(self.remote(message)),
            Ok(Err(other)) => Err(self.unexpected(&other)),
            Err(e) => Err(self.rpc_error(e, action, ttl)),
        }
    }
}

/// Roughly the bytes an entry takes in a call.
fn entry_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        openraft::EntryPayload::Normal(super::typ::Command::Frames { frames, .. }) => frames.size(),
        _ => 0,
    }
    .saturating_add(64)
}

/// How many of `entries` (at least one) to send in one call: as many as
/// fit in [`APPEND_BATCH_BYTES`], and their bytes.
fn batch_len(entries: &[Entry]) -> (usize, usize) {
    let mut bytes = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        let size = entry_bytes(entry);
        if i > 0 && bytes.saturating_add(size) > APPEND_BATCH_BYTES {
            return (i, bytes);
        }
        bytes = bytes.saturating_add(size);
    }
    (entries.len(), bytes)
}

fn vote_answer(
    response: PeerResponse,
) -> Result<Result<VoteResponse<TypeConfig>, String>, PeerResponse> {
    match response {
        PeerResponse::Vote(answer) => Ok(answer),
        other => Err(other),
    }
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut rpc = rpc;
        let (count, bytes) = batch_len(&rpc.entries);
        // More than one call's worth: send the first part, and tell
        // openraft how far it got (it sends the rest next).
        let partial = (count < rpc.entries.len()).then(|| {
            rpc.entries.truncate(count);
            rpc.entries.last().map(|e| e.log_id)
        });
        let stretch = u64::try_from(bytes).unwrap_or(u64::MAX) / SLOWEST_BYTES_PER_SEC;
        let ttl = option.hard_ttl() + Duration::from_secs(stretch);
        let request = PeerRequest::Append(rpc);
        let response = self
            .rpc(&request, RPCTypes::AppendEntries, ttl, |r| match r {
                PeerResponse::Append(answer) => Ok(answer),
                other => Err(other),
            })
            .await?;
        Ok(match (response, partial) {
            (AppendEntriesResponse::Success, Some(last)) => {
                AppendEntriesResponse::PartialSuccess(last)
            }
            (response, _) => response,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::Vote(rpc);
        self.rpc(&request, RPCTypes::Vote, option.hard_ttl(), vote_answer)
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::PreVote(rpc);
        self.rpc(&request, RPCTypes::Vote, option.hard_ttl(), vote_answer)
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let ttl = option.hard_ttl();
        let meta = snapshot.meta;
        // The durable point is pinned and read from the files chunk by
        // chunk, while writes go on.
        let outgoing = snapshot.snapshot.outgoing().await.map_err(|e| {
            tracing::warn!(peer = self.target, error = %e, "cannot read the snapshot to send");
            StreamingError::from(RPCError::<TypeConfig>::Network(NetworkError::new(&e)))
        })?;
        let total = outgoing.total();
        let started = std::time::Instant::now();
        let target = self.target;
        // How far the follower got in this attempt.
        let acked = std::sync::atomic::AtomicU64::new(0);
        let stream = async {
            let mut offset = 0;
            let mut progress = Progress::new(Unit::Bytes, total);
            // A follower that keeps asking for bytes it was sent is not
            // answered forever.
            let mut calls_left = 2 * total.div_ceil(SNAPSHOT_CHUNK as u64) + 16;
            loop {
                calls_left = calls_left.checked_sub(1).ok_or_else(|| {
                    StreamingError::from(
                        self.remote("the follower keeps asking for the same bytes".into()),
                    )
                })?;
                let end = outgoing.chunk_end(offset);
                let data = outgoing.read(offset, end).await.map_err(|e| {
                    tracing::warn!(peer = target, error = %e, "cannot read the snapshot to send");
                    StreamingError::from(RPCError::<TypeConfig>::Network(NetworkError::new(&e)))
                })?;
                let request = PeerRequest::SnapshotChunk {
                    vote,
                    meta: meta.clone(),
                    offset,
                    total,
                    crc: crc32fast::hash(&data),
                    data,
                };
                let answer = self.call(&request, ttl).await;
                drop(request);
                match answer {
                    Ok(PeerResponse::SnapshotChunk(Ok(next))) if next < total => {
                        if next != end {
                            tracing::info!(
                                peer = target,
                                offset = next,
                                total,
                                "the follower resumes the snapshot at its offset"
                            );
                        }
                        offset = next;
                        acked.fetch_max(next, std::sync::atomic::Ordering::Relaxed);
                        if let Some(report) = progress.step(offset) {
                            log_progress!(report, "sending a snapshot", peer = target);
                        }
                    }
                    Ok(PeerResponse::Snapshot(Ok(response))) if end == total => {
                        self.metrics
                            .snapshot(crate::metrics::SnapshotKind::Sent, started.elapsed());
                        return Ok(response);
                    }
                    Ok(PeerResponse::Snapshot(Err(message)))
                    | Ok(PeerResponse::SnapshotChunk(Err(message))) => {
                        return Err(self.remote(message).into());
                    }
                    Ok(other) => return Err(self.unexpected(&other).into()),
                    Err(e) => {
                        return Err(self.rpc_error(e, RPCTypes::InstallSnapshot, ttl).into());
                    }
                }
            }
        };
        let started = std::time::Instant::now();
        let sent = tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = stream => result,
        };
        if sent.is_ok() {
            tracing::info!(
                peer = self.target,
                last_log_index = meta.last_log_id.as_ref().map_or(0, |l| l.index),
                bytes = total,
                duration_ms = millis(started.elapsed()),
                "sent a snapshot"
            );
        } else if acked.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            // Keep the point a while, so that the next attempt sends the
            // same snapshot and the follower resumes it (not for a
            // follower that took nothing: a node that is down would hold
            // back every durable point).
            let pin = outgoing.into_pin();
            tokio::spawn(async move {
                tokio::time::sleep(RESUME_GRACE).await;
                drop(pin);
            });
        }
        sent
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::TransferLeader(req);
        self.rpc(
            &request,
            RPCTypes::TransferLeader,
            option.hard_ttl(),
            |r| match r {
                PeerResponse::TransferLeader(answer) => Ok(answer),
                other => Err(other),
            },
        )
        .await
    }
}

/// Whole milliseconds of `d`, for log fields.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
