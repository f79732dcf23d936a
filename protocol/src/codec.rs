//! `tokio_util::codec` adapters (feature `codec`).
//!
//! [`ServerCodec`] reads the handshake word and then request frames, and
//! writes responses. [`ClientCodec`] writes the handshake and requests, and
//! reads response frames, which the client decodes with the
//! [`ResponseContext`](crate::response::ResponseContext) of the request it
//! sent. Both check the frame limit on the header, before reserving memory
//! for a body.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{DecodeError, EncodeError};
use crate::frame::{Frame, FrameLimits};
use crate::handshake::ProtocolVersion;
use crate::request::Request;
use crate::response::Response;

/// Errors of the codecs: the stream's I/O errors and the protocol's errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The underlying stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that do not follow the protocol.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The stream ended in the middle of a message.
    #[error("connection closed in the middle of a message ({buffered} bytes buffered)")]
    UnexpectedEof {
        /// Bytes of the incomplete message.
        buffered: usize,
    },
}

/// What a server reads from a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerInbound {
    /// The first word of the connection.
    Handshake(ProtocolVersion),
    /// A request frame; decode it with [`Request::decode_frame`].
    Frame(Frame),
}

/// Server side of a client connection.
#[derive(Debug, Clone, Default)]
pub struct ServerCodec {
    limits: FrameLimits,
    version: Option<ProtocolVersion>,
}

impl ServerCodec {
    /// A codec that refuses bodies larger than `limits.max_body`.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            limits,
            version: None,
        }
    }

    /// The version the client announced, once its handshake was read.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }
}

impl Decoder for ServerCodec {
    type Item = ServerInbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if self.version.is_none() {
            let Some(version) = ProtocolVersion::decode(src)? else {
                return Ok(None);
            };
            let _ = src.split_to(8);
            self.version = Some(version);
            return Ok(Some(ServerInbound::Handshake(version)));
        }
        Ok(self.limits.split_frame(src)?.map(ServerInbound::Frame))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        eof(self.decode(src)?, src)
    }
}

impl Encoder<&Response> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Response, dst: &mut BytesMut) -> Result<(), Self::Error> {
        Ok(item.encode(dst)?)
    }
}

/// Client side of a connection.
#[derive(Debug, Clone, Default)]
pub struct ClientCodec {
    limits: FrameLimits,
}

impl ClientCodec {
    /// A codec that refuses response bodies larger than `limits.max_body`
    /// (DUMP answers carry whole databases: size the limit accordingly).
    pub fn new(limits: FrameLimits) -> Self {
        Self { limits }
    }
}

impl Decoder for ClientCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        Ok(self.limits.split_frame(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        eof(self.decode(src)?, src)
    }
}

impl Encoder<ProtocolVersion> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: ProtocolVersion, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&item.to_bytes());
        Ok(())
    }
}

impl Encoder<&Request> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Request, dst: &mut BytesMut) -> Result<(), Self::Error> {
        Ok(item.encode(dst)?)
    }
}

/// At end of stream: a whole item is fine, leftover bytes are an error.
fn eof<T>(item: Option<T>, src: &BytesMut) -> Result<Option<T>, CodecError> {
    match item {
        Some(item) => Ok(Some(item)),
        None if src.is_empty() => Ok(None),
        None => Err(CodecError::UnexpectedEof {
            buffered: src.len(),
        }),
    }
}
