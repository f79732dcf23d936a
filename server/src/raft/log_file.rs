//! A durable log of `(index, term, payload)` records in segment files, plus
//! a small metadata file (vote, purge point).
//!
//! # On disk
//!
//! `DIR/log-<first index, 20 digits>` segments hold batches of consecutive
//! records, one batch per append and `fdatasync` (`log_file/format.rs` has
//! the layout). Segment files are preallocated with zeros
//! (`log_file/preallocate.rs`); a header of zeros marks the end of a
//! segment's data. A new segment starts when the current one holds
//! [`SEGMENT_BYTES`]. `DIR/meta` holds named byte values and is replaced
//! atomically (`log_file/meta.rs`). On open each segment is read back by
//! `scan_segment` (`log_file/scan.rs`), a pure function over its bytes
//! with its own tests and fuzz target, and a torn tail it reports is cut
//! here.
//!
//! # Guarantees
//!
//! - [`LogFile::append`] returns only after the records are written and
//!   `fdatasync`ed: an acknowledged record survives a crash.
//!   [`LogFile::write`] and [`Unsynced::sync`] split it for callers that
//!   sync outside a lock; they must sync one batch before writing the next,
//!   so that at most the last batch of the last segment is ever unsynced.
//! - On open, that last batch, if a crash tore it, is cut back to its
//!   records that read back intact (it was never acknowledged). Damage
//!   anywhere else is corruption of acknowledged data and opening fails
//!   with [`LogError::Corrupt`], never silently losing it. (Damage to the
//!   very last batch cannot be told from an interrupted append; like other
//!   write-ahead logs, it is treated as one.)
//! - Indexes are consecutive: no holes, which Raft requires.

mod error;
mod format;
mod meta;
mod preallocate;
pub(crate) mod scan;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use error::LogError;
use error::io_err;
pub use format::MAX_PAYLOAD;
/// For the fuzz target: see `crate::internals::segment`.
pub(crate) use format::append_batch;
use format::{BATCH_HEADER, RECORD_HEADER, batch_header, batch_start, encode_record, parse_record};
use meta::{META, read_meta, write_meta};
use preallocate::prepare_spare;
use scan::{ScanInput, scan_segment};

/// Size after which a new segment is started, and to which segment files
/// are preallocated.
pub const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

const SEGMENT_PREFIX: &str = "log-";
/// The preallocated next segment, renamed into place when it is needed.
const SPARE: &str = "spare-segment";
/// Metadata key of the last purged index, so purged records stay purged.
const PURGED: &str = "log.purged";

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
    file: Arc<File>,
    /// End of the data: where the next batch goes.
    len: u64,
}

/// Where a record lives.
#[derive(Debug, Clone, Copy)]
struct Location {
    segment: u64,
    /// Offset of the header of the record's batch.
    batch: u64,
    offset: u64,
    term: u64,
    len: u32,
}

/// Records written by [`LogFile::write`] and not yet synced.
#[derive(Debug)]
#[must_use = "records are not durable until synced"]
pub struct Unsynced {
    files: Vec<(PathBuf, Arc<File>)>,
}

impl Unsynced {
    /// `fdatasync`s the segments written to. Needs no access to the log.
    pub fn sync(self) -> Result<(), LogError> {
        for (path, file) in &self.files {
            file.sync_data().map_err(io_err(path))?;
        }
        Ok(())
    }
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
    /// The thread preparing the next segment file, if started.
    spare: Option<JoinHandle<io::Result<File>>>,
    /// Opened by [`LogFile::open_read_only`]: nothing on disk changes.
    read_only: bool,
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
        Self::open_mode(dir.as_ref(), segment_bytes, false)
    }

    /// Opens the existing log in `dir` without changing anything on disk,
    /// for offline inspection of a stopped node's log. It reads the records
    /// [`open`](Self::open) would keep: a torn last batch is read up to its
    /// last intact record, but not repaired. Every change (append,
    /// truncation, purge, metadata) fails with [`LogError::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, LogError> {
        Self::open_mode(dir.as_ref(), SEGMENT_BYTES, true)
    }

    fn open_mode(dir: &Path, segment_bytes: u64, read_only: bool) -> Result<Self, LogError> {
        let dir = dir.to_owned();
        let spare = dir.join(SPARE);
        if read_only {
            // Fail on a missing directory rather than read it as empty.
            fs::metadata(&dir).map_err(io_err(&dir))?;
        } else {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            // A spare may be half prepared; a new one is made when needed.
            match fs::remove_file(&spare) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&spare)(e)),
                _ => {}
            }
        }
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
            spare: None,
            read_only,
        };
        let last = starts.last().copied();
        for start in starts {
            log.load_segment(start, Some(start) == last)?;
        }
        if let Some(purged) = log.purged() {
            log.index = log.index.split_off(&(purged + 1));
        }
        if !read_only
            && log
                .segments
                .values()
                .next_back()
                .is_none_or(|s| s.len > segment_bytes / 2)
        {
            log.spare = Some(prepare_spare(spare, segment_bytes));
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
            .write(!self.read_only)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        let scanned = scan_segment(
            &bytes,
            ScanInput {
                expected: self.last_index().map_or(start, |i| i + 1),
                purged: self.purged(),
                is_last,
            },
        )
        .map_err(|e| LogError::Corrupt {
            path: path.clone(),
            offset: e.offset,
            reason: e.reason,
        })?;
        let mut segment = Segment {
            path: path.clone(),
            file: Arc::new(file),
            len: scanned.end,
        };
        if let Some(torn) = scanned.torn
            && self.read_only
        {
            // The index already stops at the last intact record: what a
            // repair would keep.
            tracing::info!(path = %path.display(), offset = torn.from, reason = torn.reason, "ignoring a torn log tail (read-only)");
        } else if let Some(torn) = scanned.torn {
            // Why cutting loses nothing acknowledged: a batch is reported
            // written (and only then does Raft acknowledge its entries to
            // anyone) after `fdatasync` returned for it, and the next batch
            // is written only after that. So a damaged batch that is the
            // last one of the last segment, with only zeros after it, is
            // the batch whose sync never completed: its entries were never
            // acknowledged by this node, and Raft will ask the leader for
            // them again. (Unless the disk acknowledged a sync it did not
            // do, which no log can defend against.) Damage anywhere else
            // was refused above as corruption of acknowledged data.
            //
            // Cut the batch back to its intact records; they may stay,
            // since nothing acknowledged depends on them being gone.
            tracing::warn!(path = %path.display(), offset = torn.from, reason = torn.reason, "cutting off a torn log tail");
            cut_batch(&mut segment, torn.batch, torn.from, torn.end, torn.kept)?;
        }
        self.index.extend(scanned.records.into_iter().map(|r| {
            (
                r.index,
                Location {
                    segment: start,
                    batch: r.batch,
                    offset: r.offset,
                    term: r.term,
                    len: r.len,
                },
            )
        }));
        self.segments.insert(start, segment);
        Ok(())
    }

    /// Fails if the log was opened read-only.
    fn writable(&self) -> Result<(), LogError> {
        if self.read_only {
            return Err(LogError::ReadOnly(self.dir.clone()));
        }
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

    /// Appends records, which must continue the log, as one batch and
    /// syncs them to disk before returning.
    pub fn append<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, u64, &'a [u8])>,
    ) -> Result<(), LogError> {
        self.write(records)?.sync()
    }

    /// Writes records, which must continue the log, as one batch without
    /// syncing: they can be read back at once, and are durable once the
    /// returned [`Unsynced`] is synced.
    pub fn write<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, u64, &'a [u8])>,
    ) -> Result<Unsynced, LogError> {
        self.writable()?;
        let mut body = Vec::new();
        let mut placed = Vec::new();
        let mut next = self.last_index().map(|l| l + 1);
        for (index, term, payload) in records {
            if payload.len() > MAX_PAYLOAD {
                return Err(LogError::PayloadTooLarge(payload.len()));
            }
            if let Some(n) = next
                && index != n
            {
                return Err(LogError::NotConsecutive {
                    last: Some(n - 1),
                    got: index,
                });
            }
            next = Some(index + 1);
            let len = u32::try_from(payload.len())
                .map_err(|_| LogError::PayloadTooLarge(payload.len()))?;
            placed.push((index, term, len, body.len() as u64));
            encode_record(&mut body, index, term, payload);
        }
        let Some(&(first, ..)) = placed.first() else {
            return Ok(Unsynced { files: Vec::new() });
        };
        let count =
            u32::try_from(placed.len()).map_err(|_| LogError::PayloadTooLarge(body.len()))?;
        let start = self.writable_segment(first)?;
        let segment = self
            .segments
            .get_mut(&start)
            .expect("writable_segment returns an existing key");
        let at = batch_start(segment.len, u64::MAX).unwrap_or(segment.len);
        let mut batch = batch_header(count, body.len() as u64).to_vec();
        batch.extend_from_slice(&body);
        segment
            .file
            .write_all_at(&batch, at)
            .map_err(io_err(&segment.path))?;
        segment.len = at + batch.len() as u64;
        let data = at + BATCH_HEADER as u64;
        self.index
            .extend(placed.into_iter().map(|(index, term, len, offset)| {
                (
                    index,
                    Location {
                        segment: start,
                        batch: at,
                        offset: data + offset,
                        term,
                        len,
                    },
                )
            }));
        let unsynced = Unsynced {
            files: vec![(segment.path.clone(), segment.file.clone())],
        };
        if segment.len > self.segment_bytes / 2 && self.spare.is_none() {
            self.spare = Some(prepare_spare(self.dir.join(SPARE), self.segment_bytes));
        }
        Ok(unsynced)
    }

    /// The segment to append `index` to, starting a new one when the last is full.
    fn writable_segment(&mut self, index: u64) -> Result<u64, LogError> {
        if let Some((&start, segment)) = self.segments.iter().next_back()
            && segment.len < self.segment_bytes
        {
            return Ok(start);
        }
        let path = self.segment_path(index);
        let spare = self.dir.join(SPARE);
        let prepared = match self.spare.take().map(JoinHandle::join) {
            Some(Ok(Ok(file))) => match fs::rename(&spare, &path) {
                Ok(()) => Some(file),
                Err(e) => {
                    tracing::warn!(error = %e, "could not use the preallocated log segment");
                    None
                }
            },
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "could not preallocate a log segment");
                None
            }
            Some(Err(_)) => {
                tracing::warn!("the thread preallocating a log segment panicked");
                None
            }
            None => None,
        };
        let file = match prepared {
            Some(file) => file,
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err(&path))?,
        };
        sync_dir(&self.dir)?;
        self.segments.insert(
            index,
            Segment {
                path,
                file: Arc::new(file),
                len: 0,
            },
        );
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
        self.writable()?;
        let from = index.map_or(0, |i| i + 1);
        let Some(first_cut) = self.index.range(from..).next().map(|(_, l)| *l) else {
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
        sync_dir(&self.dir)?;
        let kept = self
            .index
            .range(..from)
            .rev()
            .take_while(|(_, l)| l.segment == first_cut.segment && l.batch == first_cut.batch)
            .count();
        let segment = self
            .segments
            .get_mut(&first_cut.segment)
            .expect("an indexed record's segment exists");
        let end = segment.len;
        cut_batch(segment, first_cut.batch, first_cut.offset, end, kept)?;
        if segment.len == 0 {
            let segment = self.segments.remove(&first_cut.segment).expect("present");
            fs::remove_file(&segment.path).map_err(io_err(&segment.path))?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Forgets every record up to and including `index`. Whole segments
    /// below it are deleted; records of a partly purged segment stay on
    /// disk but are no longer served.
    pub fn purge_through(&mut self, index: u64) -> Result<(), LogError> {
        self.writable()?;
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
        self.writable()?;
        let mut meta = self.meta.clone();
        meta.insert(key.to_owned(), value.to_vec());
        write_meta(&self.dir, &meta)?;
        self.meta = meta;
        Ok(())
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        // Do not leave the preparing thread writing into a directory that
        // the next open of this log will clean up.
        if let Some(spare) = self.spare.take() {
            let _ = spare.join();
        }
    }
}

/// Cuts the batch at `batch` back to its first `kept` records (which all
/// end before `from`), zeroing the segment from `from` to `end`.
/// Zeros go to disk before the shorter header does, so a crash in between
/// leaves a batch that [`LogFile::open`] cuts the same way.
fn cut_batch(
    segment: &mut Segment,
    batch: u64,
    from: u64,
    end: u64,
    kept: usize,
) -> Result<(), LogError> {
    let path = segment.path.clone();
    let zero_from = if kept == 0 { batch } else { from };
    let zeros = vec![0u8; 64 * 1024];
    let mut at = zero_from;
    while at < end {
        let n = usize::try_from(end - at)
            .unwrap_or(usize::MAX)
            .min(zeros.len());
        segment
            .file
            .write_all_at(&zeros[..n], at)
            .map_err(io_err(&path))?;
        at += n as u64;
    }
    segment.file.sync_data().map_err(io_err(&path))?;
    if kept > 0 {
        let body = from - batch - BATCH_HEADER as u64;
        let count = u32::try_from(kept).unwrap_or(u32::MAX);
        segment
            .file
            .write_all_at(&batch_header(count, body), batch)
            .map_err(io_err(&path))?;
        segment.file.sync_data().map_err(io_err(&path))?;
    }
    segment.len = zero_from;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    crate::fs_util::sync_dir(dir).map_err(io_err(dir))
}

#[cfg(test)]
mod tests;
