//! Preallocated segment files.
//!
//! Segment files are preallocated with zeros: a background thread prepares
//! the next one, one 4 KiB page per write so that the page cache keeps
//! small folios and a sync writes back only the pages appended to. An
//! append then overwrites allocated blocks and `fdatasync` has no file
//! size to persist: about 30% faster than appending to a growing file on
//! ext4 (123 vs 179 µs per 2 KiB append and sync, measured here).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Starts a thread that writes the next segment file full of zeros.
pub(super) fn prepare_spare(path: PathBuf, bytes: u64) -> JoinHandle<io::Result<File>> {
    std::thread::spawn(move || {
        let prepared = write_zeros(&path, bytes);
        if prepared.is_err() {
            // On a full disk a half-written spare would hold all the room
            // left, and the log (which then appends to a segment it grows
            // instead) would fail at once.
            let _ = fs::remove_file(&path);
        }
        prepared
    })
}

/// Creates `path` holding `bytes` zeros, synced.
fn write_zeros(path: &Path, bytes: u64) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // One page per write: the page cache then holds the file in small
    // folios. Written in large writes, it may get 2 MiB folios, and
    // each append's fdatasync would write a whole 2 MiB folio back
    // (measured: 2 MiB of device writes per 2 KiB append).
    let zeros = [0u8; 4096];
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(zeros.len());
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(file)
}
