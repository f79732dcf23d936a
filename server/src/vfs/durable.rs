//! Durable points: the databases' files as of one applied log index,
//! from which a node restarts and which a snapshot sends.
//!
//! The database directory holds, per database, `N.db` (the main file,
//! see [`MainFile`]), at times `N.undo` (see [`super::undo`]) and
//! `N.wal.E` (the committed WAL frames not folded into `N.db` at durable
//! point `E`: a connection in a read transaction can hold a fold back;
//! named by the point so that the one of the last complete point is
//! still there if the node stops while making the next). Which number
//! is which database is the [`Manifest`], which the caller stores with the
//! durable point's index (the state machine's state file) — writing it is
//! the moment the point exists.
//!
//! [`Vfs::durable_point`] makes one without stopping writes: under the SQL
//! lock it folds each database's WAL into a layer (a memory move) and
//! copies what could not be folded; then the disk thread, once the layers
//! queued before are written, writes the `N.wal` files, syncs every main
//! file, has the caller write its state file, and starts a new undo epoch
//! in every file. Files written after that are restored to the point by
//! their undo files if the node stops before the next one.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::error::VfsError;
use super::files::{
    DurableState, file_number_of, main_path, read_wal, remove_numbers, remove_other_wals,
    remove_strays, wal_path, write_wal,
};
use super::handle::Vfs;
use super::main_file::MainFile;
use crate::fs_util;

/// Which file holds which database at a durable point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Database names and their file numbers (`N.db`), sorted by name.
    pub databases: Vec<(String, u64)>,
}

/// What the caller stores to make a durable point exist (its state file,
/// naming the point and `manifest`).
pub type Commit = Box<dyn FnOnce(&Manifest) -> io::Result<()> + Send>;

impl Vfs {
    /// The directory of the databases' files.
    pub(crate) fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// Opens the databases of `manifest` as of durable point `epoch`
    /// (restoring each main file from its undo file, loading its `N.wal`)
    /// and removes every other database file. Call once, before any
    /// connection opens.
    pub fn open_durable(&self, manifest: &Manifest, epoch: u64) -> Result<(), VfsError> {
        let dir = self.dir().to_owned();
        let keep: Vec<u64> = manifest.databases.iter().map(|(_, n)| *n).collect();
        let highest = remove_strays(&dir, &keep).map_err(VfsError::io)?;
        self.state.set_next_file(highest + 1);
        let mut files = Vec::new();
        for (name, n) in &manifest.databases {
            let path = main_path(&dir, *n);
            let main =
                MainFile::open(&path, epoch, self.state.flusher.clone()).map_err(VfsError::io)?;
            let wal = read_wal(&path, epoch).map_err(VfsError::io)?;
            remove_other_wals(&path, epoch).map_err(VfsError::io)?;
            let db = self.state.insert_database(name, main.clone());
            db.lock()
                .map_err(|_| VfsError::Poisoned)?
                .use_files(main.clone(), &wal)?;
            files.push((name.clone(), main));
        }
        self.state
            .durable
            .lock()
            .map_err(|_| VfsError::Poisoned)?
            .replace(epoch, files);
        Ok(())
    }

    /// Makes the committed state of every database durable as point
    /// `epoch` (see the module doc); `commit` runs on the disk thread once
    /// the files hold the point. Call with the SQL lock held, at applied
    /// index `epoch`. The returned channel says when the point exists;
    /// `None` if a snapshot send holds the last point ([`Vfs::pin`]): no
    /// point is made then.
    pub fn durable_point(
        &self,
        epoch: u64,
        commit: Commit,
    ) -> Result<Option<oneshot::Receiver<io::Result<()>>>, VfsError> {
        if lock_durable(&self.state.durable)?.pins > 0 {
            return Ok(None);
        }
        let mut names = self.databases();
        names.sort();
        let mut work = Vec::with_capacity(names.len());
        for name in &names {
            let db = self.database(name, false)?;
            let mut db = db.lock().map_err(|_| VfsError::Poisoned)?;
            if db.committed_frames() > 0 {
                db.checkpoint();
            }
            work.push((name.clone(), db.main.clone(), db.committed_wal().to_vec()));
        }
        // Checked again (a send may have pinned the point meanwhile) and
        // marked in one step, once nothing can fail before the disk
        // thread takes the work (which clears the mark).
        {
            let mut durable = lock_durable(&self.state.durable)?;
            if durable.pins > 0 {
                return Ok(None);
            }
            durable.making = true;
        }
        let (done, answer) = oneshot::channel();
        let durable = self.state.durable.clone();
        let dir = self.dir().to_owned();
        let queued = self.state.flusher.run(move || {
            let made = (|| {
                for (_, main, wal) in &work {
                    main.healthy()?;
                    write_wal(&wal_path(main.path(), epoch), wal)?;
                    main.sync()?;
                }
                fs_util::sync_dir(&dir)?;
                let manifest = Manifest {
                    databases: work
                        .iter()
                        .map(|(name, main, _)| (name.clone(), file_number_of(main)))
                        .collect(),
                };
                commit(&manifest)?;
                for (i, (_, main, _)) in work.iter().enumerate() {
                    if let Err(e) = main.begin_epoch(epoch) {
                        // The point exists, but these files' undo epochs
                        // are the last one's: writing them on would make
                        // changes no restart can undo. Stop writing them.
                        for (_, main, _) in &work[i..] {
                            main.fail(&e);
                        }
                        return Err(e);
                    }
                    remove_other_wals(main.path(), epoch)?;
                }
                io::Result::Ok(())
            })();
            if let Ok(mut durable) = durable.lock() {
                durable.making = false;
                if made.is_ok() {
                    durable.replace(
                        epoch,
                        work.into_iter()
                            .map(|(name, main, _)| (name, main))
                            .collect(),
                    );
                }
            }
            let _ = done.send(made);
        });
        if !queued {
            lock_durable(&self.state.durable)?.making = false;
            return Err(VfsError::io(io::Error::other("the disk thread is gone")));
        }
        Ok(Some(answer))
    }

    /// Makes the files of `prepared` the databases' content, as durable
    /// point `epoch`: `commit` stores the point (on this thread), then
    /// every database switches to its new file (one not in the snapshot
    /// becomes empty) and the files they replace are removed on the disk
    /// thread. Call with the SQL lock held, after aborting every
    /// database's transactions.
    pub fn finish_install(
        &self,
        prepared: Prepared,
        epoch: u64,
        commit: Commit,
    ) -> Result<(), VfsError> {
        let dir = self.dir().to_owned();
        let mut files = prepared.files;
        for name in self.databases() {
            if !files.iter().any(|f| f.name == name) {
                let n = self.state.take_file_number();
                let main = MainFile::create(&main_path(&dir, n), epoch, self.state.flusher.clone())
                    .map_err(VfsError::io)?;
                files.push(PreparedFile {
                    name,
                    wal: Vec::new(),
                    main,
                });
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        fs_util::sync_dir(&dir).map_err(VfsError::io)?;
        let manifest = Manifest {
            databases: files
                .iter()
                .map(|f| (f.name.clone(), file_number_of(&f.main)))
                .collect(),
        };
        commit(&manifest).map_err(VfsError::io)?;
        // The files being replaced, and only those: a database created
        // after this keeps its file.
        let mut replaced = Vec::new();
        let mut opened = Vec::with_capacity(files.len());
        for file in files {
            let db = self.state.insert_database(&file.name, file.main.clone());
            let mut db = db.lock().map_err(|_| VfsError::Poisoned)?;
            let old = file_number_of(&db.main);
            if old != file_number_of(&file.main) {
                replaced.push(old);
            }
            db.use_files(file.main.clone(), &file.wal)?;
            opened.push((file.name, file.main));
        }
        lock_durable(&self.state.durable)?.replace(epoch, opened);
        self.state.flusher.run(move || {
            if let Err(e) = remove_numbers(&dir, &replaced) {
                tracing::warn!(error = %e, "cannot remove the files a snapshot replaced");
            }
        });
        Ok(())
    }
}

/// Locks the durable state.
pub(crate) fn lock_durable(
    durable: &std::sync::Mutex<DurableState>,
) -> Result<std::sync::MutexGuard<'_, DurableState>, VfsError> {
    durable.lock().map_err(|_| VfsError::Poisoned)
}

/// A database of a snapshot written to a new file, not in use yet.
#[derive(Debug)]
pub(crate) struct PreparedFile {
    pub(crate) name: String,
    /// Its committed WAL frames.
    pub(crate) wal: Vec<u8>,
    pub(crate) main: MainFile,
}

/// A snapshot's databases written to new files, not in use yet.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) files: Vec<PreparedFile>,
}
