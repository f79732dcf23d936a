//! [`backup`]: the leader's image of a database, as a standalone SQLite
//! file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use dqlite_protocol::codes;
use rusqlite::{Connection, OpenFlags};

use super::statements::integrity;
use super::target::{BackupError, Target};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The node that answered (the leader when it answered).
    pub leader: String,
    /// Bytes of the file written.
    pub bytes: u64,
    /// Tables, indexes, views and triggers in the file (0 for a database
    /// that exists but holds nothing; a name the cluster does not have is
    /// [`BackupError::NoSuchDatabase`]).
    pub objects: u64,
    /// Bytes of WAL the leader sent along with the main file (0 from this
    /// server, which sends a whole image; C dqlite sends its WAL).
    pub wal_bytes: u64,
}

/// Writes `target`'s database, as the leader holds it, to `out` as a
/// standalone SQLite file (rollback journal, no WAL), replacing `out`
/// atomically if it exists. Nothing is left at `out` or next to it when
/// this fails, and an existing `out` is left as it was.
///
/// A name the cluster does not have is [`BackupError::NoSuchDatabase`]:
/// the DUMP goes to the leader without opening the database, which would
/// create it.
pub async fn backup(target: &Target, out: &Path) -> Result<BackupReport, BackupError> {
    let mut session = target.session()?;
    let dumped = match session.dump().await {
        Ok(dumped) => dumped,
        Err(dqlite_client::Error::Failure { code, .. }) if code == codes::DQLITE_NOTFOUND => {
            return Err(BackupError::NoSuchDatabase(target.db.clone()));
        }
        Err(e) => return Err(e.into()),
    };
    let leader = dumped.leader;
    let mut files = dumped.files.into_iter();
    let (main, wal) = match (files.next(), files.next()) {
        (Some((_, main)), wal) => (main, wal.map(|(_, wal)| wal).unwrap_or_default()),
        (None, _) => return Err(BackupError::BadImage("no file".into())),
    };
    if main.is_empty() {
        // C dqlite before 1.18 answers two empty files for a database it
        // does not have; no database has an empty main file.
        return Err(BackupError::NoSuchDatabase(target.db.clone()));
    }
    let wal_bytes = wal.len() as u64;
    let (bytes, objects) = tokio::task::spawn_blocking({
        let out = out.to_owned();
        move || write_standalone(&main, &wal, &out)
    })
    .await
    .map_err(|e| BackupError::BadImage(format!("the writing task failed: {e}")))??;
    tracing::info!(db = %target.db, %leader, bytes, objects, wal_bytes, out = %out.display(), "backup written");
    if objects == 0 {
        tracing::warn!(db = %target.db, "the database exists but holds no table");
    }
    Ok(BackupReport {
        leader,
        bytes,
        objects,
        wal_bytes,
    })
}

/// Files next to the destination that are removed when dropped.
struct Scratch {
    paths: Vec<PathBuf>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `main` (and `wal`, if any) next to `out`, folds the WAL into
/// the main file, checks it and renames it to `out`; returns its size and
/// how many schema objects it holds.
fn write_standalone(main: &[u8], wal: &[u8], out: &Path) -> Result<(u64, u64), BackupError> {
    let name = out
        .file_name()
        .ok_or_else(|| io_error(out, std::io::ErrorKind::InvalidInput.into()))?;
    let mut partial_name = name.to_owned();
    partial_name.push(format!(".partial-{}", std::process::id()));
    let partial = out.with_file_name(partial_name);
    let with_suffix = |suffix: &str| {
        let mut path = partial.clone().into_os_string();
        path.push(suffix);
        PathBuf::from(path)
    };
    let scratch = Scratch {
        paths: vec![
            partial.clone(),
            with_suffix("-wal"),
            with_suffix("-shm"),
            with_suffix("-journal"),
        ],
    };
    write_new(&partial, main)?;
    if !wal.is_empty() {
        write_new(&scratch.paths[1], wal)?;
    }
    let objects = {
        let conn = Connection::open_with_flags(
            &partial,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Replays the WAL into the main file, then leaves WAL mode so
        // that the file stands alone (and opens read-only anywhere).
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(BackupError::BadImage(format!(
                "the image stays in journal mode {mode}"
            )));
        }
        if let Err(report) = integrity(&conn)? {
            return Err(BackupError::Corrupt {
                path: out.to_owned(),
                report,
            });
        }
        let objects: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            [],
            |row| row.get(0),
        )?;
        conn.close().map_err(|(_, e)| e)?;
        u64::try_from(objects).unwrap_or(0)
    };
    let file = File::open(&partial).map_err(|e| io_error(&partial, e))?;
    file.sync_all().map_err(|e| io_error(&partial, e))?;
    let bytes = file.metadata().map_err(|e| io_error(&partial, e))?.len();
    std::fs::rename(&partial, out).map_err(|e| io_error(out, e))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a crash once the directory is synced.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    drop(scratch);
    Ok((bytes, objects))
}

/// Creates `path` (which must not exist) with `data`.
fn write_new(path: &Path, data: &[u8]) -> Result<(), BackupError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    file.write_all(data).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io {
        path: path.to_owned(),
        source,
    }
}
