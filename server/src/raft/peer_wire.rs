//! The bytes of node-to-node traffic: the hello that opens a connection,
//! the messages, and how a message travels in bounded frames.
//!
//! # Hello
//!
//! | bytes | field |
//! |---|---|
//! | 8 | [`PEER_MAGIC`] (`"dqlrsrft"`), where a client sends its protocol version |
//! | 8 | the caller's node id, u64 LE |
//! | 2 | length of its address, u16 LE, at most [`MAX_ADDRESS`] |
//! | n | the address it is a member with (UTF-8) |
//!
//! # Messages
//!
//! Then requests ([`PeerRequest`]) and answers ([`PeerResponse`]) alternate,
//! each postcard-encoded and cut into *parts* of at most [`PART_BYTES`].
//! A part travels in one frame: a 4-byte big-endian length, then a flag
//! byte (1: more parts follow, 0: the last part) and the part's bytes, so
//! no frame exceeds [`MAX_FRAME`] and nothing is reserved for a length a
//! peer merely claims. A message grows part by part up to
//! [`MAX_MESSAGE`] (the largest log entry plus room for its batch), and
//! the sender cuts append batches larger than [`APPEND_BATCH_BYTES`]
//! into several calls (`raft::network`), so only a single huge entry ever
//! makes a message that large.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::typ::{SnapshotMeta, TypeConfig, Vote};

/// The first word of a node-to-node connection (`"dqlrsrft"`), which no
/// dqlite client sends.
pub const PEER_MAGIC: u64 = u64::from_le_bytes(*b"dqlrsrft");

/// Longest address a hello may carry.
pub const MAX_ADDRESS: usize = 1024;

/// Bytes of a message per frame.
pub const PART_BYTES: usize = 1024 * 1024;

/// Largest frame on the node-to-node path: one part and its flag byte.
pub const MAX_FRAME: usize = PART_BYTES + 1;

/// Largest message: the largest log entry the log accepts, plus room for
/// the rest of its call.
pub const MAX_MESSAGE: usize = super::log_file::MAX_PAYLOAD + 16 * 1024 * 1024;

/// Append batches whose encoding exceeds this are sent as several calls.
pub const APPEND_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Bytes of snapshot per call: a snapshot streams in chunks, each
/// acknowledged, so neither side needs a message as large as the
/// databases.
pub const SNAPSHOT_CHUNK: usize = 1024 * 1024;

/// Flag byte of a part that more parts follow.
const MORE: u8 = 1;
/// Flag byte of a message's last part.
const LAST: u8 = 0;

/// Who opens a node-to-node connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The caller's node id.
    pub id: u64,
    /// The address the caller is a member with.
    pub address: String,
}

/// Why a hello cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The address length is over [`MAX_ADDRESS`].
    #[error("peer address of {0} bytes is too long")]
    AddressTooLong(usize),
    /// The address is not UTF-8.
    #[error("peer address is not UTF-8")]
    AddressNotUtf8,
}

impl Hello {
    /// The hello's bytes, magic word first.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        let len = u16::try_from(self.address.len())
            .ok()
            .filter(|&l| usize::from(l) <= MAX_ADDRESS)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    HelloError::AddressTooLong(self.address.len()),
                )
            })?;
        let mut out = Vec::with_capacity(18 + self.address.len());
        out.extend_from_slice(&PEER_MAGIC.to_le_bytes());
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(self.address.as_bytes());
        Ok(out)
    }

    /// Reads a hello from what follows the magic word: `Ok(None)` while
    /// more bytes are needed, else the hello and how many bytes it took.
    pub fn decode(bytes: &[u8]) -> Result<Option<(Hello, usize)>, HelloError> {
        let Some((id, rest)) = bytes.split_first_chunk::<8>() else {
            return Ok(None);
        };
        let Some((len, rest)) = rest.split_first_chunk::<2>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_le_bytes(*len));
        if len > MAX_ADDRESS {
            return Err(HelloError::AddressTooLong(len));
        }
        let Some(address) = rest.get(..len) else {
            return Ok(None);
        };
        let address = std::str::from_utf8(address).map_err(|_| HelloError::AddressNotUtf8)?;
        Ok(Some((
            Hello {
                id: u64::from_le_bytes(*id),
                address: address.to_owned(),
            },
            10 + len,
        )))
    }
}

/// A call from one node to another.
#[derive(Debug, Serialize, Deserialize)]
#[allow(missing_docs)] // Each variant carries the openraft call it names.
pub enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    /// Bytes `[offset, offset + data.len())` of a snapshot of `total`
    /// bytes (see `raft::snapshot_stream`), `crc` their CRC-32; the last
    /// one installs it.
    SnapshotChunk {
        vote: Vote,
        meta: SnapshotMeta,
        offset: u64,
        total: u64,
        crc: u32,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// The members of the callee's configuration: how a node checks a
    /// caller it does not know of (see `raft::gate`).
    Members,
}

/// The answer; `Err` carries the callee's refusal or Raft failure.
#[derive(Debug, Serialize, Deserialize)]
#[allow(missing_docs)] // Each variant answers the call of its name.
pub enum PeerResponse {
    Append(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    Snapshot(Result<SnapshotResponse<TypeConfig>, String>),
    /// A chunk before the last was taken; the offset to send next (the
    /// chunk's end, or where a transfer cut earlier stopped).
    SnapshotChunk(Result<u64, String>),
    TransferLeader(Result<TransferLeaderResponse<TypeConfig>, String>),
    /// Members as `(id, address)`.
    Members(Result<Vec<(u64, String)>, String>),
}

/// Decodes one whole message.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Puts a message back together from its parts.
#[derive(Debug)]
pub struct Assembler {
    message: Vec<u8>,
    limit: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Self::with_limit(MAX_MESSAGE)
    }
}

impl Assembler {
    /// An assembler of messages up to `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            message: Vec::new(),
            limit,
        }
    }

    /// Takes one frame; returns the message once its last part arrived.
    /// A frame without its flag byte, or a message growing past
    /// [`MAX_MESSAGE`], is an error (the connection must be closed).
    pub fn push(&mut self, frame: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
        let Some((&flag, part)) = frame.split_first() else {
            return Err(invalid("empty peer frame"));
        };
        if self.message.len().saturating_add(part.len()) > self.limit {
            return Err(invalid("peer message too large"));
        }
        self.message.extend_from_slice(part);
        match flag {
            MORE => Ok(None),
            LAST => Ok(Some(std::mem::take(&mut self.message))),
            _ => Err(invalid("bad peer frame flag")),
        }
    }
}

/// The frames of one message of `bytes`.
pub fn parts(bytes: &[u8]) -> impl Iterator<Item = Bytes> + '_ {
    let count = bytes.len().div_ceil(PART_BYTES).max(1);
    (0..count).map(move |i| {
        let part =
            &bytes[(i * PART_BYTES).min(bytes.len())..((i + 1) * PART_BYTES).min(bytes.len())];
        let mut frame = BytesMut::with_capacity(part.len() + 1);
        frame.extend_from_slice(&[if i + 1 == count { LAST } else { MORE }]);
        frame.extend_from_slice(part);
        frame.freeze()
    })
}

/// The frame codec of a node-to-node connection.
pub(crate) fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// A node-to-node connection after the hello: whole messages in and out.
#[derive(Debug)]
pub(crate) struct PeerConn<S> {
    framed: Framed<S, LengthDelimitedCodec>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> PeerConn<S> {
    /// Wraps `stream`, whose first bytes after the hello may already be in
    /// `read_buf`.
    pub(crate) fn new(stream: S, read_buf: BytesMut) -> Self {
        let mut parts = tokio_util::codec::FramedParts::new::<Bytes>(stream, codec());
        parts.read_buf = read_buf;
        Self {
            framed: Framed::from_parts(parts),
        }
    }

    /// Sends one message.
    pub(crate) async fn send<T: Serialize>(&mut self, message: &T) -> io::Result<()> {
        let bytes = postcard::to_allocvec(message).map_err(io::Error::other)?;
        if bytes.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a peer message of {} bytes is too large", bytes.len()),
            ));
        }
        for part in parts(&bytes) {
            self.framed.feed(part).await?;
        }
        SinkExt::<Bytes>::flush(&mut self.framed).await
    }

    /// The next whole message's bytes; `None` when the peer hung up
    /// between messages.
    pub(crate) async fn recv_bytes(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut assembler = Assembler::default();
        let mut started = false;
        while let Some(frame) = self.framed.next().await {
            started = true;
            if let Some(message) = assembler.push(&frame?)? {
                return Ok(Some(message));
            }
        }
        if started {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer hung up in the middle of a message",
            ));
        }
        Ok(None)
    }

    /// The next whole message, decoded.
    pub(crate) async fn recv<T: serde::de::DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        match self.recv_bytes().await? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_round_trips_and_waits_for_its_bytes() {
        let hello = Hello {
            id: 7,
            address: "127.0.0.1:9001".into(),
        };
        let bytes = hello.encode().unwrap();
        assert_eq!(&bytes[..8], b"dqlrsrft");
        for cut in 8..bytes.len() {
            assert_eq!(Hello::decode(&bytes[8..cut]), Ok(None), "{cut}");
        }
        let mut longer = bytes[8..].to_vec();
        longer.extend_from_slice(b"next");
        assert_eq!(Hello::decode(&longer), Ok(Some((hello, bytes.len() - 8))));
    }

    #[test]
    fn a_hello_with_a_bad_address_is_refused() {
        let mut long = 7u64.to_le_bytes().to_vec();
        long.extend_from_slice(&2000u16.to_le_bytes());
        assert_eq!(Hello::decode(&long), Err(HelloError::AddressTooLong(2000)));
        let mut bad = 7u64.to_le_bytes().to_vec();
        bad.extend_from_slice(&2u16.to_le_bytes());
        bad.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(Hello::decode(&bad), Err(HelloError::AddressNotUtf8));
        let too_long = Hello {
            id: 1,
            address: "x".repeat(MAX_ADDRESS + 1),
        };
        assert!(too_long.encode().is_err());
    }

    #[test]
    fn messages_travel_in_parts_and_come_back_whole() {
        for len in [
            0,
            1,
            PART_BYTES - 1,
            PART_BYTES,
            PART_BYTES + 1,
            3 * PART_BYTES + 5,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let frames: Vec<Bytes> = parts(&bytes).collect();
            assert!(frames.iter().all(|f| f.len() <= MAX_FRAME));
            let mut assembler = Assembler::default();
            let (last, rest) = frames.split_last().unwrap();
            for frame in rest {
                assert_eq!(assembler.push(frame).unwrap(), None);
            }
            assert_eq!(assembler.push(last).unwrap(), Some(bytes), "{len}");
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut assembler = Assembler::default();
        assert!(assembler.push(&[]).is_err());
        assert!(Assembler::default().push(&[7, 1, 2]).is_err());
        // A message may not grow past the limit, however it is cut.
        let mut assembler = Assembler::with_limit(4);
        assert_eq!(assembler.push(&[MORE, 1, 2]).unwrap(), None);
        assert!(assembler.push(&[LAST, 3, 4, 5]).is_err());
    }
}
