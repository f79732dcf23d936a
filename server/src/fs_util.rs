//! Small file-system helpers shared by the on-disk stores.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` so that after a crash it holds either the
/// old or the new content, never a mix: write a temporary file, fsync it,
/// rename it over `path`, fsync the directory.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_atomically_parts(path, &[bytes])
}

/// [`replace_atomically`] with the content given in parts, written one
/// after the other.
pub(crate) fn replace_atomically_parts(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = File::create(&tmp)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Has the kernel start writing `file`'s dirty pages back, without
/// waiting: a later sync then finds little left, and the disk is not
/// flooded at once (which would hold up the Raft log's syncs).
pub(crate) fn start_writeback(file: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor; the call only starts writeback.
    let started =
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if started == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
