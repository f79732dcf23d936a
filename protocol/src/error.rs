//! The two error types of the crate: what can go wrong reading bytes, and
//! what cannot be written.

use crate::codes::RequestType;

/// Why bytes could not be decoded.
///
/// Every variant is the consequence of input that does not follow the
/// protocol; none of them carries an I/O error, because this crate does no
/// I/O.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first word of a connection is not a known protocol version.
    #[error("unknown protocol version {0:#018x}")]
    UnknownVersion(u64),
    /// A header announced a body of zero words; no message is empty.
    #[error("message header announces an empty body")]
    EmptyFrame,
    /// A header announced a body larger than the configured maximum.
    #[error("message body of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced body size in bytes.
        size: u64,
        /// Configured maximum body size in bytes.
        max: usize,
    },
    /// The input ended in the middle of a field.
    #[error("message body ends in the middle of a field")]
    Truncated,
    /// Bytes follow a message that was expected to stand alone.
    #[error("{0} bytes follow the end of the message")]
    TrailingBytes(usize),
    /// A text field has no NUL terminator before the end of the body.
    #[error("text field is not NUL-terminated")]
    UnterminatedText,
    /// A text field that must be UTF-8 (SQL, names, addresses, messages) is not.
    #[error("text field is not valid UTF-8")]
    InvalidUtf8,
    /// The header carries a request type this protocol does not define.
    #[error("unrecognized request type {0}")]
    UnknownRequestType(u8),
    /// The header carries a response type this protocol does not define.
    #[error("unrecognized response type {0}")]
    UnknownResponseType(u8),
    /// The header's schema byte names a body layout the message type lacks.
    #[error("unrecognized schema version {schema} for message type {kind}")]
    UnsupportedSchema {
        /// Message type from the header.
        kind: u8,
        /// Schema byte from the header.
        schema: u8,
    },
    /// A parameter carries a type code that parameters may not use.
    #[error("invalid parameter type {0}")]
    InvalidParamType(u8),
    /// A row header carries a type code that rows may not use.
    #[error("invalid column type {0}")]
    InvalidValueType(u8),
    /// The fixed fields of a request decoded but its parameter tuple did not.
    ///
    /// The fields are kept so that a server can run its checks (leader,
    /// database, statement) in the same order as dqlite before answering
    /// with a parse failure.
    #[error("malformed parameters in {request:?} request: {reason}")]
    Params {
        /// The request that carried the tuple.
        request: RequestType,
        /// Its database id.
        db_id: u64,
        /// Its statement id (EXEC and QUERY only).
        stmt_id: Option<u32>,
        /// What was wrong with the tuple.
        reason: Box<DecodeError>,
    },
    /// A ROWS body has neither a PART nor a DONE marker after its rows.
    #[error("rows message does not end with a PART or DONE marker")]
    MissingRowsEnd,
    /// A SERVERS body carries a role code outside voter, stand-by, spare.
    #[error("invalid node role {0}")]
    InvalidRole(u64),
}

/// Why a message could not be encoded. Nothing is ever truncated silently:
/// whatever the wire cannot carry is reported here, and the output buffer
/// is left as it was before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A text field contains a NUL byte, which the wire uses as terminator.
    #[error("text contains an interior NUL byte")]
    InteriorNul,
    /// More parameters than the tuple schema can count.
    #[error("{count} parameters do not fit a schema {schema} tuple (at most {max})")]
    TooManyParams {
        /// Number of parameters.
        count: usize,
        /// Tuple schema in use.
        schema: u8,
        /// The schema's maximum.
        max: u64,
    },
    /// UNIXTIME values exist only in results; dqlite refuses them as parameters.
    #[error("UNIXTIME values cannot be sent as parameters")]
    UnixTimeParam,
    /// A row does not have one value per column.
    #[error("row has {got} values but the result has {expected} columns")]
    RowWidth {
        /// Number of columns.
        expected: usize,
        /// Number of values in the row.
        got: usize,
    },
    /// A result with zero columns cannot carry rows: they would be empty.
    #[error("a result with no columns cannot carry rows")]
    RowsWithoutColumns,
    /// A PART batch must carry at least one row.
    #[error("a PART rows message must carry at least one row")]
    EmptyPart,
    /// Some SERVERS entries have a role and others do not.
    #[error("either every node in a SERVERS response has a role or none has")]
    MixedRoles,
    /// FILES entries are written without padding, so sizes must be whole words.
    #[error("file {name:?} has {size} bytes, not a multiple of 8")]
    UnalignedFile {
        /// File name.
        name: String,
        /// File size in bytes.
        size: usize,
    },
    /// The body needs more words than the 32-bit header can count.
    #[error("message body of {bytes} bytes is too large for a header")]
    FrameTooLarge {
        /// Body size in bytes.
        bytes: usize,
    },
}
