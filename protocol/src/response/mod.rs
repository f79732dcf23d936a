//! Responses (server → client), types 0–10 (§6 of the spec).
//!
//! A few bodies cannot be told apart by their bytes alone: SERVER under the
//! legacy handshake carries only an address, and SERVERS carries role words
//! only when the CLUSTER request asked for them. [`ResponseContext`] holds
//! what the reader knows from its side of the exchange.

mod body;
mod failure;
mod files;
mod node;
mod rows;
mod simple;

use bytes::BytesMut;

pub use failure::Failure;
pub use files::{File, Files};
pub use node::{NodeInfo, Server, ServerLegacy, Servers};
pub use rows::{Rows, RowsEnd, RowsReader, RowsWriter};
pub use simple::{Db, Empty, ExecResult, Metadata, Stmt, Welcome};

pub use crate::codes::ResponseType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::{Frame, Header, write_message};
use crate::handshake::ProtocolVersion;
use body::Body;
pub use body::ResponseContext;

/// Any response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// FAILURE (0).
    Failure(Failure),
    /// SERVER (1), protocol version 1.
    Server(Server),
    /// SERVER (1) under the legacy handshake.
    ServerLegacy(ServerLegacy),
    /// WELCOME (2).
    Welcome(Welcome),
    /// SERVERS (3).
    Servers(Servers),
    /// DB (4).
    Db(Db),
    /// STMT (5), with or without tail offset.
    Stmt(Stmt),
    /// RESULT (6).
    Result(ExecResult),
    /// ROWS (7): one batch.
    Rows(Rows),
    /// EMPTY (8).
    Empty(Empty),
    /// FILES (9).
    Files(Files),
    /// METADATA (10).
    Metadata(Metadata),
}

macro_rules! each_response {
    ($value:expr, $body:ident => $f:expr) => {
        match $value {
            Response::Failure($body) => $f,
            Response::Server($body) => $f,
            Response::ServerLegacy($body) => $f,
            Response::Welcome($body) => $f,
            Response::Servers($body) => $f,
            Response::Db($body) => $f,
            Response::Stmt($body) => $f,
            Response::Result($body) => $f,
            Response::Rows($body) => $f,
            Response::Empty($body) => $f,
            Response::Files($body) => $f,
            Response::Metadata($body) => $f,
        }
    };
}

impl Response {
    /// Decodes a response from its header and exactly-sized body.
    pub fn decode(header: Header, body: &[u8], ctx: &ResponseContext) -> Result<Self, DecodeError> {
        fn read<B: Body>(
            header: Header,
            body: &[u8],
            ctx: &ResponseContext,
        ) -> Result<B, DecodeError> {
            B::decode_body(header, body, ctx)
        }
        let Some(kind) = ResponseType::from_code(header.kind) else {
            return Err(DecodeError::UnknownResponseType(header.kind));
        };
        Ok(match kind {
            ResponseType::Failure => Self::Failure(read(header, body, ctx)?),
            ResponseType::Server if ctx.version == ProtocolVersion::Legacy => {
                Self::ServerLegacy(read(header, body, ctx)?)
            }
            ResponseType::Server => Self::Server(read(header, body, ctx)?),
            ResponseType::Welcome => Self::Welcome(read(header, body, ctx)?),
            ResponseType::Servers => Self::Servers(read(header, body, ctx)?),
            ResponseType::Db => Self::Db(read(header, body, ctx)?),
            ResponseType::Stmt => Self::Stmt(read(header, body, ctx)?),
            ResponseType::Result => Self::Result(read(header, body, ctx)?),
            ResponseType::Rows => Self::Rows(read(header, body, ctx)?),
            ResponseType::Empty => Self::Empty(read(header, body, ctx)?),
            ResponseType::Files => Self::Files(read(header, body, ctx)?),
            ResponseType::Metadata => Self::Metadata(read(header, body, ctx)?),
        })
    }

    /// Decodes the response carried by a frame.
    pub fn decode_frame(frame: &Frame, ctx: &ResponseContext) -> Result<Self, DecodeError> {
        Self::decode(frame.header, &frame.body, ctx)
    }

    /// Appends the whole message (header and body) to `buf`. On error `buf`
    /// is left unchanged.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        each_response!(self, body => encode(body, buf))
    }

    /// The response's type.
    pub fn response_type(&self) -> ResponseType {
        fn kind<B: Body>(_: &B) -> ResponseType {
            B::TYPE
        }
        each_response!(self, body => kind(body))
    }
}

fn encode<B: Body>(body: &B, buf: &mut BytesMut) -> Result<(), EncodeError> {
    write_message(buf, B::TYPE.code(), body.schema(), |w| body.encode_body(w))
}

macro_rules! response_bodies {
    ($($name:ident => $variant:ident),* $(,)?) => {$(
        impl From<$name> for Response {
            fn from(body: $name) -> Self {
                Self::$variant(body)
            }
        }

        impl $name {
            /// Appends this response, header included, to `buf`; on error
            /// `buf` is left unchanged.
            pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
                encode(self, buf)
            }
        }
    )*};
}

response_bodies!(
    Failure => Failure,
    Server => Server,
    ServerLegacy => ServerLegacy,
    Welcome => Welcome,
    Servers => Servers,
    Db => Db,
    Stmt => Stmt,
    ExecResult => Result,
    Rows => Rows,
    Empty => Empty,
    Files => Files,
    Metadata => Metadata,
);
