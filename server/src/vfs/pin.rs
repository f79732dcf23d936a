//! Pinned durable points: what a snapshot send reads.
//!
//! A snapshot sent to a follower is the last durable point's files. They
//! are read a chunk at a time, on the disk thread, while writes go on: a
//! block the disk thread overwrote since the point is read from the
//! file's undo file, where it was saved before the overwrite (see
//! `vfs::undo`), every other block from the file, checked against its
//! checksum. That holds only until the next point starts new undo
//! epochs, so while a [`Pin`] lives no new point is made
//! ([`Vfs::durable_point`] declines), and none can be pinned while one is
//! being made. What a pin costs meanwhile: the undo files grow by the
//! blocks overwritten (at most the databases' size) and the Raft log is
//! not compacted.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::durable::lock_durable;
use super::error::VfsError;
use super::files::{DurableState, read_wal};
use super::handle::Vfs;
use super::main_file::{Flusher, MainFile};

/// One database of a pinned point.
#[derive(Debug)]
pub struct PinnedDatabase {
    /// Its name.
    pub name: String,
    /// Its main file's length at the point.
    pub main_len: u64,
    /// Its committed WAL frames not folded into the main file.
    pub wal: Vec<u8>,
    main: MainFile,
}

/// Holds durable point [`epoch`](Self::epoch) readable (see the module
/// doc) until dropped.
#[derive(Debug)]
pub struct Pin {
    guard: Guard,
    flusher: Flusher,
    databases: Arc<Vec<PinnedDatabase>>,
}

/// The count a pin adds to, taken back on drop.
#[derive(Debug)]
struct Guard {
    durable: Arc<Mutex<DurableState>>,
    epoch: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut durable) = self.durable.lock() {
            durable.pins = durable.pins.saturating_sub(1);
        }
    }
}

/// `Ok` if durable point `epoch` is still the current one.
fn check_current(durable: &Mutex<DurableState>, epoch: u64) -> io::Result<()> {
    let current = durable
        .lock()
        .map_err(|_| io::Error::other("durable state poisoned"))?
        .epoch;
    if current == epoch {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "durable point {epoch} was replaced by {current} (a snapshot was installed)"
        )))
    }
}

impl Vfs {
    /// Pins durable point `epoch`, which must be the current one and not
    /// being replaced; reads what the point holds of each database (the
    /// WAL files, the lengths) on the disk thread.
    pub fn pin(&self, epoch: u64) -> Result<oneshot::Receiver<io::Result<Pin>>, VfsError> {
        let guard = {
            let mut durable = lock_durable(&self.state.durable)?;
            if durable.making || durable.epoch != epoch {
                return Err(VfsError::io(io::Error::other(format!(
                    "snapshot at index {epoch} is being replaced (now at {}{})",
                    durable.epoch,
                    if durable.making {
                        ", a newer one is being made"
                    } else {
                        ""
                    }
                ))));
            }
            durable.pins += 1;
            Guard {
                durable: self.state.durable.clone(),
                epoch,
            }
        };
        let flusher = self.state.flusher.clone();
        let (done, answer) = oneshot::channel();
        let work = move || {
            let pinned = (|| {
                let files = lock_durable(&guard.durable)
                    .map_err(io::Error::other)?
                    .files
                    .clone();
                let mut databases = Vec::with_capacity(files.len());
                for (name, main) in files {
                    databases.push(PinnedDatabase {
                        name,
                        main_len: main.durable_len(),
                        wal: read_wal(main.path(), epoch)?,
                        main,
                    });
                }
                io::Result::Ok(databases)
            })();
            let _ = done.send(pinned.map(|databases| Pin {
                guard,
                flusher,
                databases: Arc::new(databases),
            }));
        };
        if !self.state.flusher.run(work) {
            return Err(VfsError::io(io::Error::other("the disk thread is gone")));
        }
        Ok(answer)
    }

    /// Whether a snapshot send holds the last durable point.
    pub fn pinned(&self) -> bool {
        self.state.durable.lock().is_ok_and(|d| d.pins > 0)
    }
}

impl Pin {
    /// The databases of the point, sorted by name.
    pub fn databases(&self) -> &[PinnedDatabase] {
        &self.databases
    }

    /// Reads, on the disk thread, each `(database, offset, len)` range of
    /// the main files as of the point, in order.
    pub fn read_main(
        &self,
        ranges: Vec<(usize, u64, usize)>,
    ) -> oneshot::Receiver<io::Result<Vec<Vec<u8>>>> {
        let (done, answer) = oneshot::channel();
        let databases = self.databases.clone();
        let durable = self.guard.durable.clone();
        let epoch = self.guard.epoch;
        let work = move || {
            let read = (|| {
                // The check and the reads are on the disk thread, where
                // new points are made: nothing replaces the point between.
                check_current(&durable, epoch)?;
                let mut out = Vec::with_capacity(ranges.len());
                for (db, offset, len) in ranges {
                    let main = &databases
                        .get(db)
                        .ok_or_else(|| io::Error::other("no such pinned database"))?
                        .main;
                    let mut bytes = vec![0u8; len];
                    main.durable_range(offset, &mut bytes)?;
                    out.push(bytes);
                }
                io::Result::Ok(out)
            })();
            let _ = done.send(read);
        };
        if !self.flusher.run(work) {
            let (done, answer) = oneshot::channel();
            let _ = done.send(Err(io::Error::other("the disk thread is gone")));
            return answer;
        }
        answer
    }
}
