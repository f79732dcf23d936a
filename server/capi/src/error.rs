//! The crate's error type: a dqlite return code with the message that
//! `dqlite_node_errmsg` reports.

use std::ffi::c_int;

/// `DQLITE_OK` of `dqlite.h`.
pub const DQLITE_OK: c_int = 0;
/// `DQLITE_ERROR`: the operation failed.
pub const DQLITE_ERROR: c_int = 1;
/// `DQLITE_MISUSE`: a bad argument, or a call in the wrong state.
pub const DQLITE_MISUSE: c_int = 2;
/// `DQLITE_NOMEM`: out of memory.
pub const DQLITE_NOMEM: c_int = 3;

/// Why a node function failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A bad argument or a call in the wrong state (`DQLITE_MISUSE`).
    #[error("{0}")]
    Misuse(String),
    /// The operation failed (`DQLITE_ERROR`).
    #[error("{0}")]
    Failed(String),
}

impl ApiError {
    /// The return code for C callers.
    pub fn code(&self) -> c_int {
        match self {
            ApiError::Misuse(_) => DQLITE_MISUSE,
            ApiError::Failed(_) => DQLITE_ERROR,
        }
    }

    pub(crate) fn misuse(message: impl Into<String>) -> Self {
        ApiError::Misuse(message.into())
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        ApiError::Failed(message.into())
    }
}

impl From<dqlite_server::Error> for ApiError {
    fn from(e: dqlite_server::Error) -> Self {
        ApiError::Failed(e.to_string())
    }
}

/// What node functions return inside the crate.
pub type ApiResult<T = ()> = Result<T, ApiError>;
