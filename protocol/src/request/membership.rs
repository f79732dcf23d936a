//! Cluster requests: ADD, ASSIGN, REMOVE, CLUSTER, TRANSFER, DESCRIBE, WEIGHT.

use super::body::{Body, u64_request};
use crate::codes::RequestType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::wire::{self, BodyWriter};

/// ADD (12): adds a node to the configuration as a spare.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Add {
    /// New node's id.
    pub id: u64,
    /// New node's address.
    pub address: String,
}

impl Body for Add {
    const TYPE: RequestType = RequestType::Add;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.id);
        w.text(self.address.as_bytes())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u64_, wire::string)).map(|(id, address)| Self { id, address })
    }
}

/// ASSIGN (13): changes a node's role. Without a role word it is the legacy
/// PROMOTE request, which means "voter".
///
/// The role is kept as the raw word so that a server can answer an invalid
/// code with a failure; see [`Role::from_code`](crate::Role::from_code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Assign {
    /// Node id.
    pub id: u64,
    /// Role code (0 voter, 1 stand-by, 2 spare), absent for PROMOTE.
    pub role: Option<u64>,
}

impl Body for Assign {
    const TYPE: RequestType = RequestType::Assign;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.id);
        if let Some(role) = self.role {
            w.u64(role);
        }
        Ok(())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, |i| {
            let (i, id) = wire::u64_(i)?;
            if i.len() < 8 {
                return Ok((i, Self { id, role: None }));
            }
            let (i, role) = wire::u64_(i)?;
            Ok((
                i,
                Self {
                    id,
                    role: Some(role),
                },
            ))
        })
    }
}

u64_request!(
    /// REMOVE (14): removes a node from the configuration.
    Remove, Remove, id
);

u64_request!(
    /// CLUSTER (16): lists the nodes; format 0 without roles, 1 with roles.
    /// The format is kept raw so a server can refuse unknown formats.
    Cluster, Cluster, format
);

impl Cluster {
    /// The format that lists roles (the one go-dqlite always asks for).
    pub const FORMAT_WITH_ROLES: u64 = 1;

    /// Whether a SERVERS answer to this request carries role words (every
    /// format but 0, as dqlite 1.11 answers it).
    pub fn wants_roles(&self) -> bool {
        self.format != 0
    }
}

u64_request!(
    /// TRANSFER (17): moves leadership to a voter; id 0 lets the leader pick.
    Transfer, Transfer, id
);

u64_request!(
    /// DESCRIBE (18): asks for this node's metadata; the format must be 0.
    Describe, Describe, format
);

u64_request!(
    /// WEIGHT (19): sets this node's weight.
    Weight, Weight, weight
);
