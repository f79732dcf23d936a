//! A snapshot's databases arriving from the leader, written into new
//! files of the database directory as they come (nothing of it is held in
//! memory but the WAL frames, which a durable point keeps small), then
//! made ready to switch to ([`Vfs::prepare_install`]).
//!
//! The files get new numbers, so the databases in use are untouched until
//! the install switches; files of a transfer that is given up are removed
//! when its [`Incoming`] drops, and a node that stops mid-transfer removes
//! them on start (they are not in its durable point's manifest).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use tokio::sync::oneshot;

use super::durable::{Prepared, PreparedFile};
use super::error::VfsError;
use super::files::{main_path, wal_path, write_wal};
use super::handle::Vfs;
use super::main_file::MainFile;
use super::state;
use super::sums::{block_crc, sums_path};
use super::undo::BLOCK_LEN;
use crate::fs_util;

/// Bytes written to a file after which its writeback is started, so that
/// the sync at the end does not flush gigabytes at once, and the disk is
/// never flooded (the Raft log's syncs share it).
const WRITEBACK_EVERY: u64 = 4 * 1024 * 1024;

/// One database of an incoming snapshot.
#[derive(Debug)]
struct IncomingFile {
    name: String,
    path: PathBuf,
    file: File,
    /// The main file's length in the snapshot.
    len: u64,
    unsynced: u64,
    /// Where the next bytes go (the main file arrives in order).
    next: u64,
    /// The checksums of its whole blocks so far (see `vfs::sums`), and
    /// the bytes of the block being filled: computed as the bytes arrive,
    /// so that the install does not read the file back.
    crcs: Vec<u32>,
    partial: Vec<u8>,
    wal: Vec<u8>,
    wal_len: u64,
}

/// A snapshot's databases being written to new files.
#[derive(Debug)]
pub struct Incoming {
    files: Vec<IncomingFile>,
    /// Whether the files went to an install (else they are removed).
    kept: bool,
}

impl Vfs {
    /// New files for a snapshot holding `databases` (name, main file
    /// length, WAL length): refused if a name is unusable or repeated.
    pub fn incoming(&self, databases: &[(String, u64, u64)]) -> Result<Incoming, VfsError> {
        let mut incoming = Incoming {
            files: Vec::with_capacity(databases.len()),
            kept: false,
        };
        for (i, (name, len, wal_len)) in databases.iter().enumerate() {
            if name.is_empty()
                || name.contains('\0')
                || databases[..i].iter().any(|(other, ..)| other == name)
            {
                return Err(VfsError::BadImage(name.len()));
            }
            let path = main_path(self.dir(), self.state.take_file_number());
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(VfsError::io)?;
            file.set_len(*len).map_err(VfsError::io)?;
            incoming.files.push(IncomingFile {
                name: name.clone(),
                path,
                file,
                len: *len,
                unsynced: 0,
                next: 0,
                crcs: Vec::new(),
                partial: Vec::new(),
                wal: Vec::new(),
                wal_len: *wal_len,
            });
        }
        Ok(incoming)
    }
}

impl Incoming {
    /// Bytes of the snapshot's databases (main files and WAL).
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len + f.wal_len).sum()
    }

    /// Writes `bytes` at `offset` of database `db`'s main file (blocking).
    pub fn write_main(&mut self, db: usize, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let file = self.file(db)?;
        if offset + bytes.len() as u64 > file.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "bytes {offset}..{} are past database {:?}'s length {}",
                    offset + bytes.len() as u64,
                    file.name,
                    file.len
                ),
            ));
        }
        if offset != file.next {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "database {:?}'s bytes at {offset} came before those at {}",
                    file.name, file.next
                ),
            ));
        }
        file.file.write_all_at(bytes, offset)?;
        file.next += bytes.len() as u64;
        file.checksum(bytes);
        file.unsynced += bytes.len() as u64;
        if file.unsynced >= WRITEBACK_EVERY {
            crate::fs_util::start_writeback(&file.file)?;
            file.unsynced = 0;
        }
        Ok(())
    }

    /// Appends `bytes` to database `db`'s WAL frames.
    pub fn push_wal(&mut self, db: usize, bytes: &[u8]) -> io::Result<()> {
        let file = self.file(db)?;
        if file.wal.len() as u64 + bytes.len() as u64 > file.wal_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("database {:?}'s WAL is longer than announced", file.name),
            ));
        }
        file.wal.extend_from_slice(bytes);
        Ok(())
    }

    fn file(&mut self, db: usize) -> io::Result<&mut IncomingFile> {
        self.files
            .get_mut(db)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no such database"))
    }
}

impl IncomingFile {
    /// Adds the next bytes of the main file to the checksums.
    fn checksum(&mut self, mut bytes: &[u8]) {
        if !self.partial.is_empty() {
            let take = (BLOCK_LEN - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() == BLOCK_LEN {
                self.crcs.push(block_crc(&self.partial));
                self.partial.clear();
            }
        }
        let mut blocks = bytes.chunks_exact(BLOCK_LEN);
        self.crcs.extend(blocks.by_ref().map(block_crc));
        self.partial.extend_from_slice(blocks.remainder());
    }

    /// Writes the checksum file of the whole main file, synced.
    fn write_sums(&mut self) -> io::Result<()> {
        if !self.partial.is_empty() {
            self.crcs.push(block_crc(&self.partial));
            self.partial.clear();
        }
        if self.next != self.len || self.crcs.len() as u64 != self.len.div_ceil(BLOCK_LEN as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("database {:?}'s main file is incomplete", self.name),
            ));
        }
        let bytes: Vec<u8> = self.crcs.iter().flat_map(|c| c.to_le_bytes()).collect();
        let sums = File::create(sums_path(&self.path))?;
        sums.write_all_at(&bytes, 0)?;
        sums.sync_data()
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for file in &self.files {
            for path in [file.path.clone(), sums_path(&file.path)] {
                if let Err(e) = std::fs::remove_file(&path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a snapshot file given up");
                }
            }
        }
    }
}

impl Vfs {
    /// Readies the files of `incoming`, whole, for
    /// [`finish_install`](Self::finish_install) as durable point `epoch`,
    /// on the disk thread: checks every WAL, syncs the files, writes the
    /// WAL files and the checksums. Nothing changes for the databases in
    /// use until the install. Call without locks.
    pub fn prepare_install(
        &self,
        mut incoming: Incoming,
        epoch: u64,
    ) -> oneshot::Receiver<io::Result<Prepared>> {
        let dir = self.dir().to_owned();
        let flusher = self.state.flusher.clone();
        let (done, answer) = oneshot::channel();
        let work = move || {
            let written = (|| {
                let mut files = Vec::with_capacity(incoming.files.len());
                for file in &mut incoming.files {
                    if file.wal.len() as u64 != file.wal_len {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("database {:?}'s WAL is incomplete", file.name),
                        ));
                    }
                    state::image_frames(&file.wal).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("database {:?}: {e}", file.name),
                        )
                    })?;
                    file.write_sums()?;
                    file.file.sync_all()?;
                    write_wal(&wal_path(&file.path, epoch), &file.wal)?;
                    // Opened here, off the locks (the checksums are those
                    // computed as the bytes arrived).
                    let main = MainFile::open(&file.path, epoch, flusher.clone())?;
                    files.push(PreparedFile {
                        name: file.name.clone(),
                        wal: std::mem::take(&mut file.wal),
                        main,
                    });
                }
                fs_util::sync_dir(&dir)?;
                incoming.kept = true;
                io::Result::Ok(Prepared { files })
            })();
            let _ = done.send(written);
        };
        if !self.state.flusher.run(work) {
            let (done, answer) = oneshot::channel();
            let _ = done.send(Err(io::Error::other("the disk thread is gone")));
            return answer;
        }
        answer
    }
}
