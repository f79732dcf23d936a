//! Sans-IO codec of the [dqlite](https://dqlite.io) wire protocol.
//!
//! This crate turns bytes into typed dqlite messages and back, for both
//! directions: a server decodes [`Request`]s and encodes [`Response`]s, a
//! client does the opposite. It performs no I/O, spawns nothing and reads
//! no clock; the IO crates of this workspace (the server and the drivers)
//! own sockets and buffers and call into it. The byte-level specification
//! it implements is `docs/wire-protocol.md` at the repository's root (the
//! tests quote it by section number, "spec §13").
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use dqlite_protocol::request::{QuerySql, Request};
//! use dqlite_protocol::response::{Response, ResponseContext, RowsReader};
//! use dqlite_protocol::{FrameLimits, Params, Value};
//!
//! // Client: encode a query with two parameters.
//! let mut wire = BytesMut::new();
//! let query = QuerySql {
//!     db_id: 0,
//!     sql: "SELECT ?, ?".into(),
//!     params: Params::new(vec![Value::Integer(42), Value::from("hello")]),
//! };
//! query.encode(&mut wire)?;
//!
//! // Server: frame it, then decode it.
//! let limits = FrameLimits::default();
//! let frame = limits.split_frame(&mut wire)?.expect("a whole message");
//! let Request::QuerySql(decoded) = Request::decode_frame(&frame)? else {
//!     panic!("not a QUERY_SQL");
//! };
//! assert_eq!(decoded, query);
//!
//! // Server: answer with one batch of rows, written row by row.
//! let mut out = BytesMut::new();
//! let mut rows = dqlite_protocol::response::RowsWriter::begin(&mut out, &["?", "?"])?;
//! rows.push_row(decoded.params.values.iter().map(Value::as_ref))?;
//! rows.finish(dqlite_protocol::response::RowsEnd::Done)?;
//!
//! // Client: read the rows one at a time, without copying them.
//! let frame = limits.split_frame(&mut out)?.expect("a whole message");
//! let mut reader = RowsReader::new(&frame.body)?;
//! let row = reader.next().expect("one row")?;
//! assert_eq!(row[1], dqlite_protocol::ValueRef::Text(b"hello"));
//! # let _ = Response::decode_frame(&frame, &ResponseContext::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! - [`handshake`]: the protocol version word that opens a connection.
//! - [`frame`]: the 8-byte header, the frame-size limit checked before any
//!   allocation, and splitting whole messages off a buffer.
//! - `wire` (private): primitive encodings, word padding, nom parsers
//!   over exact bodies.
//! - [`value`]: value type codes, owned [`Value`] and borrowed [`ValueRef`].
//! - [`tuple`](mod@tuple): parameter tuples ([`Params`], schema 0 and 1) and row tuples.
//! - [`request`]: request types 0–19, one file per family.
//! - [`response`]: response types 0–10, including the streaming
//!   [`RowsReader`](response::RowsReader) and [`RowsWriter`](response::RowsWriter).
//! - [`codes`]: request and response type codes, failure codes and node
//!   roles; a leaf every other module may import.
//! - [`codec`] (feature `codec`): `tokio_util` decoder/encoder pairs.
//! - [`error`]: [`DecodeError`] and [`EncodeError`].
//!
//! # Rules the codec keeps
//!
//! - Padding is never checked on input (go-dqlite sends stale bytes there)
//!   and always zero on output.
//! - Lengths and counts from the wire are checked against the bytes present
//!   before anything is allocated; a frame header is checked against
//!   [`FrameLimits::max_body`] before its body is buffered.
//! - Encoding never truncates: whatever the wire cannot carry (a NUL inside
//!   text, 256 parameters in a schema 0 tuple, a UNIXTIME parameter, a row
//!   of the wrong width) is an [`EncodeError`] and the buffer is unchanged.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `codec` | [`codec::ServerCodec`] and [`codec::ClientCodec`] for `tokio_util::codec::Framed` |

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod codes;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod request;
pub mod response;
pub mod tuple;
pub mod value;
mod wire;

#[cfg(feature = "codec")]
pub mod codec;

pub use codes::Role;
pub use error::{DecodeError, EncodeError};
pub use frame::{Frame, FrameLimits, Header};
pub use handshake::ProtocolVersion;
pub use request::{Request, RequestType};
pub use response::{Response, ResponseContext, ResponseType};
pub use tuple::{Params, Schema};
pub use value::{Value, ValueRef, ValueType};
