//! The client core's errors. Each driver maps them into its own error type
//! (rusqlite's shape in `dqlite-rusqlite`, `sqlx::Error` in `sqlx-dqlite`).

use std::time::Duration;

/// What can go wrong between a driver and the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a failure: SQLite's (extended) code, or one
    /// of dqlite's, and its message.
    #[error("{message}")]
    Failure {
        /// The code from the FAILURE message, e.g. 2067 for a UNIQUE violation.
        code: u64,
        /// The server's message.
        message: String,
    },
    /// A request could not be encoded (text with a NUL byte, too many
    /// parameters); nothing was sent.
    #[error("request cannot be encoded: {0}")]
    Encode(#[source] dqlite_protocol::EncodeError),
    /// The settings are not usable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The node refused the request because it is not the leader (10250),
    /// and the request could not be retried on the new leader.
    #[error("not leader: {0}")]
    NotLeader(String),
    /// No node named a leader that would accept a connection within the
    /// connect timeout.
    #[error("no leader found within {timeout:?}: {last_error}")]
    NoLeader {
        /// The connect timeout that expired.
        timeout: Duration,
        /// What the last attempt ran into.
        last_error: String,
    },
    /// A write was sent but its outcome is unknown: the connection was lost
    /// or the leader lost its leadership (10506) before answering. It was
    /// not sent again.
    #[error("outcome of the statement is unknown: {0}")]
    OutcomeUnknown(String),
    /// The open transaction ended on the server when the connection to the
    /// leader was lost; roll it back and start again.
    #[error("the transaction was lost with the connection to the leader")]
    TransactionLost,
    /// The TLS handshake failed: the server's certificate was refused,
    /// or the server refused the client's.
    #[error("{0}")]
    Tls(String),
    /// The connection failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that do not follow the dqlite protocol, or an
    /// answer of the wrong type.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server did not answer within the request timeout; the
    /// connection was closed.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
}

/// The client core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error for a FAILURE answer.
    pub(crate) fn failure(code: u64, message: String) -> Self {
        Self::Failure { code, message }
    }
}

impl From<dqlite_protocol::DecodeError> for Error {
    fn from(e: dqlite_protocol::DecodeError) -> Self {
        Self::Protocol(e.to_string())
    }
}

impl From<dqlite_protocol::codec::CodecError> for Error {
    fn from(e: dqlite_protocol::codec::CodecError) -> Self {
        use dqlite_protocol::codec::CodecError;
        match e {
            CodecError::Io(e) => Self::Io(e),
            other => Self::Protocol(other.to_string()),
        }
    }
}
