//! Requests (client → server), types 0–19 (§5 of the spec).
//!
//! [`Request::decode`] is what a server calls on each frame;
//! [`Request::encode`] is what a client calls to send one. Every request
//! type of the protocol decodes, including HEARTBEAT and CONNECT, which a
//! server should recognise in order to refuse them cleanly.

mod body;
mod connection;
mod membership;
mod sql;
mod statement;

use bytes::BytesMut;

pub use connection::{Client, Connect, Heartbeat, Leader};
pub use membership::{Add, Assign, Cluster, Describe, Remove, Transfer, Weight};
pub use sql::{ExecSql, QuerySql};
pub use statement::{Dump, Exec, Finalize, Interrupt, Open, Prepare, Query};

pub use crate::codes::RequestType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::{Frame, Header, write_message};
use body::Body;

/// Any request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// LEADER (0).
    Leader(Leader),
    /// CLIENT (1).
    Client(Client),
    /// HEARTBEAT (2).
    Heartbeat(Heartbeat),
    /// OPEN (3).
    Open(Open),
    /// PREPARE (4).
    Prepare(Prepare),
    /// EXEC (5).
    Exec(Exec),
    /// QUERY (6).
    Query(Query),
    /// FINALIZE (7).
    Finalize(Finalize),
    /// EXEC_SQL (8).
    ExecSql(ExecSql),
    /// QUERY_SQL (9).
    QuerySql(QuerySql),
    /// INTERRUPT (10).
    Interrupt(Interrupt),
    /// CONNECT (11).
    Connect(Connect),
    /// ADD (12).
    Add(Add),
    /// ASSIGN (13).
    Assign(Assign),
    /// REMOVE (14).
    Remove(Remove),
    /// DUMP (15).
    Dump(Dump),
    /// CLUSTER (16).
    Cluster(Cluster),
    /// TRANSFER (17).
    Transfer(Transfer),
    /// DESCRIBE (18).
    Describe(Describe),
    /// WEIGHT (19).
    Weight(Weight),
}

/// Applies `$f` to the body of every variant.
macro_rules! each_request {
    ($value:expr, $body:ident => $f:expr) => {
        match $value {
            Request::Leader($body) => $f,
            Request::Client($body) => $f,
            Request::Heartbeat($body) => $f,
            Request::Open($body) => $f,
            Request::Prepare($body) => $f,
            Request::Exec($body) => $f,
            Request::Query($body) => $f,
            Request::Finalize($body) => $f,
            Request::ExecSql($body) => $f,
            Request::QuerySql($body) => $f,
            Request::Interrupt($body) => $f,
            Request::Connect($body) => $f,
            Request::Add($body) => $f,
            Request::Assign($body) => $f,
            Request::Remove($body) => $f,
            Request::Dump($body) => $f,
            Request::Cluster($body) => $f,
            Request::Transfer($body) => $f,
            Request::Describe($body) => $f,
            Request::Weight($body) => $f,
        }
    };
}

impl Request {
    /// Decodes a request from its header and exactly-sized body.
    ///
    /// Errors and what dqlite does with them:
    /// [`DecodeError::UnknownRequestType`] is answered with a failure and the
    /// connection goes on; [`DecodeError::Params`] (fixed fields fine, tuple
    /// malformed) is answered with a parse failure after the usual checks;
    /// [`DecodeError::UnsupportedSchema`] is answered with a failure; any
    /// other error means the fixed fields are unreadable, and dqlite closes
    /// the connection.
    pub fn decode(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        fn read<B: Body>(header: Header, body: &[u8]) -> Result<B, DecodeError> {
            B::decode_body(header, body)
        }
        let Some(kind) = RequestType::from_code(header.kind) else {
            return Err(DecodeError::UnknownRequestType(header.kind));
        };
        Ok(match kind {
            RequestType::Leader => Self::Leader(read(header, body)?),
            RequestType::Client => Self::Client(read(header, body)?),
            RequestType::Heartbeat => Self::Heartbeat(read(header, body)?),
            RequestType::Open => Self::Open(read(header, body)?),
            RequestType::Prepare => Self::Prepare(read(header, body)?),
            RequestType::Exec => Self::Exec(read(header, body)?),
            RequestType::Query => Self::Query(read(header, body)?),
            RequestType::Finalize => Self::Finalize(read(header, body)?),
            RequestType::ExecSql => Self::ExecSql(read(header, body)?),
            RequestType::QuerySql => Self::QuerySql(read(header, body)?),
            RequestType::Interrupt => Self::Interrupt(read(header, body)?),
            RequestType::Connect => Self::Connect(read(header, body)?),
            RequestType::Add => Self::Add(read(header, body)?),
            RequestType::Assign => Self::Assign(read(header, body)?),
            RequestType::Remove => Self::Remove(read(header, body)?),
            RequestType::Dump => Self::Dump(read(header, body)?),
            RequestType::Cluster => Self::Cluster(read(header, body)?),
            RequestType::Transfer => Self::Transfer(read(header, body)?),
            RequestType::Describe => Self::Describe(read(header, body)?),
            RequestType::Weight => Self::Weight(read(header, body)?),
        })
    }

    /// Decodes the request carried by a frame.
    pub fn decode_frame(frame: &Frame) -> Result<Self, DecodeError> {
        Self::decode(frame.header, &frame.body)
    }

    /// Appends the whole message (header and body) to `buf`. On error `buf`
    /// is left unchanged.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        each_request!(self, body => encode(body, buf))
    }

    /// The request's type.
    pub fn request_type(&self) -> RequestType {
        fn kind<B: Body>(_: &B) -> RequestType {
            B::TYPE
        }
        each_request!(self, body => kind(body))
    }
}

fn encode<B: Body>(body: &B, buf: &mut BytesMut) -> Result<(), EncodeError> {
    write_message(buf, B::TYPE.code(), body.schema(), |w| body.encode_body(w))
}

/// `From<Body> for Request` and an `encode` method on each body type.
macro_rules! request_bodies {
    ($($name:ident),* $(,)?) => {$(
        impl From<$name> for Request {
            fn from(body: $name) -> Self {
                Self::$name(body)
            }
        }

        impl $name {
            /// Appends this request, header included, to `buf`; on error
            /// `buf` is left unchanged.
            pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
                encode(self, buf)
            }
        }
    )*};
}

request_bodies!(
    Leader, Client, Heartbeat, Open, Prepare, Exec, Query, Finalize, ExecSql, QuerySql, Interrupt,
    Connect, Add, Assign, Remove, Dump, Cluster, Transfer, Describe, Weight,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_reported() {
        let header = Header {
            words: 1,
            kind: 20,
            schema: 0,
            extra: 0,
        };
        assert_eq!(
            Request::decode(header, &[0; 8]),
            Err(DecodeError::UnknownRequestType(20))
        );
    }
}
