//! The crate's error type, shaped like rusqlite's, plus the cluster cases
//! (not leader, no leader, outcome unknown, lost transaction) and the
//! transport's (I/O, protocol).

use std::fmt;
use std::time::Duration;

use crate::types::{FromSqlError, Type};

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SQLite's primary result codes, by meaning, as rusqlite names them
/// (`rusqlite::ErrorCode`). dqlite sends SQLite's extended codes; the
/// primary code is their low byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// SQLITE_INTERNAL (2).
    InternalMalfunction,
    /// SQLITE_PERM (3).
    PermissionDenied,
    /// SQLITE_ABORT (4).
    OperationAborted,
    /// SQLITE_BUSY (5): the database is locked by another connection's
    /// write transaction.
    DatabaseBusy,
    /// SQLITE_LOCKED (6).
    DatabaseLocked,
    /// SQLITE_NOMEM (7).
    OutOfMemory,
    /// SQLITE_READONLY (8).
    ReadOnly,
    /// SQLITE_INTERRUPT (9).
    OperationInterrupted,
    /// SQLITE_IOERR (10), including dqlite's not-leader and leadership-lost codes.
    SystemIoFailure,
    /// SQLITE_CORRUPT (11).
    DatabaseCorrupt,
    /// SQLITE_NOTFOUND (12): also dqlite's "no statement with the given id".
    NotFound,
    /// SQLITE_FULL (13).
    DiskFull,
    /// SQLITE_CANTOPEN (14).
    CannotOpen,
    /// SQLITE_PROTOCOL (15).
    FileLockingProtocolFailed,
    /// SQLITE_SCHEMA (17).
    SchemaChanged,
    /// SQLITE_TOOBIG (18).
    TooBig,
    /// SQLITE_CONSTRAINT (19): UNIQUE, FOREIGN KEY, NOT NULL, CHECK, ...
    ConstraintViolation,
    /// SQLITE_MISMATCH (20).
    TypeMismatch,
    /// SQLITE_MISUSE (21).
    ApiMisuse,
    /// SQLITE_NOLFS (22).
    NoLargeFileSupport,
    /// SQLITE_AUTH (23).
    AuthorizationForStatementDenied,
    /// SQLITE_RANGE (25).
    ParameterOutOfRange,
    /// SQLITE_NOTADB (26).
    NotADatabase,
    /// Any other code, including SQLITE_ERROR (1) and dqlite's own codes.
    Unknown,
}

/// An SQLite (or dqlite) result code as the server reported it: the
/// primary code by meaning and the full extended code. The counterpart of
/// `rusqlite::ffi::Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqliteError {
    /// The primary code's meaning.
    pub code: ErrorCode,
    /// The extended result code, e.g. 2067 for a UNIQUE violation.
    pub extended_code: i32,
}

impl SqliteError {
    /// The error for an extended result code.
    pub fn new(extended_code: i32) -> Self {
        let code = match extended_code & 0xff {
            2 => ErrorCode::InternalMalfunction,
            3 => ErrorCode::PermissionDenied,
            4 => ErrorCode::OperationAborted,
            5 => ErrorCode::DatabaseBusy,
            6 => ErrorCode::DatabaseLocked,
            7 => ErrorCode::OutOfMemory,
            8 => ErrorCode::ReadOnly,
            9 => ErrorCode::OperationInterrupted,
            10 => ErrorCode::SystemIoFailure,
            11 => ErrorCode::DatabaseCorrupt,
            12 => ErrorCode::NotFound,
            13 => ErrorCode::DiskFull,
            14 => ErrorCode::CannotOpen,
            15 => ErrorCode::FileLockingProtocolFailed,
            17 => ErrorCode::SchemaChanged,
            18 => ErrorCode::TooBig,
            19 => ErrorCode::ConstraintViolation,
            20 => ErrorCode::TypeMismatch,
            21 => ErrorCode::ApiMisuse,
            22 => ErrorCode::NoLargeFileSupport,
            23 => ErrorCode::AuthorizationForStatementDenied,
            25 => ErrorCode::ParameterOutOfRange,
            26 => ErrorCode::NotADatabase,
            _ => ErrorCode::Unknown,
        };
        Self {
            code,
            extended_code,
        }
    }

    /// The error for a code from a FAILURE message; codes that do not fit
    /// an `i32` (never sent by dqlite) become `Unknown` with code -1.
    pub(crate) fn from_wire(code: u64) -> Self {
        i32::try_from(code).map_or(
            Self {
                code: ErrorCode::Unknown,
                extended_code: -1,
            },
            Self::new,
        )
    }
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error code {} ({:?})", self.extended_code, self.code)
    }
}

impl std::error::Error for SqliteError {}

/// Everything that can go wrong, in rusqlite's shape.
///
/// The variants rusqlite also has keep its names and payloads, so that
/// `match` arms and [`OptionalExtension::optional`](crate::OptionalExtension)
/// work unchanged; the variants after [`Error::InvalidParameterCount`] are
/// specific to a networked, replicated database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a failure: SQLite's (extended) code and its
    /// message, e.g. 2067 "UNIQUE constraint failed: t.x".
    #[error("{}", failure_text(.0, .1.as_deref()))]
    SqliteFailure(SqliteError, Option<String>),
    /// A value could not be converted to the requested Rust type.
    #[error("conversion error from type {1} at index {0}: {2}")]
    FromSqlConversionFailure(
        usize,
        Type,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
    /// An integer does not fit the requested Rust integer type.
    #[error("integer {1} out of range at index {0}")]
    IntegralValueOutOfRange(usize, i64),
    /// Text that should be UTF-8 is not.
    #[error("invalid UTF-8 at index {0}: {1}")]
    Utf8Error(usize, #[source] std::str::Utf8Error),
    /// A named parameter is not in the statement.
    #[error("invalid parameter name: {0}")]
    InvalidParameterName(String),
    /// `execute` ran a statement that returns rows; use `query`.
    #[error("execute returned results - did you mean to call query?")]
    ExecuteReturnedResults,
    /// A query expected to return a row returned none.
    #[error("query returned no rows")]
    QueryReturnedNoRows,
    /// `query_one` found more than one row.
    #[error("query returned more than one row")]
    QueryReturnedMoreThanOneRow,
    /// A column index is out of range.
    #[error("invalid column index: {0}")]
    InvalidColumnIndex(usize),
    /// No column has this name.
    #[error("invalid column name: {0}")]
    InvalidColumnName(String),
    /// The column's value has a type the requested Rust type cannot take.
    #[error("invalid column type {2} at index: {0}, name: {1}")]
    InvalidColumnType(usize, String, Type),
    /// `insert` changed a number of rows other than one.
    #[error("statement changed {0} rows, expected 1")]
    StatementChangedRows(usize),
    /// A `ToSql` implementation failed (or produced text with a NUL byte,
    /// which the dqlite wire cannot carry).
    #[error("conversion to SQL failed: {0}")]
    ToSqlConversionFailure(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The SQL holds more than one statement where one is expected.
    #[error("multiple statements provided")]
    MultipleStatement,
    /// Positional parameters: given, expected.
    #[error("wrong number of parameters passed to query: got {0}, needed {1}")]
    InvalidParameterCount(usize, usize),
    /// The URL or the builder's settings are not usable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The node refused the request because it is not the leader (10250),
    /// and the request could not be retried on the new leader (it was part
    /// of a transaction, or no attempt succeeded).
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
    /// or the leader lost its leadership (10506) before answering. The
    /// statement may or may not have been committed; it was not retried.
    #[error("outcome of the statement is unknown: {0}")]
    OutcomeUnknown(String),
    /// The transaction this statement belongs to ended on the server when
    /// the connection to the leader was lost; roll it back (or drop it) and
    /// start again.
    #[error("the transaction was lost with the connection to the leader")]
    TransactionLost,
    /// The connection failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that do not follow the dqlite protocol, or an
    /// answer of the wrong type.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server did not answer within the request timeout; the connection
    /// was closed. For a write, see [`Error::OutcomeUnknown`].
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
}

fn failure_text(err: &SqliteError, message: Option<&str>) -> String {
    match message {
        Some(m) => m.to_owned(),
        None => err.to_string(),
    }
}

impl Error {
    /// The SQLite error code, if this is a failure reported by the server.
    pub fn sqlite_error_code(&self) -> Option<ErrorCode> {
        self.sqlite_error().map(|e| e.code)
    }

    /// The SQLite error, if this is a failure reported by the server.
    pub fn sqlite_error(&self) -> Option<&SqliteError> {
        match self {
            Self::SqliteFailure(e, _) => Some(e),
            _ => None,
        }
    }

    /// Whether the error is about the cluster rather than the SQL: not
    /// leader, no leader, unknown outcome, lost transaction, I/O, timeout.
    /// Such errors are worth retrying at the application level once the
    /// application knows what to do about a possibly committed write.
    pub fn is_cluster_error(&self) -> bool {
        matches!(
            self,
            Self::NotLeader(_)
                | Self::NoLeader { .. }
                | Self::OutcomeUnknown(_)
                | Self::TransactionLost
                | Self::Io(_)
                | Self::Timeout(_)
        )
    }

    /// The error for a FAILURE answer.
    pub(crate) fn failure(code: u64, message: String) -> Self {
        Self::SqliteFailure(SqliteError::from_wire(code), Some(message))
    }

    /// Maps a `FromSql` failure of column `idx` as rusqlite's `Row::get` does.
    pub(crate) fn from_sql(err: FromSqlError, idx: usize, name: &str, ty: Type) -> Self {
        match err {
            FromSqlError::InvalidType => Self::InvalidColumnType(idx, name.to_owned(), ty),
            FromSqlError::OutOfRange(i) => Self::IntegralValueOutOfRange(idx, i),
            FromSqlError::Utf8Error(e) => Self::Utf8Error(idx, e),
            FromSqlError::InvalidBlobSize { .. } => {
                Self::FromSqlConversionFailure(idx, ty, Box::new(err))
            }
            FromSqlError::Other(e) => Self::FromSqlConversionFailure(idx, ty, e),
        }
    }
}

/// The column index in errors converted from a bare [`FromSqlError`].
pub const UNKNOWN_COLUMN: usize = usize::MAX;

impl From<FromSqlError> for Error {
    /// For `?` on a `ValueRef` conversion, where the column is not known
    /// (reported as [`UNKNOWN_COLUMN`]), as rusqlite does.
    fn from(err: FromSqlError) -> Self {
        match err {
            FromSqlError::OutOfRange(i) => Self::IntegralValueOutOfRange(UNKNOWN_COLUMN, i),
            FromSqlError::Utf8Error(e) => Self::Utf8Error(UNKNOWN_COLUMN, e),
            FromSqlError::Other(e) => Self::FromSqlConversionFailure(UNKNOWN_COLUMN, Type::Null, e),
            FromSqlError::InvalidBlobSize { .. } => {
                Self::FromSqlConversionFailure(UNKNOWN_COLUMN, Type::Blob, Box::new(err))
            }
            FromSqlError::InvalidType => {
                Self::FromSqlConversionFailure(UNKNOWN_COLUMN, Type::Null, Box::new(err))
            }
        }
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

impl From<dqlite_client::Error> for Error {
    /// The client core's errors, in this crate's shape.
    fn from(e: dqlite_client::Error) -> Self {
        use dqlite_client::Error as E;
        match e {
            E::Failure { code, message } => Self::failure(code, message),
            E::Encode(e) => Self::ToSqlConversionFailure(Box::new(e)),
            E::InvalidConfig(why) => Self::InvalidConfig(why),
            E::NotLeader(message) => Self::NotLeader(message),
            E::NoLeader {
                timeout,
                last_error,
            } => Self::NoLeader {
                timeout,
                last_error,
            },
            E::OutcomeUnknown(why) => Self::OutcomeUnknown(why),
            E::TransactionLost => Self::TransactionLost,
            E::Io(e) => Self::Io(e),
            E::Protocol(why) => Self::Protocol(why),
            E::Timeout(limit) => Self::Timeout(limit),
            // The enum is non-exhaustive; a new case is reported as is.
            other => Self::Protocol(other.to_string()),
        }
    }
}

/// Maps dqlite's "EXEC produced rows" answers to rusqlite's error.
pub(crate) fn exec_error(e: dqlite_client::Error) -> Error {
    match e {
        dqlite_client::Error::Failure { code, message }
            if dqlite_client::is_rows_yielded(code, &message) =>
        {
            Error::ExecuteReturnedResults
        }
        other => other.into(),
    }
}

/// Converts "no rows" into `None`, as rusqlite's trait of the same name.
pub trait OptionalExtension<T> {
    /// `Ok(Some(v))` for a value, `Ok(None)` for
    /// [`Error::QueryReturnedNoRows`], the error otherwise.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_by_meaning() {
        let e = SqliteError::new(2067);
        assert_eq!(e.code, ErrorCode::ConstraintViolation);
        assert_eq!(SqliteError::new(10250).code, ErrorCode::SystemIoFailure);
        assert_eq!(SqliteError::new(1).code, ErrorCode::Unknown);
        assert_eq!(SqliteError::from_wire(u64::MAX).extended_code, -1);
    }

    #[test]
    fn optional_maps_only_no_rows() {
        assert_eq!(Ok::<_, Error>(3).optional().ok(), Some(Some(3)));
        assert!(matches!(
            Err::<i32, _>(Error::QueryReturnedNoRows).optional(),
            Ok(None)
        ));
        assert!(Err::<i32, _>(Error::MultipleStatement).optional().is_err());
        let failure = Error::failure(2067, "UNIQUE constraint failed: t.x".into());
        assert_eq!(failure.to_string(), "UNIQUE constraint failed: t.x");
        assert_eq!(
            failure.sqlite_error_code(),
            Some(ErrorCode::ConstraintViolation)
        );
    }
}
