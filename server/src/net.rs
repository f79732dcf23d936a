//! Accepting client connections and running their read/answer loop.
//!
//! The caller binds the listener (tests bind `127.0.0.1:0`) and hands it
//! to [`crate::NodeBuilder::serve`]; the node's thread runs `serve`, one
//! local task per connection, until the node stops, then closes every
//! connection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::{AsyncListener, Stream};
use bytes::BytesMut;
use dqlite_protocol::{FrameLimits, ProtocolVersion};
use tokio::io::{AsyncReadExt, BufWriter};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::gateway::{Gateway, Next};
use crate::node::Node;
use crate::raft::network::PEER_MAGIC;
use crate::raft::rpc::serve_peer;

/// Bytes of free buffer space a connection reads into.
const READ_ROOM: usize = 64 * 1024;

/// Default largest request body: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = dqlite_protocol::frame::DEFAULT_MAX_BODY;
/// Default most simultaneous client connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default time a new connection has to send its protocol version.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits applied to client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted; a larger one closes the connection.
    pub max_frame: usize,
    /// Connections beyond this many are closed at once.
    pub max_connections: usize,
    /// A connection that sends no version word within this time is closed.
    /// Established connections have no idle timeout (go-dqlite pools them).
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// Serves client connections on `listener` until `shutdown` resolves.
/// Runs inside a `LocalSet`: connections drive their sessions' SQLite
/// connections directly, which makes their tasks `!Send`.
pub(crate) async fn serve(
    listener: AsyncListener,
    node: Node,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
            Ok(Some(accepted)) => accepted,
            Ok(None) => continue,
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "too many connections; closing");
            continue;
        };
        next_id += 1;
        let span = tracing::info_span!("conn", id = next_id, peer = %peer);
        let node = node.clone();
        connections.spawn_local(tracing::Instrument::instrument(
            async move {
                if let Err(e) = connection(stream, node, limits, peer).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
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
async fn connection(
    mut stream: Stream,
    node: Node,
    limits: Limits,
    peer: String,
) -> std::io::Result<()> {
    stream.set_nodelay()?;
    let mut buf = BytesMut::with_capacity(4096);
    let frames = FrameLimits {
        max_body: limits.max_frame,
    };

    let first = tokio::time::timeout(limits.handshake_timeout, async {
        loop {
            if let Some(word) = buf.first_chunk::<8>() {
                let word = u64::from_le_bytes(*word);
                if word == PEER_MAGIC {
                    return std::io::Result::Ok(Some(First::Peer));
                }
                return Ok(match ProtocolVersion::from_word(word) {
                    Ok(version) => Some(First::Client(version)),
                    Err(e) => {
                        tracing::debug!(error = %e, "bad handshake");
                        None
                    }
                });
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(None);
            }
        }
    })
    .await
    .unwrap_or(Ok(None))?;
    let version = match first {
        None => return Ok(()),
        Some(First::Peer) => {
            let _ = buf.split_to(8);
            serve_peer(stream, buf, node.raft().clone(), node.gate().clone(), peer).await;
            return Ok(());
        }
        Some(First::Client(version)) => version,
    };
    let _ = buf.split_to(8);
    tracing::debug!(?version, "handshake");
    let (mut reader, writer) = stream.into_split();
    let mut out = BufWriter::new(writer);

    let mut gateway = Gateway::new(node, version);
    loop {
        let frame = match frames.split_frame(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                // Room for a whole typical request in one read: a nearly
                // full buffer would split it over two system calls.
                if buf.capacity() - buf.len() < READ_ROOM / 4 {
                    buf.reserve(READ_ROOM);
                }
                if reader.read_buf(&mut buf).await? == 0 {
                    if !buf.is_empty() {
                        tracing::debug!(buffered = buf.len(), "connection closed mid-message");
                    }
                    return Ok(());
                }
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "closing connection on a bad frame");
                return Ok(());
            }
        };
        if gateway.handle(&frame, &mut out).await? == Next::Close {
            return Ok(());
        }
    }
}
