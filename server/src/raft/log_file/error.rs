//! The error type of the log file.

use std::io;
use std::path::{Path, PathBuf};

/// Errors of the log file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The file system failed.
    #[error("log I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Acknowledged data does not read back as written.
    #[error("corrupt log in {path} at byte {offset}: {reason}")]
    Corrupt {
        /// Segment or metadata file.
        path: PathBuf,
        /// Byte offset of the bad batch or record.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An append does not continue the log at its next index.
    #[error("record index {got} does not follow the last index {last:?}")]
    NotConsecutive {
        /// Last index in the log.
        last: Option<u64>,
        /// Index of the record offered.
        got: u64,
    },
    /// A payload larger than [`MAX_PAYLOAD`](super::MAX_PAYLOAD).
    #[error("payload of {0} bytes is too large")]
    PayloadTooLarge(usize),
    /// A change to a log opened with
    /// [`LogFile::open_read_only`](super::LogFile::open_read_only).
    #[error("the log in {0} is open read-only")]
    ReadOnly(PathBuf),
}

impl From<LogError> for io::Error {
    fn from(e: LogError) -> Self {
        match e {
            // Keep the kind, and name the file: "No space left on device"
            // alone does not say which disk filled up.
            LogError::Io { ref source, .. } => io::Error::new(source.kind(), e.to_string()),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}
