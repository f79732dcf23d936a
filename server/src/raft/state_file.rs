//! `DIR/state/applied`: the state machine's durable point — the log id
//! and membership the databases' files hold, and which file is which
//! database. Writing it (atomically) is what makes a durable point exist
//! (see `vfs::durable`); the Raft log is purged up to it, and a restarted
//! node applies the log after it.
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DQLSTATE` |
//! | 4 | length of the content, u32 LE |
//! | 4 | CRC-32 of the content, u32 LE |
//! | n | content (postcard: [`Durable`]) |

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::typ::SnapshotMeta;
use crate::vfs::Manifest;

/// The file's name in the state directory.
pub(crate) const STATE_FILE: &str = crate::data_dir::DURABLE_FILE;
/// The data directory format this server writes (1: databases in memory
/// and whole in `state/snapshot`; 2: databases in `db/`).
pub(crate) const FORMAT: u32 = 2;
const MAGIC: &[u8; 8] = b"DQLSTATE";
const HEADER: usize = 16;

/// A durable point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Durable {
    /// Data directory format ([`FORMAT`]).
    pub(crate) format: u32,
    /// The last log id and membership the files hold.
    pub(crate) meta: SnapshotMeta,
    /// Which file holds which database.
    pub(crate) manifest: Manifest,
}

impl Durable {
    /// The durable point's number: the index of its last log id.
    pub(crate) fn epoch(&self) -> u64 {
        epoch_of(&self.meta)
    }
}

/// The epoch (see `vfs::durable`) of a snapshot's metadata.
pub(crate) fn epoch_of(meta: &SnapshotMeta) -> u64 {
    meta.last_log_id.as_ref().map_or(0, |l| l.index)
}

/// Writes `durable` to `dir` (replacing the file atomically).
pub(crate) fn write(dir: &Path, durable: &Durable) -> io::Result<()> {
    let content = postcard::to_allocvec(durable)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let len =
        u32::try_from(content.len()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(&crc32fast::hash(&content).to_le_bytes());
    let path = dir.join(STATE_FILE);
    crate::fs_util::replace_atomically_parts(&path, &[&header, &content])
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Reads the durable point recorded in `dir`, if any. A damaged file, or
/// one of a newer format than this server's, is an error naming it.
pub(crate) fn read(dir: &Path) -> io::Result<Option<Durable>> {
    let path = dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let damaged = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("state file {} is damaged: {what}", path.display()),
        )
    };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(damaged("not a state file (bad magic)"));
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let len = usize::try_from(word(8)).unwrap_or(usize::MAX);
    let Some(content) = bytes.get(HEADER..HEADER.saturating_add(len)) else {
        return Err(damaged("shorter than its header says"));
    };
    if crc32fast::hash(content) != word(12) {
        return Err(damaged("checksum mismatch"));
    }
    // The format comes first, so a newer one is told apart from damage.
    let format: u32 = postcard::take_from_bytes(content)
        .map(|(f, _)| f)
        .map_err(|_| damaged("unreadable content"))?;
    if format > FORMAT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "data directory format {format} (in {}) is newer than this server's ({FORMAT}): \
                 run a newer dqlite-server",
                path.display()
            ),
        ));
    }
    let durable: Durable =
        postcard::from_bytes(content).map_err(|e| damaged(&format!("unreadable content: {e}")))?;
    Ok(Some(durable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Durable {
        Durable {
            format: FORMAT,
            meta: SnapshotMeta::default(),
            manifest: Manifest {
                databases: vec![("app".into(), 3), ("other".into(), 7)],
            },
        }
    }

    #[test]
    fn a_state_file_reads_back_and_damage_or_a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), &sample()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(sample()));
        let path = dir.path().join(STATE_FILE);
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        std::fs::write(&path, &good[..good.len() - 2]).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("shorter"), "{e}");
        let mut newer = sample();
        newer.format = FORMAT + 1;
        write(dir.path(), &newer).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is newer than this server's (2)"), "{e}");
    }
}
