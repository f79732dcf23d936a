//! [`DqliteDatabaseError`], and how the client core's errors become
//! `sqlx::Error`s.

use std::borrow::Cow;
use std::fmt;
use std::io;

use dqlite_protocol::codes::{
    LEADERSHIP_LOST, LEGACY_LEADERSHIP_LOST, LEGACY_NOT_LEADER, NOT_LEADER, SQLITE_BUSY,
};
use sqlx_core::error::{DatabaseError, Error, ErrorKind};

/// SQLITE_CONSTRAINT_CHECK.
const CONSTRAINT_CHECK: u64 = 275;
/// SQLITE_CONSTRAINT_FOREIGNKEY.
const CONSTRAINT_FOREIGNKEY: u64 = 787;
/// SQLITE_CONSTRAINT_NOTNULL.
const CONSTRAINT_NOTNULL: u64 = 1299;
/// SQLITE_CONSTRAINT_PRIMARYKEY.
const CONSTRAINT_PRIMARYKEY: u64 = 1555;
/// SQLITE_CONSTRAINT_UNIQUE.
const CONSTRAINT_UNIQUE: u64 = 2067;

/// A failure reported by the server: SQLite's extended result code (or
/// one of dqlite's, such as 10250 "not leader") and its message.
///
/// Reach it from a `sqlx::Error` with
/// `err.as_database_error().map(|e| e.downcast_ref::<DqliteDatabaseError>())`;
/// [`DatabaseError::code`] gives the extended code as a string, as
/// sqlx-sqlite does, and [`DatabaseError::kind`] classifies constraint
/// violations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DqliteDatabaseError {
    code: u64,
    message: String,
}

impl DqliteDatabaseError {
    /// An error with this code and message.
    pub fn new(code: u64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The extended result code, e.g. 2067 for a UNIQUE violation.
    pub fn extended_code(&self) -> u64 {
        self.code
    }

    /// The primary result code (the low byte), e.g. 19 for any constraint
    /// violation.
    pub fn primary_code(&self) -> u64 {
        self.code & 0xff
    }

    /// Whether the node was not (or stopped being) the leader: 10250 "not
    /// leader" or 10506 "leadership lost" (and their legacy codes). The
    /// connection goes to the new leader on its next use.
    pub fn is_leadership_error(&self) -> bool {
        matches!(
            self.code,
            NOT_LEADER | LEADERSHIP_LOST | LEGACY_NOT_LEADER | LEGACY_LEADERSHIP_LOST
        )
    }
}

impl fmt::Display for DqliteDatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for DqliteDatabaseError {}

impl DatabaseError for DqliteDatabaseError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn is_transient_in_connect_phase(&self) -> bool {
        self.is_leadership_error() || self.primary_code() == SQLITE_BUSY
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            CONSTRAINT_UNIQUE | CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// The client core's error as a `sqlx::Error`.
///
/// Failures the server reports (including "not leader") are
/// [`Error::Database`] holding a [`DqliteDatabaseError`]. The states of the
/// cluster connection that are not the server's answer — no leader found,
/// a write of unknown outcome, a transaction lost with the connection, a
/// timeout — are [`Error::Io`] whose inner error is the
/// [`DqliteClientError`](crate::DqliteClientError): see
/// [`client_error`](crate::client_error) to get at it.
pub(crate) fn from_client(e: dqlite_client::Error) -> Error {
    use dqlite_client::Error as E;
    match e {
        E::Failure { code, message } => {
            Error::Database(Box::new(DqliteDatabaseError::new(code, message)))
        }
        E::NotLeader(message) => {
            Error::Database(Box::new(DqliteDatabaseError::new(NOT_LEADER, message)))
        }
        E::Io(e) => Error::Io(e),
        E::Encode(e) => Error::Encode(Box::new(e)),
        E::InvalidConfig(why) => Error::Configuration(why.into()),
        E::Protocol(why) => Error::Protocol(why),
        other => {
            let kind = match &other {
                E::NoLeader { .. } => io::ErrorKind::NotConnected,
                E::TransactionLost => io::ErrorKind::ConnectionAborted,
                E::Timeout(_) => io::ErrorKind::TimedOut,
                _ => io::ErrorKind::Other,
            };
            Error::Io(io::Error::new(kind, other))
        }
    }
}

/// The cluster-level error inside a `sqlx::Error`, if it carries one: no
/// leader found, outcome unknown, transaction lost, timeout.
///
/// ```
/// # fn handle(err: sqlx::Error) {
/// use sqlx_dqlite::{DqliteClientError, client_error};
/// match client_error(&err) {
///     Some(DqliteClientError::OutcomeUnknown(_)) => { /* check before retrying */ }
///     Some(DqliteClientError::TransactionLost) => { /* roll back, start again */ }
///     _ => {}
/// }
/// # }
/// ```
pub fn client_error(err: &Error) -> Option<&dqlite_client::Error> {
    match err {
        Error::Io(e) => e.get_ref()?.downcast_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_constraint_violations() {
        let kind = |code| DqliteDatabaseError::new(code, "x").kind();
        assert_eq!(kind(2067), ErrorKind::UniqueViolation);
        assert_eq!(kind(1555), ErrorKind::UniqueViolation);
        assert_eq!(kind(787), ErrorKind::ForeignKeyViolation);
        assert_eq!(kind(1299), ErrorKind::NotNullViolation);
        assert_eq!(kind(275), ErrorKind::CheckViolation);
        assert_eq!(kind(19), ErrorKind::Other);
        assert_eq!(kind(1), ErrorKind::Other);
    }

    #[test]
    fn client_errors_map_to_sqlx_errors() {
        let e = from_client(dqlite_client::Error::Failure {
            code: 2067,
            message: "UNIQUE constraint failed: t.x".into(),
        });
        let db = e.as_database_error().unwrap();
        assert_eq!(db.code().as_deref(), Some("2067"));
        assert_eq!(db.message(), "UNIQUE constraint failed: t.x");
        assert!(db.is_unique_violation());

        let e = from_client(dqlite_client::Error::NotLeader("not leader".into()));
        let db = e.as_database_error().unwrap();
        assert!(
            db.downcast_ref::<DqliteDatabaseError>()
                .is_leadership_error()
        );

        let e = from_client(dqlite_client::Error::TransactionLost);
        assert!(matches!(
            client_error(&e),
            Some(dqlite_client::Error::TransactionLost)
        ));
        assert!(client_error(&Error::RowNotFound).is_none());
    }
}
