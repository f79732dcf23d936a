//! Backup and restore of one database of a running cluster, as client
//! operations (what `dqlite-server backup` and `dqlite-server restore` run).
//!
//! - [`backup`] asks the leader for its image of the database (DUMP) and
//!   writes it as a standalone SQLite file: the leader's answer (main file
//!   and, from a C dqlite node, a WAL) is written next to the destination,
//!   opened with SQLite, checkpointed and switched to the rollback journal,
//!   checked with `PRAGMA integrity_check`, then renamed over the
//!   destination. The image is consistent: a node takes it with SQLite's
//!   backup API inside one read transaction, on the leader after every
//!   write it could see has committed, so it holds every write
//!   acknowledged before the backup started and never half a transaction.
//! - [`restore`] loads a SQLite file into a database through the leader
//!   with SQL, so that every node gets it as replicated writes
//!   ([`restore`] describes the order and the limits).
//!
//! Both find the leader through [`Target::servers`] as any client does,
//! with TLS when [`Target::tls`] is set.

mod dump;
mod restore;

use std::path::PathBuf;
use std::time::Duration;

use dqlite_client::tls::ClientTls;
use dqlite_client::{Config, ResultSet, Session};
use dqlite_protocol::Value;
use dqlite_protocol::response::RowsReader;

pub use dump::{BackupReport, backup};
pub use restore::{RestoreReport, restore};

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
    fn session(&self) -> Result<Session, BackupError> {
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
    /// The cluster has no database of that name.
    #[error("the cluster has no database {0:?}")]
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

/// Quotes an SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs every statement of `sql` on the leader.
async fn exec(session: &mut Session, sql: &str, values: Vec<Value>) -> Result<u64, BackupError> {
    let info = dqlite_client::sql::SqlInfo::new(sql);
    Ok(session.exec_sql(sql, &info, values).await?)
}

/// Runs the query `sql` on the leader and returns all its rows.
async fn query(session: &mut Session, sql: &str) -> Result<Vec<Vec<Value>>, BackupError> {
    let info = dqlite_client::sql::SqlInfo::new(sql);
    let started = session.query_sql(sql, &info, Vec::new()).await?;
    let (mut rest, first) = ResultSet::new(started, session.shared());
    let mut rows = Vec::new();
    read_rows(&first.body, &mut rows)?;
    while let Some(frame) = rest.next_frame(session).await? {
        read_rows(&frame.body, &mut rows)?;
    }
    Ok(rows)
}

/// Appends the rows of one ROWS message to `rows`.
fn read_rows(body: &[u8], rows: &mut Vec<Vec<Value>>) -> Result<(), BackupError> {
    let bad = |e: dqlite_protocol::DecodeError| {
        BackupError::Client(dqlite_client::Error::Protocol(format!("bad ROWS: {e}")))
    };
    let mut reader = RowsReader::new(body).map_err(bad)?;
    let mut row = Vec::new();
    while reader.next_into(&mut row).map_err(bad)? {
        rows.push(row.drain(..).map(|v| v.to_owned()).collect());
    }
    Ok(())
}

/// What `PRAGMA integrity_check` says about `conn`'s database: `Ok` or
/// its first lines.
fn integrity(conn: &rusqlite::Connection) -> Result<Result<(), String>, BackupError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)")?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(if lines == ["ok"] {
        Ok(())
    } else {
        Err(lines.join("; "))
    })
}
