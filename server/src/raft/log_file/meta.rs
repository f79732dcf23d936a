//! The log's metadata file `DIR/meta`: named byte values (vote, purge
//! point), each `u32 key length, key, u32 value length, value`, then a
//! CRC-32 of all of them. It is replaced atomically (write a temporary
//! file, fsync it, rename, fsync the directory).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::error::{LogError, io_err};

/// Name of the metadata file in the log's directory.
pub(super) const META: &str = "meta";

/// Reads the metadata file; a missing file is an empty map.
pub(super) fn read_meta(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, LogError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let corrupt = |reason| LogError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason,
    };
    let (body, crc) = bytes.split_at(
        bytes
            .len()
            .checked_sub(4)
            .ok_or_else(|| corrupt("too short"))?,
    );
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch"));
    }
    let mut meta = BTreeMap::new();
    let mut cursor = body;
    while !cursor.is_empty() {
        let (key, value, tail) = meta_entry(cursor).ok_or_else(|| corrupt("truncated entry"))?;
        meta.insert(key, value);
        cursor = tail;
    }
    Ok(meta)
}

/// One `u32 key length, key, u32 value length, value` entry.
fn meta_entry(bytes: &[u8]) -> Option<(String, Vec<u8>, &[u8])> {
    let (klen, rest) = bytes.split_first_chunk::<4>()?;
    let (key, rest) = rest.split_at_checked(u32::from_le_bytes(*klen) as usize)?;
    let (vlen, rest) = rest.split_first_chunk::<4>()?;
    let (value, rest) = rest.split_at_checked(u32::from_le_bytes(*vlen) as usize)?;
    Some((String::from_utf8(key.to_vec()).ok()?, value.to_vec(), rest))
}

/// Replaces the metadata file of `dir` with `meta`, durably.
pub(super) fn write_meta(dir: &Path, meta: &BTreeMap<String, Vec<u8>>) -> Result<(), LogError> {
    let mut body = Vec::new();
    for (key, value) in meta {
        for part in [key.as_bytes(), value.as_slice()] {
            let len =
                u32::try_from(part.len()).map_err(|_| LogError::PayloadTooLarge(part.len()))?;
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(part);
        }
    }
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let path = dir.join(META);
    crate::fs_util::replace_atomically(&path, &body).map_err(io_err(&path))
}
