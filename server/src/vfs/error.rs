//! The VFS's error type.

/// Errors of the VFS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VfsError {
    /// SQLite refused to register the VFS.
    #[error("could not register VFS {name:?} (SQLite code {code})")]
    Register {
        /// VFS name.
        name: String,
        /// SQLite result code.
        code: i32,
    },
    /// SQLite failed while opening or configuring a connection.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// SQLite would not put the database in WAL mode.
    #[error("could not switch the database to WAL mode (journal mode is {0:?})")]
    NotWal(String),
    /// A write would have changed a committed WAL frame.
    #[error("write into committed WAL frames at offset {offset}")]
    CommittedFrameWrite {
        /// Byte offset of the write.
        offset: usize,
    },
    /// WAL frames were written without the WAL write lock.
    #[error("WAL frames written without the write lock")]
    WriteWithoutLock,
    /// No pending transaction has this id.
    #[error("no pending transaction {tx_id}")]
    NoPendingTransaction {
        /// The id asked for.
        tx_id: u64,
    },
    /// A local write transaction holds the database.
    #[error("the database has a write transaction in progress")]
    Busy,
    /// Frames of another page size than the database's.
    #[error("page size {got} does not match the database's {expected}")]
    PageSizeMismatch {
        /// The database's page size.
        expected: u32,
        /// The frames' page size.
        got: u32,
    },
    /// Page changes that do not apply to this node's version of the page.
    #[error("the changes to page {page} do not match this node's copy of it")]
    PageMismatch {
        /// The page number.
        page: u32,
    },
    /// More frames than a WAL can count.
    #[error("too many frames in one transaction")]
    TooManyFrames,
    /// A snapshot image's WAL is not whole frames of one page size.
    #[error("database image has a malformed WAL of {0} bytes")]
    BadImage(usize),
    /// No database of that name was ever opened or applied.
    #[error("unknown database {0:?}")]
    UnknownDatabase(String),
    /// A thread panicked while holding the database's state.
    #[error("database state is poisoned")]
    Poisoned,
    /// A database file could not be read, written or created.
    #[error("database file: {0}")]
    Io(#[source] std::io::Error),
}

impl VfsError {
    /// A file error.
    pub(crate) fn io(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
