//! A main file's undo file: the blocks the disk thread overwrote since the
//! last durable point, as they were at that point.
//!
//! Between durable points the disk thread writes changes into the main
//! file in place. Before it overwrites (or cuts off) a 4 KiB block for the
//! first time since the durable point, it appends the block's content to
//! the undo file and syncs that file; only then does it write the main
//! file. So at any moment the main file as of the last durable point is
//! the main file with every block of the undo file written back and its
//! length cut to the length it had then:
//! - after a crash, [`roll_back`] restores it, and the Raft log after the
//!   durable point is applied again on top;
//! - a snapshot of the durable point is read the same way while the main
//!   file keeps changing ([`Undo::original`]).
//!
//! A durable point (all main files synced, the state file naming the new
//! point written) makes the undo files obsolete: they are removed, and the
//! next write starts a new one.
//!
//! # Format
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DQLUNDO1` |
//! | 8 | durable point (log index) the file restores, u64 LE |
//! | 8 | main file length at that point, u64 LE |
//! | 4 | CRC-32 of the 24 bytes before |
//! | 4 | zero |
//!
//! then records of 4,108 bytes: block number (u64 LE), the block's 4,096
//! bytes, CRC-32 of both (u32 LE). A record that does not check is the
//! torn end of the file: the main file was not written after it (the undo
//! file is synced before every main-file write).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Size of the blocks saved, in bytes.
pub(crate) const BLOCK_LEN: usize = 4096;
/// [`BLOCK_LEN`] as a file offset.
pub(crate) const BLOCK: u64 = BLOCK_LEN as u64;
const MAGIC: &[u8; 8] = b"DQLUNDO1";
const HEADER_LEN: usize = 32;
const HEADER: u64 = HEADER_LEN as u64;
const RECORD_LEN: usize = 8 + BLOCK_LEN + 4;
const RECORD: u64 = RECORD_LEN as u64;

/// The undo file of one main file, as the disk thread keeps it.
#[derive(Debug)]
pub(crate) struct Undo {
    path: PathBuf,
    /// Open once something was saved since the durable point.
    file: Option<File>,
    /// The durable point the saved blocks restore.
    epoch: u64,
    /// The main file's length at the durable point.
    base_len: u64,
    /// Where each saved block's record starts.
    saved: HashMap<u64, u64>,
    /// Records appended since the last sync.
    unsynced: bool,
}

impl Undo {
    /// An empty undo file for a main file `base_len` bytes long at durable
    /// point `epoch` (nothing is created until a block is saved).
    pub(crate) fn new(path: PathBuf, epoch: u64, base_len: u64) -> Self {
        Self {
            path,
            file: None,
            epoch,
            base_len,
            saved: HashMap::new(),
            unsynced: false,
        }
    }

    /// Starts over at a new durable point: the saved blocks are obsolete.
    pub(crate) fn reset(&mut self, epoch: u64, base_len: u64) -> io::Result<()> {
        if self.file.take().is_some() {
            remove_if_exists(&self.path)?;
        }
        self.epoch = epoch;
        self.base_len = base_len;
        self.saved.clear();
        self.unsynced = false;
        Ok(())
    }

    /// The main file's length at the durable point.
    pub(crate) fn base_len(&self) -> u64 {
        self.base_len
    }

    /// Records the durable point's length before the file grows past it
    /// (a crash then cuts the file back), if nothing did yet.
    pub(crate) fn before_growth(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.open_file()?;
            self.unsynced = true;
        }
        Ok(())
    }

    /// Saves the blocks of `[at, at + len)` that existed at the durable
    /// point and were not saved yet, reading them from `main`.
    pub(crate) fn save(&mut self, main: &File, at: u64, len: u64) -> io::Result<()> {
        let end = (at + len).min(self.base_len);
        if at >= end {
            return Ok(());
        }
        for block in at / BLOCK..end.div_ceil(BLOCK) {
            if self.saved.contains_key(&block) {
                continue;
            }
            let mut content = vec![0u8; BLOCK_LEN];
            read_fully(main, &mut content, block * BLOCK)?;
            self.append(block, &content)?;
        }
        Ok(())
    }

    fn append(&mut self, block: u64, content: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.open_file()?;
        }
        let Some(file) = &self.file else {
            return Err(io::Error::other("undo file not open"));
        };
        let at = HEADER + self.saved.len() as u64 * RECORD;
        let mut record = Vec::with_capacity(RECORD_LEN);
        record.extend_from_slice(&block.to_le_bytes());
        record.extend_from_slice(content);
        let crc = crc32fast::hash(&record);
        record.extend_from_slice(&crc.to_le_bytes());
        file.write_all_at(&record, at)?;
        self.saved.insert(block, at);
        self.unsynced = true;
        Ok(())
    }

    /// Creates the undo file with its header (the point and the length).
    fn open_file(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)?;
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&self.epoch.to_le_bytes());
        header[16..24].copy_from_slice(&self.base_len.to_le_bytes());
        let crc = crc32fast::hash(&header[..24]);
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        file.write_all_at(&header, 0)?;
        // The file's name must survive a crash as surely as its content.
        if let Some(dir) = self.path.parent() {
            crate::fs_util::sync_dir(dir)?;
        }
        self.file = Some(file);
        Ok(())
    }

    /// Makes the saved blocks durable (before the main file is written).
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.unsynced
            && let Some(file) = &self.file
        {
            file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Block `block` as it was at the durable point, if it was saved; an
    /// error if its record does not read back as written.
    pub(crate) fn original(&self, block: u64) -> io::Result<Option<Vec<u8>>> {
        let (Some(file), Some(&at)) = (&self.file, self.saved.get(&block)) else {
            return Ok(None);
        };
        let mut record = vec![0u8; RECORD_LEN];
        file.read_exact_at(&mut record, at)?;
        let body = 8 + BLOCK_LEN;
        if crc32fast::hash(&record[..body]) != u32_at(&record, body) || u64_at(&record, 0) != block
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "undo file {} is damaged at byte {at} (checksum mismatch)",
                    self.path.display()
                ),
            ));
        }
        Ok(Some(record[8..body].to_vec()))
    }
}

/// Restores the main file at `main` to durable point `epoch` from its undo
/// file at `undo` (synced), leaving the undo file for the caller to remove
/// once what depends on the restored blocks (their checksums) is durable.
/// An undo file of another durable point (one whose successor was
/// completed) or without a whole header (nothing was written to the main
/// file after it) is removed. Returns the blocks written back.
pub(crate) fn roll_back(main: &Path, undo: &Path, epoch: u64) -> io::Result<Vec<u64>> {
    let bytes = match std::fs::read(undo) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let header_ok = bytes.len() >= HEADER_LEN
        && &bytes[..8] == MAGIC
        && crc32fast::hash(&bytes[..24]) == u32_at(&bytes, 24);
    if !header_ok || u64_at(&bytes, 8) != epoch {
        remove_if_exists(undo)?;
        return Ok(Vec::new());
    }
    let base_len = u64_at(&bytes, 16);
    let file = OpenOptions::new().write(true).open(main)?;
    let mut restored = Vec::new();
    for record in bytes[HEADER_LEN..].chunks_exact(RECORD_LEN) {
        let body = &record[..8 + BLOCK_LEN];
        if crc32fast::hash(body) != u32_at(record, 8 + BLOCK_LEN) {
            break;
        }
        let block = u64_at(record, 0);
        file.write_all_at(&body[8..], block * BLOCK)?;
        restored.push(block);
    }
    file.set_len(base_len)?;
    file.sync_all()?;
    Ok(restored)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Removes `path` if it exists.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads exactly `out.len()` bytes at `offset`, zero-filling past the end
/// of the file.
pub(crate) fn read_fully(file: &File, out: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < out.len() {
        match file.read_at(&mut out[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out[done..].fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, content: &[u8]) {
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn rolling_back_restores_the_durable_point_whatever_was_written_after() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("1.db");
        let undo_path = dir.path().join("1.undo");
        let original: Vec<u8> = (0..3 * BLOCK_LEN)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        write(&main, &original);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&main)
            .unwrap();
        let mut undo = Undo::new(undo_path.clone(), 7, original.len() as u64);
        // Overwrite block 1 twice (saved once), grow, then cut block 2 off.
        undo.save(&file, BLOCK, BLOCK).unwrap();
        undo.sync().unwrap();
        file.write_all_at(&[1u8; BLOCK_LEN], BLOCK).unwrap();
        undo.save(&file, BLOCK, BLOCK).unwrap();
        file.write_all_at(&[2u8; BLOCK_LEN], BLOCK).unwrap();
        file.write_all_at(&[3u8; BLOCK_LEN], 5 * BLOCK).unwrap();
        undo.save(&file, 2 * BLOCK, 4 * BLOCK).unwrap();
        undo.sync().unwrap();
        file.set_len(2 * BLOCK).unwrap();
        assert_eq!(
            undo.original(1).unwrap().unwrap(),
            &original[BLOCK_LEN..2 * BLOCK_LEN]
        );
        assert_eq!(undo.original(0).unwrap(), None);
        // Another durable point's undo file is not applied.
        assert!(roll_back(&main, &undo_path, 8).unwrap().is_empty());
        assert!(!undo_path.exists(), "another point's undo file is removed");
        // Redo the damage and roll back for real.
        let mut undo = Undo::new(undo_path.clone(), 7, 2 * BLOCK);
        undo.save(&file, 0, 2 * BLOCK).unwrap();
        undo.sync().unwrap();
        let before = std::fs::read(&main).unwrap();
        file.write_all_at(&[9u8; 2 * BLOCK_LEN], 0).unwrap();
        file.set_len(BLOCK).unwrap();
        assert_eq!(roll_back(&main, &undo_path, 7).unwrap(), [0, 1]);
        assert_eq!(std::fs::read(&main).unwrap(), before);
    }

    #[test]
    fn a_torn_record_ends_the_roll_back_and_a_torn_header_voids_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("1.db");
        let undo_path = dir.path().join("1.undo");
        write(&main, &vec![5u8; 2 * BLOCK_LEN]);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&main)
            .unwrap();
        let mut undo = Undo::new(undo_path.clone(), 3, 2 * BLOCK);
        undo.save(&file, 0, 2 * BLOCK).unwrap();
        undo.sync().unwrap();
        file.write_all_at(&[6u8; 2 * BLOCK_LEN], 0).unwrap();
        // Damage the second record: only the first block comes back.
        let mut bytes = std::fs::read(&undo_path).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0xff;
        write(&undo_path, &bytes);
        assert_eq!(roll_back(&main, &undo_path, 3).unwrap(), [0]);
        remove_if_exists(&undo_path).unwrap();
        let after = std::fs::read(&main).unwrap();
        assert_eq!(&after[..BLOCK_LEN], &[5u8; BLOCK_LEN][..]);
        assert_eq!(&after[BLOCK_LEN..], &[6u8; BLOCK_LEN][..]);
        // A header cut short: nothing was written after it.
        write(&undo_path, &MAGIC[..]);
        assert!(roll_back(&main, &undo_path, 3).unwrap().is_empty());
        assert!(!undo_path.exists());
    }
}
