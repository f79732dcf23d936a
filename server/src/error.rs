//! The server's error type and how each case is reported on the wire.

use dqlite_protocol::codes;

/// What can go wrong serving a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite reported an error (extended code and message).
    #[error("SQLite error {code}: {message}")]
    Sqlite {
        /// Extended result code.
        code: i32,
        /// The connection's error message.
        message: String,
    },
    /// PREPARE or QUERY_SQL of text without a statement.
    #[error("empty statement")]
    EmptyStatement,
    /// EXEC of a statement that produced rows.
    #[error("rows yielded when none expected for EXEC request")]
    RowsYielded,
    /// QUERY of a statement without result columns (not executed).
    #[error("statement has no result columns: send it with EXEC")]
    NoColumns,
    /// QUERY_SQL or PREPARE of text with more than one statement.
    #[error("nonempty statement tail")]
    NonemptyTail,
    /// This node is not the leader.
    #[error("not leader")]
    NotLeader,
    /// Leadership was lost while the request was being replicated; its
    /// outcome is unknown to this node.
    #[error("leadership lost: {0}")]
    LeadershipLost(String),
    /// The node's storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] std::io::Error),
    /// The in-memory database layer failed.
    #[error(transparent)]
    Vfs(#[from] crate::vfs::VfsError),
    /// Raft failed in a way that is not about leadership.
    #[error("raft error: {0}")]
    Raft(String),
    /// A cluster change refused as dqlite refuses it (FAILURE code 1), for
    /// example "server ID is not valid".
    #[error("{0}")]
    Refused(String),
    /// Another cluster configuration change is still being committed.
    #[error("a configuration change is already in progress")]
    ChangeInProgress,
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The node's configuration or data directory is unusable.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// Whether this is "database is locked" from another connection's
    /// write transaction, which may succeed if tried again later (not
    /// `SQLITE_BUSY_SNAPSHOT`: a read transaction that cannot become a
    /// write one without starting over).
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Sqlite { code, .. }
            if code & 0xff == rusqlite::ffi::SQLITE_BUSY && *code != rusqlite::ffi::SQLITE_BUSY_SNAPSHOT)
    }

    /// The FAILURE code and message dqlite sends for this error.
    pub fn failure(&self) -> (u64, String) {
        match self {
            Self::Sqlite { code, message } => (
                u64::try_from(*code).unwrap_or(codes::SQLITE_ERROR),
                message.clone(),
            ),
            Self::EmptyStatement => (0, self.to_string()),
            Self::RowsYielded | Self::NoColumns | Self::NonemptyTail => {
                (codes::SQLITE_ERROR, self.to_string())
            }
            Self::NotLeader => (codes::NOT_LEADER, "not leader".into()),
            Self::LeadershipLost(_) => (codes::LEADERSHIP_LOST, "leadership lost".into()),
            Self::ShuttingDown => (codes::SQLITE_ABORT, "abort".into()),
            Self::Refused(message) => (codes::SQLITE_ERROR, message.clone()),
            Self::ChangeInProgress => (codes::SQLITE_BUSY, self.to_string()),
            other => (codes::SQLITE_IOERR, other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(failure, message) => Self::Sqlite {
                code: failure.extended_code,
                message: message.clone().unwrap_or_else(|| failure.to_string()),
            },
            // Syntax errors: SQLite's own message, without rusqlite's
            // "in <sql> at offset <n>" suffix.
            rusqlite::Error::SqlInputError { error, msg, .. } => Self::Sqlite {
                code: error.extended_code,
                message: msg.clone(),
            },
            _ => Self::Sqlite {
                code: rusqlite::ffi::SQLITE_ERROR,
                message: e.to_string(),
            },
        }
    }
}

/// Result with the server's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
