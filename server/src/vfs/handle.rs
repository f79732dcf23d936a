//! [`Vfs`], the handle on a registered VFS and its databases, and
//! [`DatabaseImage`], a database's committed bytes.

use super::error::VfsError;
use super::frames::PAGE_SIZE;
use super::state::{Checkpointed, TxTicket};
use super::{ffi, main_file, state};
use crate::vfs::frames::Frames;

/// Identifies one connection's handle on a database (see [`Vfs::file_id`]).
pub type ConnectionId = u64;

use rusqlite::{Connection, OpenFlags};

/// The committed content of one database, for snapshots.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatabaseImage {
    /// Database name.
    pub name: String,
    /// Main file.
    #[serde(with = "serde_bytes")]
    pub main: Vec<u8>,
    /// Applied WAL frames (with the WAL header), possibly empty.
    #[serde(with = "serde_bytes")]
    pub wal: Vec<u8>,
}

impl DatabaseImage {
    /// Whether [`Vfs::restore`] can take this image: a usable name and a
    /// WAL of whole frames (the restore itself does not fail half way).
    pub fn check(&self) -> Result<(), VfsError> {
        if self.name.is_empty() || self.name.contains('\0') {
            return Err(VfsError::BadImage(self.name.len()));
        }
        state::image_frames(&self.wal).map(drop)
    }
}

/// A registered VFS and the databases it holds.
#[derive(Clone, Copy)]
pub struct Vfs {
    pub(super) state: &'static ffi::VfsState,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs").field("name", &self.name()).finish()
    }
}

impl Vfs {
    /// Registers a new VFS with SQLite under `name`, keeping the files of
    /// its databases in `dir` (created if needed). Call
    /// [`open_durable`](Self::open_durable) next, with what the last
    /// durable point recorded (or an empty manifest). Registration is
    /// process-wide and permanent, so names must be unique per node.
    pub fn register(name: &str, dir: &std::path::Path) -> Result<Self, VfsError> {
        std::fs::create_dir_all(dir).map_err(VfsError::io)?;
        let flusher = main_file::Flusher::start().map_err(VfsError::io)?;
        ffi::register(name, dir, flusher)
            .map(|state| Self { state })
            .map_err(|code| VfsError::Register {
                name: name.to_owned(),
                code,
            })
    }

    /// Sets the bytes of page cache each connection opened from now on
    /// keeps.
    pub fn set_cache_size(&self, bytes: u64) {
        self.state
            .cache_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The VFS name.
    pub fn name(&self) -> &str {
        self.state.name.to_str().unwrap_or_default()
    }

    /// Opens a connection to database `db` (created if new) with the
    /// settings replication needs: WAL mode, 4 KiB pages, no automatic
    /// checkpoints, no sync, foreign keys on, no busy waiting.
    pub fn open(&self, db: &str) -> Result<Connection, VfsError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_EXRESCODE;
        let conn = Connection::open_with_flags_and_vfs(db, flags, self.name())?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(VfsError::NotWal(mode));
        }
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Negative: a size in KiB rather than in pages.
        let kib = self
            .state
            .cache_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            / 1024;
        conn.pragma_update(
            None,
            "cache_size",
            -i64::try_from(kib.max(1)).unwrap_or(i64::MAX),
        )?;
        // A locked database is reported at once; the server queues writers
        // itself instead of letting SQLite sleep on its thread.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        Ok(conn)
    }

    pub(super) fn database(
        &self,
        db: &str,
        create: bool,
    ) -> Result<std::sync::Arc<std::sync::Mutex<state::Database>>, VfsError> {
        self.state
            .database(db, create)
            .ok_or_else(|| VfsError::UnknownDatabase(db.to_owned()))
    }

    pub(super) fn with<R>(
        &self,
        db: &str,
        create: bool,
        f: impl FnOnce(&mut state::Database) -> R,
    ) -> Result<R, VfsError> {
        let db = self.database(db, create)?;
        let mut guard = db.lock().map_err(|_| VfsError::Poisoned)?;
        Ok(f(&mut guard))
    }

    /// The id of `conn`'s handle on its main database file, if `conn`
    /// was opened by this VFS.
    pub fn file_id(&self, conn: &Connection) -> Option<ConnectionId> {
        ffi::main_file_id(conn)
    }

    /// Sets the leader term `db`'s next write transactions run in,
    /// aborting pending transactions of earlier terms (see
    /// `Database::begin_term`).
    pub fn begin_term(&self, db: &str, term: u64) -> Result<(), VfsError> {
        self.with(db, false, |db| db.begin_term(term))
    }

    /// A ticket for `db`'s newest pending transaction, if any.
    pub fn last_tx(&self, db: &str) -> Result<Option<TxTicket>, VfsError> {
        self.with(db, false, |db| db.last_tx())
    }

    /// The frames of `db`'s pending transactions newer than `after` (all
    /// of them for `None`), oldest first.
    pub fn frames_after(&self, db: &str, after: Option<u64>) -> Result<Vec<Frames>, VfsError> {
        self.with(db, false, |db| db.frames_after(after))?
    }

    /// Whether `tx_id` is `db`'s oldest pending transaction.
    pub fn is_next_pending(&self, db: &str, tx_id: u64) -> Result<bool, VfsError> {
        self.with(db, false, |db| db.is_next_pending(tx_id))
    }

    /// Settles the ticket of `db`'s pending transaction `tx_id` as
    /// committed, before it is applied; false if it is not pending.
    pub fn mark_committed(&self, db: &str, tx_id: u64) -> Result<bool, VfsError> {
        self.with(db, false, |db| db.mark_committed(tx_id))
    }

    /// Commits `db`'s oldest pending transaction, which must be `tx_id`.
    pub fn publish(&self, db: &str, tx_id: u64) -> Result<(), VfsError> {
        self.with(db, false, |db| db.publish(tx_id))?
    }

    /// Aborts pending transaction `tx_id` and every one built on it;
    /// returns false if it is not pending.
    pub fn abort_from(&self, db: &str, tx_id: u64) -> Result<bool, VfsError> {
        self.with(db, false, |db| db.abort_from(tx_id))
    }

    /// Aborts every pending transaction of `db` and takes the write lock
    /// from a connection in the middle of a write transaction.
    pub fn abort(&self, db: &str) -> Result<(), VfsError> {
        self.with(db, false, |db| db.abort_all())
    }

    /// Whether connection `id` ran `PRAGMA delete_database` in its write
    /// transaction since this was last asked (the request is taken).
    pub fn take_delete_request(&self, db: &str, id: ConnectionId) -> Result<bool, VfsError> {
        self.with(db, false, |db| db.take_delete_request(id))
    }

    /// Whether connection `id` of `db` was fenced since it last checked:
    /// its transaction may have seen frames that were dropped, and must be
    /// rolled back before the connection is used again.
    pub fn take_fenced(&self, db: &str, id: ConnectionId) -> Result<bool, VfsError> {
        self.with(db, false, |db| db.take_fenced(id))
    }

    /// Appends frames produced by another node (creating the database if
    /// needed) and makes them visible.
    pub fn apply(&self, db: &str, frames: &Frames) -> Result<(), VfsError> {
        let mut salt = [0u8; 8];
        let n = std::ffi::c_int::try_from(salt.len()).unwrap_or(0);
        // SAFETY: the buffer holds `n` bytes.
        unsafe { rusqlite::ffi::sqlite3_randomness(n, salt.as_mut_ptr().cast()) };
        let salts = (
            u32::from_ne_bytes([salt[0], salt[1], salt[2], salt[3]]),
            u32::from_ne_bytes([salt[4], salt[5], salt[6], salt[7]]),
        );
        self.with(db, true, |db| db.append(frames, salts))?
    }

    /// Whether `db` exists in this VFS.
    pub fn database_exists(&self, db: &str) -> bool {
        self.state.database(db, false).is_some()
    }

    /// Names of the databases this VFS holds.
    pub fn databases(&self) -> Vec<String> {
        self.state
            .databases
            .lock()
            .map(|dbs| dbs.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The committed state of `db`: its main file and the applied part of
    /// its WAL. Pending transactions are not included.
    #[cfg(test)]
    pub fn image(&self, db: &str) -> Result<DatabaseImage, VfsError> {
        self.with(db, false, |state| {
            Ok(DatabaseImage {
                name: db.to_owned(),
                main: state.committed_main()?,
                wal: state.committed_wal().to_vec(),
            })
        })?
    }

    /// Folds `db`'s committed WAL frames into its main image once there
    /// are at least `threshold` of them and no connection is in a
    /// transaction. Returns what it did, or `None` if it did not.
    pub fn checkpoint_if_over(
        &self,
        db: &str,
        threshold: u32,
    ) -> Result<Option<Checkpointed>, VfsError> {
        self.with(db, false, |db| {
            if db.committed_frames() >= threshold {
                db.checkpoint()
            } else {
                None
            }
        })
    }

    /// Bytes of `db`'s committed state (main image and applied WAL) and
    /// the number of applied WAL frames (what the metrics report per
    /// database).
    pub fn sizes(&self, db: &str) -> Result<(usize, u32), VfsError> {
        self.with(db, false, |db| {
            (
                usize::try_from(db.committed_main_len()).unwrap_or(usize::MAX)
                    + db.committed_wal().len(),
                db.committed_frames(),
            )
        })
    }

    /// Why a database file can no longer be written, for the first
    /// database whose file failed (its changes stay in memory, so it
    /// still reads right, but memory grows and the disk needs care).
    pub fn file_failure(&self) -> Option<String> {
        let dbs = self.state.databases.lock().ok()?;
        dbs.values()
            .find_map(|db| db.lock().ok().and_then(|db| db.main.failure()))
    }

    /// Waits until the main-file changes of `db` made so far are on
    /// disk, at most `timeout`; returns whether they are.
    #[cfg(test)]
    pub fn wait_written(&self, db: &str, timeout: std::time::Duration) -> Result<bool, VfsError> {
        let db = self.database(db, false)?;
        let main = db.lock().map_err(|_| VfsError::Poisoned)?.main.handle();
        Ok(main.wait_written(timeout))
    }

    /// Number of applied WAL frames of `db` (for the tests).
    #[cfg(test)]
    pub fn wal_frames(&self, db: &str) -> Result<u32, VfsError> {
        self.with(db, false, |db| db.committed_frames())
    }
}
