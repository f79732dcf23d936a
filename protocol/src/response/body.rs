//! What every response type implements (its code, schema byte, writer and
//! reader), and the [`ResponseContext`] a reader needs for the bodies whose
//! bytes alone are ambiguous.

use crate::codes::ResponseType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::handshake::ProtocolVersion;
use crate::request::Request;
use crate::wire::BodyWriter;

/// What a reader must know to decode the ambiguous response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseContext {
    /// The connection's protocol version: SERVER is [`ServerLegacy`](super::ServerLegacy) under
    /// the legacy handshake.
    pub version: ProtocolVersion,
    /// Whether SERVERS carries a role word per node (CLUSTER format ≠ 0).
    pub servers_with_roles: bool,
}

impl Default for ResponseContext {
    /// Version 1, SERVERS with roles: what go-dqlite always uses.
    fn default() -> Self {
        Self {
            version: ProtocolVersion::V1,
            servers_with_roles: true,
        }
    }
}

impl ResponseContext {
    /// The context for reading the answer to `request` on a connection
    /// that spoke `version`.
    pub fn for_request(version: ProtocolVersion, request: &Request) -> Self {
        let servers_with_roles = match request {
            Request::Cluster(cluster) => cluster.wants_roles(),
            _ => true,
        };
        Self {
            version,
            servers_with_roles,
        }
    }
}

/// The body of one response type.
pub(crate) trait Body: Sized {
    const TYPE: ResponseType;

    fn schema(&self) -> u8 {
        0
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError>;

    fn decode_body(header: Header, body: &[u8], ctx: &ResponseContext)
    -> Result<Self, DecodeError>;
}
