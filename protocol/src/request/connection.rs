//! Connection-level requests: LEADER, CLIENT, HEARTBEAT and CONNECT.

use super::body::{Body, u64_request};
use crate::codes::RequestType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::wire::{self, BodyWriter};

/// LEADER (0): asks who the leader is. Its one body word is unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leader;

impl Body for Leader {
    const TYPE: RequestType = RequestType::Leader;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(0);
        Ok(())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, wire::u64_).map(|_| Self)
    }
}

u64_request!(
    /// CLIENT (1): registers a client; go-dqlite sends id 0.
    Client, Client, id
);

u64_request!(
    /// HEARTBEAT (2): never implemented by dqlite; decoded so it can be refused.
    Heartbeat, Heartbeat, timestamp
);

/// CONNECT (11): a node opening a node-to-node connection; never sent by clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Id of the dialing node.
    pub id: u64,
    /// Address of the dialing node.
    pub address: String,
}

impl Body for Connect {
    const TYPE: RequestType = RequestType::Connect;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.id);
        w.text(self.address.as_bytes())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u64_, wire::string)).map(|(id, address)| Self { id, address })
    }
}
