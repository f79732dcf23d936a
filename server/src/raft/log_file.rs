//! A durable log of `(index, term, payload)` records in segment files, plus
//! a small metadata file (vote, committed index, purge point).
//!
//! # On disk
//!
//! `DIR/log-<first index, 20 digits>` segments hold consecutive records:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | payload length, u32 LE |
//! | 4 | CRC-32 of the next 16 bytes and the payload, u32 LE |
//! | 8 | index, u64 LE |
//! | 8 | term, u64 LE |
//! | n | payload |
//!
//! A new segment starts when the current one passes [`SEGMENT_BYTES`].
//! `DIR/meta` holds named byte values and is replaced atomically (write a
//! temporary file, fsync it, rename, fsync the directory).
//!
//! # Guarantees
//!
//! - [`LogFile::append`] returns only after the records are written and
//!   `fdatasync`ed: an acknowledged record survives a crash.
//! - On open, a torn or partly written record at the very end of the last
//!   segment (a crash during append, before it was acknowledged) is cut
//!   off. A bad record anywhere else is corruption of acknowledged data and
//!   opening fails with [`LogError::Corrupt`], never silently losing it.
//!   (Damage to the very last record cannot be told from an interrupted
//!   append; like other write-ahead logs, it is treated as one.)
//! - Indexes are consecutive: no holes, which Raft requires.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Size after which a new segment is started.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest payload accepted (a Raft entry of WAL frames can be large).
pub const MAX_PAYLOAD: usize = 1024 * 1024 * 1024;

const RECORD_HEADER: usize = 24;
const SEGMENT_PREFIX: &str = "log-";
const META: &str = "meta";
/// Metadata key of the last purged index, so purged records stay purged.
const PURGED: &str = "log.purged";

/// Errors of the log file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The file system failed.
    #[error("log I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Acknowledged data does not read back as written.
    #[error("corrupt log in {path} at byte {offset}: {reason}")]
    Corrupt {
        /// Segment or metadata file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An append does not continue the log at its next index.
    #[error("record index {got} does not follow the last index {last:?}")]
    NotConsecutive {
        /// Last index in the log.
        last: Option<u64>,
        /// Index of the record offered.
        got: u64,
    },
    /// A payload larger than [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is too large")]
    PayloadTooLarge(usize),
}

impl From<LogError> for io::Error {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Io { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Log index.
    pub index: u64,
    /// Term of the entry.
    pub term: u64,
    /// Opaque payload.
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
}

/// Where a record lives.
#[derive(Debug, Clone, Copy)]
struct Location {
    segment: u64,
    offset: u64,
    term: u64,
    len: u32,
}

/// The log: segments, an index of record locations, and the metadata.
#[derive(Debug)]
pub struct LogFile {
    dir: PathBuf,
    /// Segments by the index of their first record.
    segments: BTreeMap<u64, Segment>,
    index: BTreeMap<u64, Location>,
    meta: BTreeMap<String, Vec<u8>>,
    segment_bytes: u64,
}

impl LogFile {
    /// Opens (creating if needed) the log in `dir`, repairing a torn tail.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LogError> {
        Self::open_with_segment_size(dir, SEGMENT_BYTES)
    }

    /// [`open`](Self::open) with another segment size (small ones let
    /// tests cover several segments).
    pub fn open_with_segment_size(
        dir: impl AsRef<Path>,
        segment_bytes: u64,
    ) -> Result<Self, LogError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut starts = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            if let Some(Ok(start)) = name
                .to_str()
                .and_then(|n| n.strip_prefix(SEGMENT_PREFIX))
                .map(str::parse::<u64>)
            {
                starts.push(start);
            }
        }
        starts.sort_unstable();
        let mut log = Self {
            meta: read_meta(&dir.join(META))?,
            dir,
            segments: BTreeMap::new(),
            index: BTreeMap::new(),
            segment_bytes,
        };
        let last = starts.last().copied();
        for start in starts {
            log.load_segment(start, Some(start) == last)?;
        }
        if let Some(purged) = log.purged() {
            log.index = log.index.split_off(&(purged + 1));
        }
        Ok(log)
    }

    fn segment_path(&self, start: u64) -> PathBuf {
        self.dir.join(format!("{SEGMENT_PREFIX}{start:020}"))
    }

    fn load_segment(&mut self, start: u64, is_last: bool) -> Result<(), LogError> {
        let path = self.segment_path(start);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        let mut offset = 0usize;
        let mut expected = self.last_index().map_or(start, |i| i + 1);
        let corrupt = |offset: usize, reason| LogError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason,
        };
        while offset < bytes.len() {
            match parse_record(&bytes[offset..]) {
                Ok((index, term, len)) => {
                    if index != expected {
                        return Err(corrupt(offset, "index out of sequence"));
                    }
                    self.index.insert(
                        index,
                        Location {
                            segment: start,
                            offset: offset as u64,
                            term,
                            len,
                        },
                    );
                    expected += 1;
                    offset += RECORD_HEADER + len as usize;
                }
                Err(reason) if is_last && is_torn_tail(&bytes[offset..]) => {
                    // The last record, cut short by a crash during its
                    // append: it was never acknowledged.
                    tracing::warn!(path = %path.display(), offset, reason, "cutting off a torn log tail");
                    file.set_len(offset as u64).map_err(io_err(&path))?;
                    file.sync_all().map_err(io_err(&path))?;
                    bytes.truncate(offset);
                }
                Err(reason) => return Err(corrupt(offset, reason)),
            }
        }
        self.segments.insert(
            start,
            Segment {
                path,
                file,
                len: bytes.len() as u64,
            },
        );
        Ok(())
    }

    /// Index of the first record kept.
    pub fn first_index(&self) -> Option<u64> {
        self.index.keys().next().copied()
    }

    /// Index of the last record.
    pub fn last_index(&self) -> Option<u64> {
        self.index.keys().next_back().copied()
    }

    /// Term of the record at `index`, if present.
    pub fn term(&self, index: u64) -> Option<u64> {
        self.index.get(&index).map(|l| l.term)
    }

    /// Appends records, which must continue the log, and syncs them to disk
    /// before returning.
    pub fn append<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, u64, &'a [u8])>,
    ) -> Result<(), LogError> {
        let mut touched = Vec::new();
        for (index, term, payload) in records {
            if payload.len() > MAX_PAYLOAD {
                return Err(LogError::PayloadTooLarge(payload.len()));
            }
            let last = self.last_index();
            if last.is_some_and(|l| index != l + 1) {
                return Err(LogError::NotConsecutive { last, got: index });
            }
            let start = self.writable_segment(index)?;
            let segment = self
                .segments
                .get_mut(&start)
                .expect("writable_segment returns an existing key");
            let record = encode_record(index, term, payload);
            segment
                .file
                .write_all_at(&record, segment.len)
                .map_err(io_err(&segment.path))?;
            let len = u32::try_from(payload.len())
                .map_err(|_| LogError::PayloadTooLarge(payload.len()))?;
            self.index.insert(
                index,
                Location {
                    segment: start,
                    offset: segment.len,
                    term,
                    len,
                },
            );
            segment.len += record.len() as u64;
            if touched.last() != Some(&start) {
                touched.push(start);
            }
        }
        for start in touched {
            let segment = &self.segments[&start];
            segment.file.sync_data().map_err(io_err(&segment.path))?;
        }
        Ok(())
    }

    /// The segment to append `index` to, starting a new one when the last is full.
    fn writable_segment(&mut self, index: u64) -> Result<u64, LogError> {
        if let Some((&start, segment)) = self.segments.iter().next_back()
            && segment.len < self.segment_bytes
        {
            return Ok(start);
        }
        let path = self.segment_path(index);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.segments.insert(index, Segment { path, file, len: 0 });
        Ok(index)
    }

    /// Reads records with indexes in `range` (missing ones are skipped).
    pub fn read(&self, range: impl std::ops::RangeBounds<u64>) -> Result<Vec<Record>, LogError> {
        self.index
            .range(range)
            .map(|(&index, loc)| {
                let segment = &self.segments[&loc.segment];
                let mut buf = vec![0u8; RECORD_HEADER + loc.len as usize];
                segment
                    .file
                    .read_exact_at(&mut buf, loc.offset)
                    .map_err(io_err(&segment.path))?;
                match parse_record(&buf) {
                    Ok((i, term, _)) if i == index => Ok(Record {
                        index,
                        term,
                        payload: buf.split_off(RECORD_HEADER),
                    }),
                    _ => Err(LogError::Corrupt {
                        path: segment.path.clone(),
                        offset: loc.offset,
                        reason: "record changed on disk",
                    }),
                }
            })
            .collect()
    }

    /// Removes every record after `index` (all of them for `None`).
    pub fn truncate_after(&mut self, index: Option<u64>) -> Result<(), LogError> {
        let from = index.map_or(0, |i| i + 1);
        let Some((_, first_cut)) = self.index.range(from..).next().map(|(i, l)| (*i, *l)) else {
            return Ok(());
        };
        self.index.split_off(&from);
        let doomed: Vec<u64> = self
            .segments
            .range(first_cut.segment + 1..)
            .map(|(s, _)| *s)
            .collect();
        for start in doomed {
            if let Some(segment) = self.segments.remove(&start) {
                fs::remove_file(&segment.path).map_err(io_err(&segment.path))?;
            }
        }
        let segment = self
            .segments
            .get_mut(&first_cut.segment)
            .expect("an indexed record's segment exists");
        segment
            .file
            .set_len(first_cut.offset)
            .map_err(io_err(&segment.path))?;
        segment.file.sync_all().map_err(io_err(&segment.path))?;
        segment.len = first_cut.offset;
        if segment.len == 0 {
            let segment = self.segments.remove(&first_cut.segment).expect("present");
            fs::remove_file(&segment.path).map_err(io_err(&segment.path))?;
        }
        sync_dir(&self.dir)
    }

    /// Forgets every record up to and including `index`. Whole segments
    /// below it are deleted; records of a partly purged segment stay on
    /// disk but are no longer served.
    pub fn purge_through(&mut self, index: u64) -> Result<(), LogError> {
        if self.purged().is_some_and(|p| p >= index) {
            return Ok(());
        }
        self.set_meta(PURGED, &index.to_le_bytes())?;
        self.index = self.index.split_off(&(index + 1));
        let keep_from = self.index.values().next().map(|l| l.segment);
        let doomed: Vec<u64> = self
            .segments
            .keys()
            .copied()
            .filter(|&s| keep_from.is_none_or(|k| s < k))
            .collect();
        // Keep the newest segment even if empty of live records: appends go there.
        let newest = self.segments.keys().next_back().copied();
        for start in doomed {
            if Some(start) == newest {
                continue;
            }
            if let Some(segment) = self.segments.remove(&start) {
                fs::remove_file(&segment.path).map_err(io_err(&segment.path))?;
            }
        }
        sync_dir(&self.dir)
    }

    /// The last purged index, if any.
    pub fn purged(&self) -> Option<u64> {
        self.meta(PURGED)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&[u8]> {
        self.meta.get(key).map(Vec::as_slice)
    }

    /// Sets a metadata value durably (atomic file replacement).
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), LogError> {
        let mut meta = self.meta.clone();
        meta.insert(key.to_owned(), value.to_vec());
        write_meta(&self.dir, &meta)?;
        self.meta = meta;
        Ok(())
    }
}

/// Whether the bad bytes at the end of the last segment can only be an
/// interrupted append: a record running past the end of the file, a
/// complete last record whose checksum fails, or zeros.
fn is_torn_tail(bytes: &[u8]) -> bool {
    if bytes.iter().all(|&b| b == 0) {
        return true;
    }
    match bytes.first_chunk::<4>() {
        Some(len) => RECORD_HEADER + u32::from_le_bytes(*len) as usize >= bytes.len(),
        None => true,
    }
}

fn encode_record(index: u64, term: u64, payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(RECORD_HEADER + payload.len());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&[0; 4]);
    record.extend_from_slice(&index.to_le_bytes());
    record.extend_from_slice(&term.to_le_bytes());
    record.extend_from_slice(payload);
    let crc = crc32fast::hash(&record[8..]);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
    record
}

/// Validates the record at the start of `bytes`: `(index, term, payload length)`.
fn parse_record(bytes: &[u8]) -> Result<(u64, u64, u32), &'static str> {
    let Some(header) = bytes.first_chunk::<RECORD_HEADER>() else {
        return Err("truncated record header");
    };
    let word4 = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let word8 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let len = word4(0);
    let end = RECORD_HEADER + len as usize;
    if len as usize > MAX_PAYLOAD || bytes.len() < end {
        return Err("truncated record");
    }
    if crc32fast::hash(&bytes[8..end]) != word4(4) {
        return Err("checksum mismatch");
    }
    Ok((word8(8), word8(16), len))
}

fn read_meta(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, LogError> {
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

fn write_meta(dir: &Path, meta: &BTreeMap<String, Vec<u8>>) -> Result<(), LogError> {
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

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests;
