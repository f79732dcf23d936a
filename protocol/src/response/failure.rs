//! FAILURE (0): a request's error code and message.

use super::body::{Body, ResponseContext};
use crate::codes::ResponseType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::wire::{self, BodyWriter};

/// FAILURE (0): an SQLite (extended) or dqlite error code and its message.
/// See [`codes`](crate::codes) for the dqlite-specific codes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    /// Error code.
    pub code: u64,
    /// Error message.
    pub message: String,
}

impl Failure {
    /// A failure with the given code and message.
    pub fn new(code: u64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl Body for Failure {
    const TYPE: ResponseType = ResponseType::Failure;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.code);
        w.text(self.message.as_bytes())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u64_, wire::string)).map(|(code, message)| Self { code, message })
    }
}
