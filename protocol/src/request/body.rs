//! What every request type implements: its code, its schema byte, and how
//! its body is written and read.

use crate::codes::RequestType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::wire::BodyWriter;

/// The body of one request type: its code, its schema byte, and how it is
/// written and read.
pub(crate) trait Body: Sized {
    const TYPE: RequestType;

    fn schema(&self) -> u8 {
        0
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError>;

    fn decode_body(header: Header, body: &[u8]) -> Result<Self, DecodeError>;
}

/// Request bodies made of one u64 field.
macro_rules! u64_request {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $field:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            #[allow(missing_docs)]
            pub $field: u64,
        }

        impl crate::request::body::Body for $name {
            const TYPE: crate::codes::RequestType = crate::codes::RequestType::$kind;

            fn encode_body(
                &self,
                w: &mut crate::wire::BodyWriter<'_>,
            ) -> Result<(), crate::error::EncodeError> {
                w.u64(self.$field);
                Ok(())
            }

            fn decode_body(
                _header: crate::frame::Header,
                body: &[u8],
            ) -> Result<Self, crate::error::DecodeError> {
                crate::wire::run(body, crate::wire::u64_).map(|$field| Self { $field })
            }
        }
    };
}
pub(crate) use u64_request;
