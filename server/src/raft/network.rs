//! The node-to-node transport: openraft's RPCs over the node's one
//! address, next to client traffic.
//!
//! # On the wire
//!
//! A node dials a peer's address and sends [`PEER_MAGIC`] where a client
//! would send its protocol version word (1, or the legacy word), so the
//! listener tells the two apart by the first 8 bytes; its own node id
//! follows (u64 LE), for logs and for tests that cut links between
//! nodes. Then each side sends
//! frames of a 4-byte big-endian length and a postcard-encoded
//! `PeerRequest` or `PeerResponse`; requests and responses alternate.
//! A frame longer than [`MAX_PEER_FRAME`] closes the connection.
//!
//! # Failures
//!
//! A peer that cannot be dialed is *unreachable* (openraft backs off); a
//! connection that breaks mid-call is a *network* error (retried at once);
//! a call past openraft's deadline is a *timeout*. Every failure drops the
//! connection, and the next call dials again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::{Dialer, Stream};
use futures_util::{SinkExt, StreamExt};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RPCTypes};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::state_machine::{Snapshot, SnapshotData, StateMachine};
use super::typ::{NodeInfo, SnapshotMeta, TypeConfig, Vote};

/// The first word of a node-to-node connection (`"dqlrsrft"`), which no
/// dqlite client sends.
pub const PEER_MAGIC: u64 = u64::from_le_bytes(*b"dqlrsrft");

/// Largest frame between nodes (a batch of entries; snapshots travel in
/// chunks of [`SNAPSHOT_CHUNK`]).
pub const MAX_PEER_FRAME: usize = 256 * 1024 * 1024;

/// Bytes of snapshot per call: a snapshot streams in chunks, each
/// acknowledged, so neither side needs a frame as large as the databases.
pub const SNAPSHOT_CHUNK: usize = 1024 * 1024;

/// How long dialing a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

type Raft = openraft::Raft<TypeConfig, StateMachine>;

/// A call from one node to another.
#[derive(Debug, Serialize, Deserialize)]
enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    /// Bytes `[offset, offset + data.len())` of a snapshot of `total`
    /// bytes; the last one installs it.
    SnapshotChunk {
        vote: Vote,
        meta: SnapshotMeta,
        offset: u64,
        total: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    TransferLeader(TransferLeaderRequest<TypeConfig>),
}

/// The answer; `Err` carries the callee's Raft failure (it is stopping).
#[derive(Debug, Serialize, Deserialize)]
enum PeerResponse {
    Append(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    Snapshot(Result<SnapshotResponse<TypeConfig>, String>),
    /// A chunk before the last was taken.
    SnapshotChunk(Result<(), String>),
    TransferLeader(Result<TransferLeaderResponse<TypeConfig>, String>),
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_PEER_FRAME)
        .new_codec()
}

/// Creates [`Peer`] clients for one node, dialing through its dialer.
#[derive(Debug, Clone)]
pub struct Network {
    /// The node's id, sent first on each connection.
    pub id: u64,
    /// How connections to peers are opened.
    pub dialer: Arc<dyn Dialer>,
}

/// A client for one peer: one connection, dialed on first use and again
/// after any failure.
#[derive(Debug)]
pub struct Peer {
    me: u64,
    target: u64,
    address: String,
    dialer: Arc<dyn Dialer>,
    conn: Option<Framed<Stream, LengthDelimitedCodec>>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &NodeInfo) -> Self::Network {
        Peer {
            me: self.id,
            target,
            address: node.address.clone(),
            dialer: self.dialer.clone(),
            conn: None,
        }
    }
}

/// Why a call failed, before it is told in openraft's terms.
enum CallError {
    Dial(std::io::Error),
    Broken(std::io::Error),
    Timeout,
}

impl Peer {
    async fn dial(&self) -> std::io::Result<Framed<Stream, LengthDelimitedCodec>> {
        let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, self.dialer.dial(&self.address))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        let mut hello = PEER_MAGIC.to_le_bytes().to_vec();
        hello.extend_from_slice(&self.me.to_le_bytes());
        stream.write_all(&hello).await?;
        Ok(Framed::new(stream, codec()))
    }

    /// Sends `request` and reads the answer, within `ttl`.
    async fn call(
        &mut self,
        request: &PeerRequest,
        ttl: Duration,
    ) -> Result<PeerResponse, CallError> {
        let body = postcard::to_allocvec(request)
            .map_err(|e| CallError::Broken(std::io::Error::other(e)))?;
        let exchange = async {
            if self.conn.is_none() {
                self.conn = Some(self.dial().await.map_err(CallError::Dial)?);
            }
            let conn = self.conn.as_mut().ok_or(CallError::Timeout)?;
            conn.send(bytes::Bytes::from(body))
                .await
                .map_err(CallError::Broken)?;
            let frame = conn
                .next()
                .await
                .ok_or_else(|| {
                    CallError::Broken(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection",
                    ))
                })?
                .map_err(CallError::Broken)?;
            postcard::from_bytes(&frame).map_err(|e| {
                CallError::Broken(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
        };
        let result = match tokio::time::timeout(ttl, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout),
        };
        if result.is_err() {
            // Whatever was half sent or half read is lost with it.
            self.conn = None;
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
        option: &RPCOption,
        answer: fn(PeerResponse) -> Result<Result<T, String>, PeerResponse>,
    ) -> Result<T, RPCError<TypeConfig>> {
        let ttl = option.hard_ttl();
        match self.call(request, ttl).await.map(answer) {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(message))) => Err(self.remote(message)),
            Ok(Err(other)) => Err(self.unexpected(&other)),
            Err(e) => Err(self.rpc_error(e, action, ttl)),
        }
    }
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
        let request = PeerRequest::Append(rpc);
        self.rpc(&request, RPCTypes::AppendEntries, &option, |r| match r {
            PeerResponse::Append(answer) => Ok(answer),
            other => Err(other),
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::Vote(rpc);
        self.rpc(&request, RPCTypes::Vote, &option, vote_answer)
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::PreVote(rpc);
        self.rpc(&request, RPCTypes::Vote, &option, vote_answer)
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
        let data = snapshot.snapshot.into_inner();
        let total = data.len() as u64;
        let stream = async {
            let mut offset = 0;
            loop {
                let end = (offset + SNAPSHOT_CHUNK).min(data.len());
                let request = PeerRequest::SnapshotChunk {
                    vote,
                    meta: meta.clone(),
                    offset: offset as u64,
                    total,
                    data: data[offset..end].to_vec(),
                };
                let answer = self.call(&request, ttl).await;
                match answer {
                    Ok(PeerResponse::SnapshotChunk(Ok(()))) if end < data.len() => offset = end,
                    Ok(PeerResponse::Snapshot(Ok(response))) if end == data.len() => {
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
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = stream => result,
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let request = PeerRequest::TransferLeader(req);
        self.rpc(&request, RPCTypes::TransferLeader, &option, |r| match r {
            PeerResponse::TransferLeader(answer) => Ok(answer),
            other => Err(other),
        })
        .await
    }
}

/// Answers a peer's calls on a connection whose magic word was read.
/// Returns when the peer hangs up or sends something unreadable.
pub(crate) async fn serve_peer(mut stream: Stream, mut buffered: bytes::BytesMut, raft: Raft) {
    use tokio::io::AsyncReadExt;
    // The caller's node id follows the magic word.
    while buffered.len() < 8 {
        match tokio::time::timeout(CONNECT_TIMEOUT, stream.read_buf(&mut buffered)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
    let id = buffered.split_to(8);
    let from = u64::from_le_bytes(id[..].try_into().unwrap_or_default());
    tracing::debug!(from, "node-to-node connection");
    let mut parts = tokio_util::codec::FramedParts::new::<bytes::Bytes>(stream, codec());
    parts.read_buf = buffered;
    let mut conn = Framed::from_parts(parts);
    let mut incoming = None;
    while let Some(frame) = conn.next().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(error = %e, "closing a peer connection on a bad frame");
                return;
            }
        };
        let request: PeerRequest = match postcard::from_bytes(&frame) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(error = %e, "closing a peer connection on an unreadable call");
                return;
            }
        };
        let response = answer(&raft, request, &mut incoming).await;
        let body = match postcard::to_allocvec(&response) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode an answer to a peer");
                return;
            }
        };
        if conn.send(bytes::Bytes::from(body)).await.is_err() {
            return;
        }
    }
}

/// A snapshot arriving in chunks on one connection.
struct Incoming {
    vote: Vote,
    meta: SnapshotMeta,
    total: u64,
    data: Vec<u8>,
}

/// Takes one chunk of a snapshot; with the last one, installs it.
async fn snapshot_chunk(
    raft: &Raft,
    incoming: &mut Option<Incoming>,
    chunk: Incoming,
    offset: u64,
) -> PeerResponse {
    let refuse = |message: String| PeerResponse::SnapshotChunk(Err(message));
    if offset == 0 {
        *incoming = None;
    }
    let current = match incoming.take() {
        None if offset == 0 => Incoming {
            data: Vec::with_capacity(
                usize::try_from(chunk.total.min(64 << 20)).unwrap_or(SNAPSHOT_CHUNK),
            ),
            ..chunk
        },
        Some(mut current)
            if current.meta == chunk.meta
                && current.vote == chunk.vote
                && current.total == chunk.total
                && current.data.len() as u64 == offset =>
        {
            current.data.extend_from_slice(&chunk.data);
            current
        }
        _ => return refuse(format!("snapshot chunk at {offset} out of order")),
    };
    let mut current = current;
    if offset == 0 {
        current.data.extend_from_slice(&chunk.data);
    }
    let received = current.data.len() as u64;
    if received > current.total {
        return refuse("snapshot longer than announced".into());
    }
    if received < current.total {
        *incoming = Some(current);
        return PeerResponse::SnapshotChunk(Ok(()));
    }
    let snapshot = Snapshot {
        meta: current.meta,
        snapshot: std::io::Cursor::new(current.data),
    };
    PeerResponse::Snapshot(
        raft.install_full_snapshot(current.vote, snapshot)
            .await
            .map_err(|e| e.to_string()),
    )
}

async fn answer(
    raft: &Raft,
    request: PeerRequest,
    incoming: &mut Option<Incoming>,
) -> PeerResponse {
    match request {
        PeerRequest::Append(rpc) => {
            PeerResponse::Append(raft.append_entries(rpc).await.map_err(|e| e.to_string()))
        }
        PeerRequest::Vote(rpc) => {
            PeerResponse::Vote(raft.vote(rpc).await.map_err(|e| e.to_string()))
        }
        PeerRequest::PreVote(rpc) => {
            PeerResponse::Vote(raft.pre_vote(rpc).await.map_err(|e| e.to_string()))
        }
        PeerRequest::SnapshotChunk {
            vote,
            meta,
            offset,
            total,
            data,
        } => {
            let chunk = Incoming {
                vote,
                meta,
                total,
                data,
            };
            snapshot_chunk(raft, incoming, chunk, offset).await
        }
        PeerRequest::TransferLeader(req) => PeerResponse::TransferLeader(
            raft.handle_transfer_leader(req)
                .await
                .map_err(|e| e.to_string()),
        ),
    }
}
