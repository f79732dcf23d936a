//! The layout of a node's data directory, and the checks made on it before
//! a node starts.
//!
//! ```text
//! DIR/node            identity: the node's id and address, one per line
//! DIR/dqlite-lock     held (flock) by whoever changes the directory
//! DIR/raft-log/       the Raft log (`raft::log_file`: meta, log-* segments)
//! DIR/state/applied   the last durable point (`raft::state_file`)
//! DIR/state/snapshot  a format-1 snapshot, until upgraded (`raft::state_machine`)
//! DIR/db/N.db         the databases' main files (`vfs::durable`), with
//!                     N.undo and N.wal at times
//! ```
//!
//! A leaf: it names files and reads or writes the identity and the lock,
//! and knows nothing of Raft or of the node that uses the directory.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{Error, Result};

/// File in the data directory recording the node's id and address.
pub(crate) const IDENTITY: &str = "node";
/// Directory, in the data directory, of the Raft log.
pub(crate) const LOG_DIR: &str = "raft-log";
/// Directory, in the data directory, of the state machine's snapshot.
pub(crate) const STATE_DIR: &str = "state";
/// Directory, in the data directory, of the databases' main files.
pub(crate) const DB_DIR: &str = "db";
/// File of the durable point in the state directory ([`STATE_DIR`]).
pub(crate) const DURABLE_FILE: &str = "applied";
/// File of a format-1 snapshot in the state directory ([`STATE_DIR`]).
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
/// The lock file in a data directory: whoever changes the directory (a
/// running node, [`crate::offline::recover`]) holds an exclusive `flock`
/// on it, as the C server does on `DIR/dqlite-lock`.
pub(crate) const LOCK_FILE: &str = "dqlite-lock";

/// Takes the data directory's lock ([`LOCK_FILE`], `flock(LOCK_EX |
/// LOCK_NB)`), which lasts as long as the returned file stays open.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::Config(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Config(format!(
            "couldn't lock the data directory {}: {} is held (is the node running?)",
            dir.display(),
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(Error::Config(format!(
            "couldn't lock the data directory {}: {e}",
            dir.display()
        ))),
    }
}

/// Whether someone (a running node, a recovery) holds the data
/// directory's lock, found without creating anything: a directory with no
/// lock file is not locked. Opens the lock file read-only and tries the
/// lock, which is released at once.
pub(crate) fn lock_held(dir: &Path) -> Result<bool> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot open {}: {e}",
                path.display()
            )));
        }
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(Error::Config(format!(
            "cannot check the lock of the data directory {}: {e}",
            dir.display()
        ))),
    }
}

/// Records the node's id and address on first start; refuses another id
/// or address later, and a directory that holds Raft state but lost its
/// identity file (it cannot tell whose state it is).
pub(crate) fn check_identity(dir: &Path, id: u64, address: &str) -> Result<()> {
    match read_identity(dir)? {
        Some((found_id, found_address)) if found_id == id && found_address == address => Ok(()),
        Some((found_id, found_address)) => Err(Error::Config(format!(
            "data directory {} belongs to node {found_id} at {found_address}, not node {id} at {address}",
            dir.display()
        ))),
        None if has_raft_state(dir)? => Err(Error::Config(format!(
            "data directory {} holds a Raft log or snapshot but no identity file ({IDENTITY}): \
             it cannot be told whose they are; restore the file (the node's id and address on \
             two lines) or start from an empty directory",
            dir.display()
        ))),
        None => write_identity(dir, id, address),
    }
}

/// Whether `dir` holds a snapshot: a durable point, or a format-1
/// snapshot file.
pub(crate) fn has_snapshot(dir: &Path) -> Result<bool> {
    let state = dir.join(STATE_DIR);
    Ok(state.join(DURABLE_FILE).try_exists()? || state.join(SNAPSHOT_FILE).try_exists()?)
}

/// Whether `dir` holds any Raft state: a log (metadata or a segment) or a
/// snapshot.
pub(crate) fn has_raft_state(dir: &Path) -> Result<bool> {
    if has_snapshot(dir)? {
        return Ok(true);
    }
    let log = dir.join(LOG_DIR);
    if !log.try_exists()? {
        return Ok(false);
    }
    for entry in std::fs::read_dir(&log)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name == "meta" || name.starts_with("log-") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records the node's id and address in the data directory.
pub(crate) fn write_identity(dir: &Path, id: u64, address: &str) -> Result<()> {
    let wanted = format!("{id}\n{address}\n");
    crate::fs_util::replace_atomically(&dir.join(IDENTITY), wanted.as_bytes())?;
    Ok(())
}

/// The id and address recorded in `dir`, if the directory has an identity
/// file that reads as one.
pub(crate) fn read_identity(dir: &Path) -> Result<Option<(u64, String)>> {
    match std::fs::read_to_string(dir.join(IDENTITY)) {
        Ok(found) => {
            let mut lines = found.lines();
            let id = lines.next().and_then(|id| id.parse().ok());
            Ok(id.zip(lines.next().map(str::to_owned)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Refuses a directory holding the C dqlite library's data (raft-uv
/// metadata, segments or snapshots), which this node cannot read: starting
/// beside it would bootstrap an empty cluster and hide the data.
pub(crate) fn refuse_c_data(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir)?;
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let segment = |s: &str| {
            s.split_once('-').is_some_and(|(a, b)| {
                a.len() == 16
                    && b.len() == 16
                    && (a.chars().chain(b.chars())).all(|c| c.is_ascii_digit())
            })
        };
        let open_segment = name
            .strip_prefix("open-")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if name == "metadata1"
            || name == "metadata2"
            || name.starts_with("snapshot-")
            || segment(&name)
            || open_segment
        {
            return Err(Error::Config(format!(
                "data directory {} holds a C dqlite node's data ({name}), which this server cannot read",
                dir.display()
            )));
        }
    }
    Ok(())
}
