//! Answering other nodes: a connection whose first word is
//! [`PEER_MAGIC`](super::peer_wire::PEER_MAGIC) is handed here by the
//! listener. The caller's hello and each of its calls pass the node's
//! [`Gate`] before anything reaches Raft; a refused call gets its refusal
//! as the answer and the connection is closed. A caller whose certificate
//! is not from the admin CA ([`Access::Restricted`]) is refused at its
//! hello.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use super::gate::Gate;
use super::instance::Raft;
use super::peer_wire::{self, Hello, PeerConn, PeerRequest, PeerResponse};
use super::state_machine::{Snapshot, SnapshotData, check_snapshot_data};
use super::typ::{SnapshotMeta, Vote};
use crate::metrics::{Metrics, SnapshotKind};
use crate::progress::{Progress, Unit, log_progress};
use crate::tls::Access;
use crate::transport::Stream;

/// How long a caller has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers a peer's calls on a connection whose magic word was read (and
/// removed from `buffered`), from a peer that may do what `access`
/// says. Returns when the peer hangs up, sends something unreadable, or
/// is refused.
pub(crate) async fn serve_peer(
    mut stream: Stream,
    mut buffered: BytesMut,
    raft: Raft,
    gate: Gate,
    peer: String,
    access: Access,
    metrics: &Metrics,
) {
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
    let mut incoming = None;
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
        let response = answer(&raft, request, &mut incoming, hello.id, metrics).await;
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
    total: u64,
    data: Vec<u8>,
}

/// A snapshot arriving in chunks on one connection: the chunks so far
/// (`chunk.data` holds them all) and the progress they make.
struct Incoming {
    chunk: Chunk,
    progress: Progress,
}

/// Takes one chunk of a snapshot from node `from`; with the last one,
/// checks the whole snapshot and installs it. Logs progress while the
/// chunks arrive ([`crate::progress`]).
async fn snapshot_chunk(
    raft: &Raft,
    incoming: &mut Option<Incoming>,
    chunk: Chunk,
    offset: u64,
    from: u64,
) -> PeerResponse {
    let refuse = |message: String| PeerResponse::SnapshotChunk(Err(message));
    if offset == 0 {
        *incoming = None;
    }
    let mut current = match incoming.take() {
        None if offset == 0 => {
            let mut data = Vec::with_capacity(
                usize::try_from(chunk.total.min(64 << 20)).unwrap_or(peer_wire::SNAPSHOT_CHUNK),
            );
            data.extend_from_slice(&chunk.data);
            Incoming {
                progress: Progress::new(Unit::Bytes, chunk.total),
                chunk: Chunk { data, ..chunk },
            }
        }
        Some(mut current)
            if current.chunk.meta == chunk.meta
                && current.chunk.vote == chunk.vote
                && current.chunk.total == chunk.total
                && current.chunk.data.len() as u64 == offset =>
        {
            current.chunk.data.extend_from_slice(&chunk.data);
            current
        }
        _ => return refuse(format!("snapshot chunk at {offset} out of order")),
    };
    let received = current.chunk.data.len() as u64;
    if received > current.chunk.total {
        return refuse("snapshot longer than announced".into());
    }
    if let Some(report) = current.progress.step(received) {
        log_progress!(report, "receiving a snapshot", leader = from);
    }
    if received < current.chunk.total {
        *incoming = Some(current);
        return PeerResponse::SnapshotChunk(Ok(()));
    }
    let current = current.chunk;
    // A damaged snapshot never reaches the state machine: installing it
    // would fail there, and openraft stops a node on any storage error.
    if let Err(e) = check_snapshot_data(&current.data) {
        tracing::warn!(error = %e, "refused a damaged snapshot from the leader");
        return PeerResponse::Snapshot(Err(format!("damaged snapshot: {e}")));
    }
    let snapshot = Snapshot {
        meta: current.meta,
        snapshot: SnapshotData::Bytes(current.data),
    };
    PeerResponse::Snapshot(
        raft.install_full_snapshot(current.vote, snapshot)
            .await
            .map_err(|e| e.to_string()),
    )
}

/// Answers one call of node `from`.
async fn answer(
    raft: &Raft,
    request: PeerRequest,
    incoming: &mut Option<Incoming>,
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
            data,
        } => {
            let chunk = Chunk {
                vote,
                meta,
                total,
                data,
            };
            let started = std::time::Instant::now();
            let answer = snapshot_chunk(raft, incoming, chunk, offset, from).await;
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
