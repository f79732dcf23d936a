//! Answering other nodes: a connection whose first word is
//! [`PEER_MAGIC`](super::peer_wire::PEER_MAGIC) is handed here by the
//! listener. The caller's hello and each of its calls pass the node's
//! [`Gate`] before anything reaches Raft; a refused call gets its refusal
//! as the answer and the connection is closed. A caller whose certificate
//! is not from the admin CA ([`Access::Restricted`]) is refused at its
//! hello.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use super::gate::Gate;
use super::instance::Raft;
use super::peer_wire::{self, Hello, PeerConn, PeerRequest, PeerResponse};
use super::snapshot_stream::{Inbox, Step};
use super::state_machine::{Snapshot, SnapshotData};
use super::typ::{SnapshotMeta, Vote};
use crate::metrics::{Metrics, SnapshotKind};
use crate::tls::Access;
use crate::transport::Stream;

/// How long a caller has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// What answers other nodes' calls: the node's Raft behind its gate, its
/// metrics, and where a snapshot from the leader arrives.
#[derive(Clone)]
pub(crate) struct PeerService {
    pub(crate) raft: Raft,
    pub(crate) gate: Gate,
    pub(crate) metrics: Arc<Metrics>,
    /// Shared by every connection: a transfer cut on one resumes on the
    /// next.
    pub(crate) inbox: Arc<Inbox>,
}

/// Answers a peer's calls on a connection whose magic word was read (and
/// removed from `buffered`), from a peer that may do what `access`
/// says. Returns when the peer hangs up, sends something unreadable, or
/// is refused.
pub(crate) async fn serve_peer(
    mut stream: Stream,
    mut buffered: BytesMut,
    service: PeerService,
    peer: String,
    access: Access,
) {
    let PeerService {
        raft,
        gate,
        metrics,
        inbox,
    } = service;
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        loop {
            match Hello::decode(&buffered) {
                Ok(Some((hello, len))) => {
                    buffered.advance(len);
                    return Some(hello);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "closing a peer connection on a bad hello");
                    return None;
                }
            }
            match stream.read_buf(&mut buffered).await {
                Ok(n) if n > 0 => {}
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let Some(hello) = hello else {
        return;
    };
    if access == Access::Restricted {
        gate.refuse_not_admin(&hello, &peer);
        return;
    }
    if gate.admit(&raft, &hello, &peer).is_err() {
        return;
    }
    tracing::debug!(from = hello.id, %peer, "node-to-node connection");
    let mut conn = PeerConn::new(stream, buffered);
    loop {
        let bytes = match conn.recv_bytes().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "closing a peer connection on a bad frame");
                return;
            }
        };
        let request: PeerRequest = match peer_wire::decode(&bytes) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "closing a peer connection on an unreadable call");
                return;
            }
        };
        drop(bytes);
        if let Err(refusal) = gate.check(&raft, &hello, &request, &peer) {
            let _ = conn.send(&refused(&request, refusal.to_string())).await;
            return;
        }
        let response = answer(&raft, request, &inbox, hello.id, &metrics).await;
        if let Err(e) = conn.send(&response).await {
            tracing::debug!(%peer, error = %e, "cannot answer a peer");
            return;
        }
    }
}

/// The answer of `request`'s kind that carries a refusal.
fn refused(request: &PeerRequest, message: String) -> PeerResponse {
    let message = format!("refused: {message}");
    match request {
        PeerRequest::Append(_) => PeerResponse::Append(Err(message)),
        PeerRequest::Vote(_) | PeerRequest::PreVote(_) => PeerResponse::Vote(Err(message)),
        PeerRequest::SnapshotChunk { .. } => PeerResponse::SnapshotChunk(Err(message)),
        PeerRequest::TransferLeader(_) => PeerResponse::TransferLeader(Err(message)),
        PeerRequest::Members => PeerResponse::Members(Err(message)),
    }
}

/// One chunk of a snapshot, as a call carries it.
struct Chunk {
    vote: Vote,
    meta: SnapshotMeta,
    offset: u64,
    total: u64,
    crc: u32,
    data: Vec<u8>,
}

/// Takes one chunk of a snapshot from node `from` into the node's inbox
/// (see [`super::snapshot_stream`]); with the last one, installs it.
async fn snapshot_chunk(raft: &Raft, inbox: &Inbox, chunk: Chunk, from: u64) -> PeerResponse {
    if crc32fast::hash(&chunk.data) != chunk.crc {
        tracing::warn!(
            leader = from,
            offset = chunk.offset,
            "refused a damaged snapshot chunk"
        );
        return PeerResponse::SnapshotChunk(Err(format!(
            "snapshot chunk at {} damaged (checksum mismatch)",
            chunk.offset
        )));
    }
    let step = inbox
        .chunk(&chunk.meta, chunk.total, chunk.offset, chunk.data, from)
        .await;
    match step {
        Ok(Step::Next(next)) => PeerResponse::SnapshotChunk(Ok(next)),
        Err(e) => {
            tracing::warn!(leader = from, error = %e, "refused a snapshot from the leader");
            PeerResponse::SnapshotChunk(Err(e))
        }
        Ok(Step::Complete(incoming)) => {
            let snapshot = Snapshot {
                meta: chunk.meta,
                snapshot: SnapshotData::Received(incoming),
            };
            PeerResponse::Snapshot(
                raft.install_full_snapshot(chunk.vote, snapshot)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
    }
}

/// Answers one call of node `from`.
async fn answer(
    raft: &Raft,
    request: PeerRequest,
    inbox: &Inbox,
    from: u64,
    metrics: &Metrics,
) -> PeerResponse {
    match request {
        PeerRequest::Append(rpc) => {
            let answer = raft.append_entries(rpc).await;
            // A leader of the current term reached this node (an old
            // leader's call is refused with a higher vote).
            if let Ok(response) = &answer
                && !matches!(
                    response,
                    openraft::raft::AppendEntriesResponse::HigherVote(_)
                )
            {
                metrics.leader_contact.touch();
            }
            PeerResponse::Append(answer.map_err(|e| e.to_string()))
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
            crc,
            data,
        } => {
            let chunk = Chunk {
                vote,
                meta,
                offset,
                total,
                crc,
                data,
            };
            let started = std::time::Instant::now();
            let answer = snapshot_chunk(raft, inbox, chunk, from).await;
            if matches!(answer, PeerResponse::Snapshot(Ok(_))) {
                metrics.snapshot(SnapshotKind::Installed, started.elapsed());
            }
            answer
        }
        PeerRequest::TransferLeader(req) => PeerResponse::TransferLeader(
            raft.handle_transfer_leader(req)
                .await
                .map_err(|e| e.to_string()),
        ),
        PeerRequest::Members => {
            use openraft::async_runtime::WatchReceiver;
            let metrics = raft.metrics();
            let members = metrics
                .borrow_watched()
                .membership_config
                .membership()
                .nodes()
                .map(|(id, node)| (*id, node.address.clone()))
                .collect();
            PeerResponse::Members(Ok(members))
        }
    }
}
