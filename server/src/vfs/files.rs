//! Where a VFS's database files are: the layout of its directory and the
//! durable point its files restore to.
//!
//! Per database file number `N`: `N.db` (the main file), `N.undo`, `N.sum`
//! and `N.wal.E` (the unfolded WAL kept at durable point `E`); temporary
//! files end in `.tmp`.

use std::io;
use std::path::{Path, PathBuf};

use super::main_file::MainFile;
use crate::fs_util;

/// The durable point a VFS's files restore to, and the databases then.
#[derive(Debug, Default)]
pub(crate) struct DurableState {
    /// The point (the applied log index it was made at; 0 before any).
    pub(crate) epoch: u64,
    /// The databases of the point and their main files.
    pub(crate) files: Vec<(String, MainFile)>,
    /// Snapshot sends reading this point (see `vfs::pin`): no new point
    /// is made while any is.
    pub(crate) pins: usize,
    /// Whether a new point is being made (none can be pinned meanwhile).
    pub(crate) making: bool,
}

impl DurableState {
    /// Moves to point `epoch` with `files`, keeping the pins.
    pub(crate) fn replace(&mut self, epoch: u64, files: Vec<(String, MainFile)>) {
        self.epoch = epoch;
        self.files = files;
    }
}

/// The committed WAL frames of a database kept at durable point `epoch`.
pub(crate) fn wal_path(main: &Path, epoch: u64) -> PathBuf {
    main.with_extension(format!("wal.{epoch}"))
}

/// Reads the WAL frames kept for `main` at durable point `epoch` (none if
/// there is no file).
pub(crate) fn read_wal(main: &Path, epoch: u64) -> io::Result<Vec<u8>> {
    match std::fs::read(wal_path(main, epoch)) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Removes the WAL files of `main` kept at other durable points than
/// `epoch`.
pub(crate) fn remove_other_wals(main: &Path, epoch: u64) -> io::Result<()> {
    let (Some(dir), Some(stem)) = (main.parent(), main.file_stem().and_then(|s| s.to_str())) else {
        return Ok(());
    };
    let prefix = format!("{stem}.wal.");
    let keep = format!("{prefix}{epoch}");
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&prefix) && name != keep {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The main file of database file number `n` in `dir`.
pub(crate) fn main_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n}.db"))
}

/// A file number from a file name of the database directory (`N.db`,
/// `N.undo`, `N.wal`, `N.db.tmp`...).
pub(crate) fn file_number(name: &str) -> Option<u64> {
    let digits = name.split('.').next()?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Removes every numbered file of `dir` whose number is not in `keep`;
/// returns the highest number seen.
pub(crate) fn remove_strays(dir: &Path, keep: &[u64]) -> io::Result<u64> {
    let mut highest = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(file_number) else {
            continue;
        };
        highest = highest.max(n);
        if !keep.contains(&n) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(highest)
}

/// Writes `bytes` (unless empty) to `path`, synced, through a temporary
/// file (a file of this name may belong to the current point); the
/// directory is synced by the caller.
pub(crate) fn write_wal(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Removes every file of the database files numbered `numbers` in `dir`.
pub(crate) fn remove_numbers(dir: &Path, numbers: &[u64]) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name
            .to_str()
            .and_then(file_number)
            .is_some_and(|n| numbers.contains(&n))
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    fs_util::sync_dir(dir)
}

/// The number of a main file (`N.db`).
pub(crate) fn file_number_of(main: &MainFile) -> u64 {
    main.path()
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(file_number)
        .unwrap_or(0)
}
