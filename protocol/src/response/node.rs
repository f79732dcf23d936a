//! Node answers: SERVER (and its legacy form) and SERVERS.

use nom::Parser;

use super::body::{Body, ResponseContext};
use crate::codes::ResponseType;
use crate::codes::Role;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::wire::{self, BodyWriter, fail};

/// SERVER (1): the leader's id and address; id 0 and `""` when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Server {
    /// Leader id, 0 if unknown.
    pub id: u64,
    /// Leader address, empty if unknown.
    pub address: String,
}

impl Body for Server {
    const TYPE: ResponseType = ResponseType::Server;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.id);
        w.text(self.address.as_bytes())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u64_, wire::string)).map(|(id, address)| Self { id, address })
    }
}

/// SERVER (1) under the legacy handshake: only the leader's address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerLegacy {
    /// Leader address, empty if unknown.
    pub address: String,
}

impl Body for ServerLegacy {
    const TYPE: ResponseType = ResponseType::Server;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.text(self.address.as_bytes())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, wire::string).map(|address| Self { address })
    }
}

/// One node of a SERVERS list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node id.
    pub id: u64,
    /// Node address.
    pub address: String,
    /// Role; `None` in a format-0 listing.
    pub role: Option<Role>,
}

/// SERVERS (3): the nodes of the configuration, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Servers {
    /// The nodes. Either all have a role (format 1) or none has (format 0).
    pub nodes: Vec<NodeInfo>,
}

impl Body for Servers {
    const TYPE: ResponseType = ResponseType::Servers;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        let with_roles = self.nodes.first().is_some_and(|n| n.role.is_some());
        if self.nodes.iter().any(|n| n.role.is_some() != with_roles) {
            return Err(EncodeError::MixedRoles);
        }
        w.u64(wire::len_u64(self.nodes.len()));
        for node in &self.nodes {
            w.u64(node.id);
            w.text(node.address.as_bytes())?;
            if let Some(role) = node.role {
                w.u64(role.code());
            }
        }
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, |i| {
            let (mut i, count) = wire::u64_(i)?;
            // Each node takes at least an id word and an address word.
            let count = match wire::bounded_count(count, i, 16) {
                Ok(n) => n,
                Err(e) => return fail(e),
            };
            let mut nodes = Vec::with_capacity(count);
            for _ in 0..count {
                let (rest, (id, address)) = (wire::u64_, wire::string).parse_complete(i)?;
                i = rest;
                let role = if ctx.servers_with_roles {
                    let (rest, code) = wire::u64_(i)?;
                    i = rest;
                    match Role::from_code(code) {
                        Some(role) => Some(role),
                        None => return fail(DecodeError::InvalidRole(code)),
                    }
                } else {
                    None
                };
                nodes.push(NodeInfo { id, address, role });
            }
            Ok((i, Self { nodes }))
        })
    }
}
