//! openraft's log storage on top of [`LogFile`], with group commit.
//!
//! Entries are serialized with postcard. [`RaftLogStorage::append`] only
//! queues them for the log's writer thread (`raft-log`) and puts them in
//! an in-memory cache of the latest entries; the thread writes everything
//! queued as one batch, `fdatasync`s it once, and only then reports the
//! appends flushed. So the Raft core never waits for the disk, concurrent
//! writers share one sync, and the state machine (and, in a cluster, the
//! replication to followers) reads recent entries from memory.
//!
//! Truncation, purge and the vote go through the same queue, so they take
//! effect in submission order, and are awaited: each returns once it is on
//! disk. The committed log id, a restart hint only, is written in place
//! into its own small file by the caller, without a sync: a page-cache
//! write costs less than waking the writer thread. After any write fails,
//! every later operation fails too: a failed `fdatasync` is never retried
//! as if the data could still be trusted.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::log_file::{LogError, LogFile};
use super::typ::{Entry, LogId, TypeConfig, Vote};

const VOTE: &str = "raft.vote";
const PURGED: &str = "raft.purged";
/// File holding the last committed log id: a hint, not a promise.
const COMMITTED_FILE: &str = "committed";

type Job = Box<dyn FnOnce(&mut LogFile) -> Result<(), LogError> + Send>;

/// Work for the writer thread.
enum Op {
    /// Entries to write, and whom to tell.
    Append {
        entries: Vec<Entry>,
        callback: IOFlushed<TypeConfig>,
    },
    /// A change of the log file, answered once durable.
    Run(Job, tokio::sync::oneshot::Sender<io::Result<()>>),
}

/// Bytes of entries the cache keeps once they are written.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The latest entries, a contiguous suffix of the log: every entry not yet
/// written, plus written ones up to [`CACHE_BYTES`].
#[derive(Default)]
struct Cache {
    entries: BTreeMap<u64, (Entry, usize)>,
    bytes: usize,
    /// The last index written to the file, if any is cached.
    written: Option<u64>,
}

impl Cache {
    fn insert(&mut self, entry: Entry) {
        let size = entry_size(&entry);
        self.bytes += size;
        if let Some((_, old)) = self.entries.insert(entry.log_id.index, (entry, size)) {
            self.bytes -= old;
        }
    }

    /// Drops entries with indexes in `range`.
    fn remove(&mut self, range: impl RangeBounds<u64>) {
        let doomed: Vec<u64> = self.entries.range(range).map(|(i, _)| *i).collect();
        for index in doomed {
            if let Some((_, size)) = self.entries.remove(&index) {
                self.bytes -= size;
            }
        }
    }

    /// Marks entries up to `last` written and trims the oldest written ones.
    fn written_through(&mut self, last: u64) {
        self.written = Some(last);
        while self.bytes > CACHE_BYTES {
            match self.entries.first_key_value() {
                Some((&first, _)) if first <= last => self.remove(first..=first),
                _ => break,
            }
        }
    }
}

/// Roughly the memory an entry takes.
fn entry_size(entry: &Entry) -> usize {
    match &entry.payload {
        openraft::EntryPayload::Normal(super::typ::Command::Frames { frames, .. }) => frames.size(),
        _ => 0,
    }
    .saturating_add(64)
}

/// State shared by the store's clones and the writer thread.
struct Shared {
    log: Mutex<LogFile>,
    /// Changed only with `log` locked, so a reader holding `log` sees
    /// every entry either here or in the file.
    cache: Mutex<Cache>,
    /// Where the latency of each group's `fdatasync` is counted.
    fsync: std::sync::OnceLock<crate::metrics::Histogram>,
}

impl Shared {
    fn log(&self) -> io::Result<MutexGuard<'_, LogFile>> {
        self.log
            .lock()
            .map_err(|_| io::Error::other("log store poisoned"))
    }

    fn cache(&self) -> io::Result<MutexGuard<'_, Cache>> {
        self.cache
            .lock()
            .map_err(|_| io::Error::other("log store poisoned"))
    }
}

/// The writer thread's handle; dropping the last one drains the queue and
/// joins the thread.
struct Writer {
    ops: Option<mpsc::Sender<Op>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn send(&self, op: Op) -> io::Result<()> {
        self.ops
            .as_ref()
            .and_then(|ops| ops.send(op).ok())
            .ok_or_else(|| io::Error::other("the log writer has stopped"))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.ops.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The Raft log store; cheap to clone (clones share the log).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
    writer: Arc<Writer>,
    committed_path: Arc<Path>,
    committed: Arc<File>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(invalid)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(invalid)
}

impl LogStore {
    /// Opens the log in `dir` (see [`LogFile::open`]) and starts its
    /// writer thread.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref();
        let mut log = LogFile::open(dir)?;
        complete_purge(&mut log)?;
        let shared = Arc::new(Shared {
            log: Mutex::new(log),
            cache: Mutex::new(Cache::default()),
            fsync: std::sync::OnceLock::new(),
        });
        let committed: Arc<File> = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(COMMITTED_FILE))?
            .into();
        let (ops, inbox) = mpsc::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("raft-log".into())
                .spawn(move || write_loop(&shared, &inbox))?
        };
        Ok(Self {
            shared,
            committed_path: dir.join(COMMITTED_FILE).into(),
            committed,
            writer: Arc::new(Writer {
                ops: Some(ops),
                thread: Some(thread),
            }),
        })
    }

    /// Counts the latency of every `fdatasync` of appended entries in
    /// `histogram` from now on (set once; later calls are ignored).
    pub(crate) fn observe_fsync(&self, histogram: crate::metrics::Histogram) {
        let _ = self.shared.fsync.set(histogram);
    }

    /// Refuses a stored vote or log that openraft could not start from
    /// without overflowing a term or an index (see `raft::admission`):
    /// such state cannot come from the network any more, and a directory
    /// holding it is named instead of making openraft panic.
    pub(crate) fn check_stored(&self) -> io::Result<()> {
        let vote: Option<Vote> = self.meta(VOTE)?;
        let last = last_in_file(&*self.shared.log()?)?.map(|id| id.index);
        super::admission::check_stored(vote.as_ref(), last).map_err(invalid_data)
    }

    /// Runs `job` on the writer thread, after everything queued before it.
    async fn run(
        &self,
        job: impl FnOnce(&mut LogFile) -> Result<(), LogError> + Send + 'static,
    ) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer.send(Op::Run(Box::new(job), tx))?;
        rx.await
            .map_err(|_| io::Error::other("the log writer has stopped"))?
    }

    fn meta<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        self.shared.log()?.meta(key).map(decode).transpose()
    }

    /// Whether the log holds `id`, or held it before a purge (then a
    /// snapshot holds it).
    fn holds(&self, id: &LogId) -> io::Result<bool> {
        let log = self.shared.log()?;
        if let Some((entry, _)) = self.shared.cache()?.entries.get(&id.index) {
            return Ok(entry.log_id == *id);
        }
        if log.purged().is_some_and(|p| id.index <= p) {
            return Ok(true);
        }
        let stored = log
            .read(id.index..=id.index)?
            .pop()
            .map(|r| decode::<Entry>(&r.payload))
            .transpose()?;
        Ok(stored.is_some_and(|e| e.log_id == *id))
    }

    async fn set_meta<T: Serialize>(&self, key: &'static str, value: &T) -> io::Result<()> {
        let bytes = encode(value)?;
        self.run(move |log| log.set_meta(key, &bytes)).await
    }
}

/// The writer thread: drains the queue, writing consecutive appends as one
/// synced batch, until every sender is gone.
fn write_loop(shared: &Shared, inbox: &mpsc::Receiver<Op>) {
    let mut failed: Option<String> = None;
    while let Ok(first) = inbox.recv() {
        let mut group = Vec::new();
        for op in std::iter::once(first).chain(inbox.try_iter()) {
            match op {
                Op::Append { entries, callback } => group.push((entries, callback)),
                Op::Run(job, reply) => {
                    flush(shared, std::mem::take(&mut group), &mut failed);
                    let result = match &failed {
                        Some(e) => Err(io::Error::other(e.clone())),
                        None => shared
                            .log()
                            .and_then(|mut log| job(&mut log).map_err(io::Error::from)),
                    };
                    if let Err(e) = &result
                        && failed.is_none()
                    {
                        failed = Some(format!("an earlier log write failed: {e}"));
                    }
                    let _ = reply.send(result);
                }
            }
        }
        flush(shared, group, &mut failed);
    }
}

/// Writes a group of appends as one batch, syncs it, and reports them.
fn flush(
    shared: &Shared,
    group: Vec<(Vec<Entry>, IOFlushed<TypeConfig>)>,
    failed: &mut Option<String>,
) {
    if group.is_empty() {
        return;
    }
    let result = match failed {
        Some(e) => Err(io::Error::other(e.clone())),
        None => write_and_sync(shared, &group),
    };
    if let Err(e) = &result {
        tracing::error!(error = %e, "appending to the Raft log failed");
        failed.get_or_insert_with(|| format!("an earlier log write failed: {e}"));
    }
    for (_, callback) in group {
        callback.io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| io::Error::new(e.kind(), e.to_string())),
        );
    }
}

fn write_and_sync(
    shared: &Shared,
    group: &[(Vec<Entry>, IOFlushed<TypeConfig>)],
) -> io::Result<()> {
    let records = group
        .iter()
        .flat_map(|(entries, _)| entries)
        .map(|e| Ok((e.log_id.index, e.log_id.leader_id.term, encode(e)?)))
        .collect::<io::Result<Vec<_>>>()?;
    let unsynced = {
        let mut log = shared.log()?;
        let unsynced = log.write(records.iter().map(|(i, t, p)| (*i, *t, &p[..])))?;
        if let Some(last) = log.last_index() {
            shared.cache()?.written_through(last);
        }
        unsynced
    };
    let started = std::time::Instant::now();
    unsynced.sync()?;
    if let Some(fsync) = shared.fsync.get() {
        fsync.observe(started.elapsed());
    }
    Ok(())
}

/// The log id of the last entry in the file, if any.
/// The log state from the last entry held and the last purged id: an
/// entry at or below the purged id is gone as far as Raft is concerned
/// (a purge records the id first, then drops the entries; a crash in
/// between leaves them, and `complete_purge` drops them at the next open).
fn log_state(last: Option<LogId>, purged: Option<LogId>) -> LogState<TypeConfig> {
    let last_log_id = match (last, purged) {
        (Some(last), Some(purged)) if last.index <= purged.index => Some(purged),
        (last, purged) => last.or(purged),
    };
    LogState {
        last_log_id,
        last_purged_log_id: purged,
    }
}

/// Finishes a purge a crash interrupted: the purged id (Raft's) is
/// written before the log drops the entries up to it, and a node killed in
/// between kept them; openraft would then find its last entry below its
/// purge point and refuse to start.
fn complete_purge(log: &mut LogFile) -> io::Result<()> {
    let purged: Option<LogId> = log.meta(PURGED).map(decode).transpose()?;
    if let Some(purged) = purged
        && log.purged().is_none_or(|p| p < purged.index)
    {
        tracing::warn!(
            purged = purged.index,
            log_purged = ?log.purged(),
            "completing a log purge interrupted by a crash"
        );
        log.purge_through(purged.index)?;
    }
    Ok(())
}

fn last_in_file(log: &LogFile) -> io::Result<Option<LogId>> {
    match log.last_index() {
        Some(last) => Ok(log
            .read(last..=last)?
            .pop()
            .map(|r| decode::<Entry>(&r.payload))
            .transpose()?
            .map(|e| e.log_id)),
        None => Ok(None),
    }
}

/// A stopped node's log, read and changed directly: no writer thread, no
/// cache, no openraft. For the offline operations ([`crate::offline`]),
/// which must see and write exactly what [`LogStore`] does.
pub(crate) struct OfflineLog {
    log: LogFile,
}

impl OfflineLog {
    /// Opens the log in `dir` for reading only (see
    /// [`LogFile::open_read_only`]).
    pub(crate) fn open_read_only(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            log: LogFile::open_read_only(dir)?,
        })
    }

    /// Opens the log in `dir` as [`LogStore::open`] does (a torn tail is
    /// repaired).
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let mut log = LogFile::open(dir)?;
        complete_purge(&mut log)?;
        Ok(Self { log })
    }

    /// The last log id and the last purged one, as
    /// [`RaftLogStorage::get_log_state`] reports them.
    pub(crate) fn state(&self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED)?;
        Ok(log_state(last_in_file(&self.log)?, last_purged_log_id))
    }

    /// The stored vote.
    pub(crate) fn vote(&self) -> io::Result<Option<Vote>> {
        self.meta(VOTE)
    }

    /// Stores `vote` durably.
    pub(crate) fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        Ok(self.log.set_meta(VOTE, &encode(vote)?)?)
    }

    /// Purges through `log_id`, as [`RaftLogStorage::purge`] does.
    pub(crate) fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        self.log.set_meta(PURGED, &encode(&log_id)?)?;
        Ok(self.log.purge_through(log_id.index)?)
    }

    /// Appends `entry` (it must continue the log) and syncs it.
    pub(crate) fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let payload = encode(entry)?;
        Ok(self.log.append([(
            entry.log_id.index,
            entry.log_id.leader_id.term,
            &payload[..],
        )])?)
    }

    /// The last entry of the log that holds a membership configuration,
    /// read backwards from the end (one entry at a time, so reading stops
    /// at the first one found).
    pub(crate) fn last_membership(&self) -> io::Result<Option<Entry>> {
        let (Some(first), Some(last)) = (self.log.first_index(), self.log.last_index()) else {
            return Ok(None);
        };
        for index in (first..=last).rev() {
            let Some(record) = self.log.read(index..=index)?.pop() else {
                continue;
            };
            let entry: Entry = decode(&record.payload)?;
            if matches!(entry.payload, openraft::EntryPayload::Membership(_)) {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    fn meta<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        self.log.meta(key).map(decode).transpose()
    }
}

/// `u32 length, CRC-32, postcard bytes`, written in place without a sync.
fn write_committed(file: &File, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
    let mut record = Vec::with_capacity(8 + bytes.len());
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    record.extend_from_slice(bytes);
    file.write_all_at(&record, 0)
}

fn read_committed_record(file: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(file).ok()?;
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let (crc, rest) = rest.split_first_chunk::<4>()?;
    let body = rest.get(..u32::from_le_bytes(*len) as usize)?;
    (crc32fast::hash(body) == u32::from_le_bytes(*crc)).then(|| body.to_vec())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        let first = match range.0 {
            Bound::Included(i) => i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        {
            // The usual case: recent entries, from memory.
            let cache = self.shared.cache()?;
            if cache
                .entries
                .first_key_value()
                .is_some_and(|(&f, _)| f <= first)
            {
                return Ok(cache
                    .entries
                    .range(range)
                    .map(|(_, (e, _))| e.clone())
                    .collect());
            }
        }
        let shared = self.shared.clone();
        // Older records come from disk.
        tokio::task::spawn_blocking(move || {
            let log = shared.log()?;
            let cache = shared.cache()?;
            // From the file: the part of the range below the cache.
            let end = match cache.entries.first_key_value() {
                Some((&cached, _)) => match range.1 {
                    Bound::Included(e) if e < cached => range.1,
                    Bound::Excluded(e) if e <= cached => range.1,
                    _ => Bound::Excluded(cached),
                },
                None => range.1,
            };
            let mut entries = log
                .read((range.0, end))?
                .iter()
                .map(|r| decode(&r.payload))
                .collect::<io::Result<Vec<Entry>>>()?;
            entries.extend(cache.entries.range(range).map(|(_, (e, _))| e.clone()));
            Ok(entries)
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED)?;
        let last = {
            let log = self.shared.log()?;
            let cache = self.shared.cache()?;
            match cache.entries.values().next_back() {
                Some((entry, _)) => Some(entry.log_id),
                None => last_in_file(&log)?,
            }
        };
        Ok(log_state(last, last_purged_log_id))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.set_meta(VOTE, vote).await
    }

    /// The committed log id only spares re-election work after a restart
    /// (openraft re-applies up to it at once), so it is written without
    /// fsync (a page-cache write): after a crash it may be older or
    /// unreadable, and then it is just ignored.
    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        if let Err(e) = write_committed(&self.committed, &encode(&committed)?) {
            tracing::warn!(error = %e, "could not record the committed log id");
        }
        Ok(())
    }

    /// The hint can also be ahead of this log: an entry is committed once
    /// a quorum has it, which need not include this node, so a leader
    /// whose own write of it failed (a full disk) or was lost in a crash
    /// may have recorded it. openraft re-applies up to the hint from this
    /// log at startup and cannot start if the log ends before it, so the
    /// hint is used only if this log holds it; the leader tells the node
    /// the rest.
    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        let hint = read_committed_record(&self.committed_path)
            .and_then(|b| decode::<Option<LogId>>(&b).ok())
            .flatten();
        let Some(hint) = hint else {
            return Ok(None);
        };
        if self.holds(&hint)? {
            Ok(Some(hint))
        } else {
            tracing::warn!(committed = %hint, "the log ends before the committed log id it recorded; ignoring it");
            Ok(None)
        }
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        {
            let mut cache = self.shared.cache()?;
            for entry in &entries {
                cache.insert(entry.clone());
            }
        }
        self.writer.send(Op::Append { entries, callback })
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let index = last_log_id.map(|id| id.index);
        let shared = self.shared.clone();
        self.run(move |log| {
            log.truncate_after(index)?;
            if let Ok(mut cache) = shared.cache() {
                cache.remove(index.map_or(0, |i| i + 1)..);
            }
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let bytes = encode(&log_id)?;
        let index = log_id.index;
        let shared = self.shared.clone();
        self.run(move |log| {
            log.set_meta(PURGED, &bytes)?;
            log.purge_through(index)?;
            if let Ok(mut cache) = shared.cache() {
                cache.remove(..=index);
            }
            Ok(())
        })
        .await
    }
}
