//! [`Target`], the database a backup or a restore works on and how to
//! reach its cluster, and [`BackupError`].

use std::path::PathBuf;
use std::time::Duration;

use dqlite_client::tls::ClientTls;
use dqlite_client::{Config, Session};

/// Default [`Target::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default [`Target::max_size`]: 4 GiB.
pub const DEFAULT_MAX_SIZE: usize = 4 << 30;

/// The database to back up or restore, and how to reach its cluster.
#[derive(Debug, Clone)]
pub struct Target {
    /// Addresses of some of the cluster's nodes; the leader is found
    /// through them.
    pub servers: Vec<String>,
    /// The database's name.
    pub db: String,
    /// TLS to the nodes; `None` for plain connections.
    pub tls: Option<ClientTls>,
    /// How long one answer may take (a DUMP of a large database, a
    /// batch of rows).
    pub timeout: Duration,
    /// Largest database image a backup accepts, in bytes.
    pub max_size: usize,
}

impl Target {
    /// `db` on the cluster of `servers`, plain TCP, default bounds.
    pub fn new(servers: Vec<String>, db: impl Into<String>) -> Self {
        Self {
            servers,
            db: db.into(),
            tls: None,
            timeout: DEFAULT_TIMEOUT,
            max_size: DEFAULT_MAX_SIZE,
        }
    }

    /// A client session to the leader (connected on first use).
    pub(super) fn session(&self) -> Result<Session, BackupError> {
        if self.servers.is_empty() {
            return Err(BackupError::NoServers);
        }
        let mut config = Config::new(self.db.clone());
        for server in &self.servers {
            config.add_node(server);
        }
        config.request_timeout = Some(self.timeout);
        config.max_response = self.max_size;
        config.tls = self.tls.clone();
        Ok(Session::new(config)?)
    }
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No server address was given.
    #[error("no server address given")]
    NoServers,
    /// Talking to the cluster failed.
    #[error(transparent)]
    Client(#[from] dqlite_client::Error),
    /// SQLite refused the local file.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The cluster has no database of that name (its leader has none:
    /// a database exists once a write created it).
    #[error("no database named {0:?} on the cluster")]
    NoSuchDatabase(String),
    /// The leader's answer is not a usable database image.
    #[error("bad DUMP answer: {0}")]
    BadImage(String),
    /// The file fails SQLite's integrity check.
    #[error("{path}: integrity check failed: {report}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The first lines `PRAGMA integrity_check` returned.
        report: String,
    },
    /// The target database already holds tables, views, indexes or
    /// triggers, and `force` was not given.
    #[error(
        "database {db:?} is not empty (it holds {objects}); restore with --force to replace its content"
    )]
    NotEmpty {
        /// The database.
        db: String,
        /// Some of the objects it holds.
        objects: String,
    },
    /// The file holds something a restore through SQL cannot reproduce.
    #[error("cannot restore: {0}")]
    Unsupported(String),
}
