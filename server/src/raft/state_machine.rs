//! openraft's state machine: the databases of the [`Vfs`].
//!
//! Applying a [`Command::Frames`] entry publishes the matching pending
//! transaction on the node that ran it, and appends the frames everywhere
//! else. The databases' main files are on disk (`DIR/db`, see
//! `vfs::durable`); durability comes from the Raft log plus the last
//! *durable point*: the files as of an applied log id, recorded in
//! `DIR/state/applied` ([`super::state_file`]).
//!
//! - A snapshot ([`RaftSnapshotBuilder::build_snapshot`]) makes a durable
//!   point: the databases' WAL is folded into their files (a memory move
//!   under the SQL lock), the disk thread writes and syncs them and the
//!   state file; writes go on meanwhile. openraft then purges the log up
//!   to it, but for the entries kept behind it (`node::snapshots`). No
//!   point is made while a snapshot send holds the last one
//!   ([`RaftStateMachine::try_create_snapshot_builder`] declines).
//! - On start the durable point's files are opened (restored to the point
//!   from their undo files; nothing is read into memory) and openraft
//!   re-applies the committed log after it (the log store implements
//!   `save_committed`).
//! - A snapshot sent to a follower is the durable point's files
//!   ([`SnapshotData::Durable`]), pinned and streamed a chunk at a time
//!   (`raft::snapshot_stream`); one received arrives in new files
//!   ([`SnapshotData::Received`]), which the install switches to.
//!
//! # Format 1 directories
//!
//! A directory written before databases were on disk holds the whole
//! snapshot in `DIR/state/snapshot`:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DQLSNAPF` |
//! | 4 | length of the metadata, u32 LE |
//! | 4 | CRC-32 of the metadata, u32 LE |
//! | n | metadata (postcard: last log id, membership) |
//! | rest | the snapshot data, sealed |
//!
//! On first start it is installed into `DIR/db` as a durable point, then
//! removed. A damaged file is refused with its name and the byte range
//! that does not read back, and the node does not start.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::snapshot_stream::Outgoing;
use super::state_file::{self, Durable, epoch_of};
use super::typ::{Applied, Command, LogId, SnapshotMeta, StoredMembership, TypeConfig};
use crate::data_dir::SNAPSHOT_FILE;
use crate::sql::SqlLock;
use crate::vfs::{Commit, DatabaseImage, Incoming, Manifest, Vfs, VfsError};

/// Snapshot data as openraft moves it around.
pub enum SnapshotData {
    /// A snapshot received from the leader, in new files.
    Received(Box<Incoming>),
    /// This node's durable point `epoch`, read from its files when sent.
    Durable {
        /// The node's databases.
        vfs: Vfs,
        /// The durable point.
        epoch: u64,
    },
}

impl std::fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Received(_) => write!(f, "Received"),
            Self::Durable { epoch, .. } => write!(f, "Durable({epoch})"),
        }
    }
}

impl SnapshotData {
    /// The durable point to stream to a follower, pinned (see
    /// [`super::snapshot_stream`]). One that a newer point replaced
    /// meanwhile is an error (openraft asks for the current snapshot
    /// again).
    pub(crate) async fn outgoing(self) -> io::Result<Outgoing> {
        match self {
            Self::Received(_) => Err(io::Error::other(
                "a snapshot received is installed, not sent on",
            )),
            Self::Durable { vfs, epoch } => Outgoing::open(vfs, epoch).await,
        }
    }
}

/// A snapshot.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;

/// WAL frames after which a database is checkpointed (dqlite's default).
pub const CHECKPOINT_THRESHOLD: u32 = 1000;

/// Version of a format-1 snapshot file's content.
const SNAPSHOT_FORMAT: u32 = 1;

/// The content of a format-1 snapshot file (read once, to upgrade):
/// every database's committed files.
#[derive(Debug, Serialize, Deserialize)]
struct Image {
    format: u32,
    databases: Vec<DatabaseImage>,
}

/// A format-1 snapshot file's content: metadata, and the data (a sealed
/// [`Image`]).
#[derive(Debug)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// First bytes of a snapshot file.
const FILE_MAGIC: &[u8; 8] = b"DQLSNAPF";
/// Magic, metadata length and metadata CRC.
const FILE_HEADER: usize = 16;

/// What the snapshot policy (`node::snapshots`) weighs: how much the
/// databases changed since the last snapshot.
#[derive(Debug, Default)]
pub(crate) struct SnapshotGauge {
    /// Bytes of frames (as logged) applied since the last snapshot was
    /// captured.
    changed: AtomicU64,
    /// Frame bytes applied since start, after each of the latest entries
    /// (index, bytes): how large the log kept behind a snapshot is.
    trail: std::sync::Mutex<std::collections::VecDeque<(u64, u64)>>,
    total: AtomicU64,
}

/// Latest entries whose sizes [`SnapshotGauge`] remembers.
const TRAIL_ENTRIES: usize = 1 << 16;

impl SnapshotGauge {
    /// Bytes of pages applied since the last snapshot.
    pub(crate) fn changed(&self) -> u64 {
        self.changed.load(Ordering::Relaxed)
    }

    fn applied(&self, bytes: u64) {
        self.changed.fetch_add(bytes, Ordering::Relaxed);
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Notes that entry `index` was applied (after its frames, if any).
    fn entry(&self, index: u64) {
        let total = self.total.load(Ordering::Relaxed);
        let mut trail = lock(&self.trail);
        // Indexes only grow while a node runs; were it otherwise, what
        // came before would not describe the log.
        if trail.back().is_some_and(|&(last, _)| last >= index) {
            trail.clear();
        }
        if trail.len() == TRAIL_ENTRIES {
            trail.pop_front();
        }
        trail.push_back((index, total));
    }

    /// The index to purge the log up to (inclusive) so that the entries
    /// after it up to `snapshot` hold at most `bytes` of frames; `None` if
    /// the entries after `purged` fit already (as far as it remembers).
    pub(crate) fn purge_upto(&self, purged: u64, snapshot: u64, bytes: u64) -> Option<u64> {
        let trail = lock(&self.trail);
        let at = |index: u64| {
            trail
                .binary_search_by_key(&index, |&(i, _)| i)
                .ok()
                .map(|k| trail[k].1)
        };
        let end = at(snapshot)?;
        let oldest = trail.iter().find(|&&(i, _)| i > purged && i <= snapshot)?;
        if end.saturating_sub(oldest.1) <= bytes {
            return None;
        }
        trail
            .iter()
            .find(|&&(i, total)| i > purged && i <= snapshot && end.saturating_sub(total) <= bytes)
            .map(|&(i, _)| i)
    }

    fn captured(&self) {
        self.changed.store(0, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Inner {
    node_id: u64,
    vfs: Vfs,
    gauge: Arc<SnapshotGauge>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// The state machine; cheap to clone (clones share state).
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    gauge: Arc<SnapshotGauge>,
    /// Held while the databases change or are copied.
    sql: SqlLock,
    /// The state directory (state file, format-1 snapshot).
    dir: Arc<Path>,
    /// The metadata of the last durable point, set when its state file is
    /// written.
    durable: Arc<std::sync::Mutex<Option<SnapshotMeta>>>,
    /// Held while a durable point is made or a snapshot installed: openraft
    /// builds snapshots in a task of their own, next to installs, and the
    /// two replace each other's files.
    points: Arc<Mutex<()>>,
    /// Where snapshots taken are counted, once set.
    metrics: Arc<std::sync::OnceLock<Arc<crate::metrics::Metrics>>>,
}

/// A snapshot file that does not read back as written.
fn damaged(path: &Path, offset: u64, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "snapshot file {} is damaged at byte {offset}: {what}",
            path.display()
        ),
    )
}

/// Checks the header of a snapshot file and returns its metadata and the
/// length of everything before the data. `header` holds at least the
/// file's first [`FILE_HEADER`] bytes, and all of the metadata if
/// `Ok(Err(needed))` did not ask for more (`needed` bytes in all).
fn parse_header(path: &Path, header: &[u8]) -> io::Result<Result<(SnapshotMeta, usize), usize>> {
    if header.len() < FILE_HEADER || &header[..8] != FILE_MAGIC {
        return Err(damaged(path, 0, "not a snapshot file (bad magic)"));
    }
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or([0; 4]));
    let len = usize::try_from(word(8)).map_err(invalid)?;
    let end = FILE_HEADER + len;
    if header.len() < end {
        return Ok(Err(end));
    }
    let meta = &header[FILE_HEADER..end];
    if crc32fast::hash(meta) != word(12) {
        return Err(damaged(
            path,
            FILE_HEADER as u64,
            "metadata checksum mismatch",
        ));
    }
    let meta = postcard::from_bytes(meta).map_err(|e| {
        damaged(
            path,
            FILE_HEADER as u64,
            format!("unreadable metadata: {e}"),
        )
    })?;
    Ok(Ok((meta, end)))
}

/// The metadata of the durable point recorded in `dir` (the state
/// machine's directory), or of its format-1 snapshot, if there is one,
/// read without loading the databases (a format-1 file starts with the
/// metadata, so only as much of it is read as that takes). Checksums are
/// verified.
pub(crate) fn read_snapshot_meta(dir: &Path) -> io::Result<Option<SnapshotMeta>> {
    if let Some(durable) = state_file::read(dir)? {
        return Ok(Some(durable.meta));
    }
    read_format1_meta(dir)
}

/// The metadata of a format-1 snapshot file in `dir`.
fn read_format1_meta(dir: &Path) -> io::Result<Option<SnapshotMeta>> {
    use std::io::Read;
    let path = dir.join(SNAPSHOT_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut reader = io::BufReader::new(file);
    let mut bytes = Vec::new();
    (&mut reader)
        .take(FILE_HEADER as u64)
        .read_to_end(&mut bytes)?;
    if !bytes.starts_with(FILE_MAGIC) {
        return legacy_meta(&path, reader, bytes).map(Some);
    }
    loop {
        match parse_header(&path, &bytes)? {
            Ok((meta, _)) => return Ok(Some(meta)),
            Err(needed) => {
                let before = bytes.len();
                (&mut reader)
                    .take((needed - before) as u64)
                    .read_to_end(&mut bytes)?;
                if bytes.len() < needed {
                    return Err(damaged(
                        &path,
                        before as u64,
                        "the file ends in its metadata",
                    ));
                }
            }
        }
    }
}

/// A snapshot file of the format before checksums: postcard of the
/// metadata and the (unsealed) data.
#[derive(Deserialize)]
struct LegacySnapshot {
    meta: SnapshotMeta,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// The metadata at the start of a legacy snapshot file, read as far as it
/// takes (`bytes` holds what was read of it so far).
fn legacy_meta(
    path: &Path,
    mut reader: impl io::Read,
    mut bytes: Vec<u8>,
) -> io::Result<SnapshotMeta> {
    use std::io::Read;
    let mut want = 4096u64;
    loop {
        match postcard::take_from_bytes::<SnapshotMeta>(&bytes) {
            Ok((meta, _)) => return Ok(meta),
            Err(postcard::Error::DeserializeUnexpectedEnd) => {
                let before = bytes.len();
                (&mut reader).take(want).read_to_end(&mut bytes)?;
                if bytes.len() == before {
                    return Err(damaged(path, 0, "not a snapshot file"));
                }
                want = want.saturating_mul(2);
            }
            Err(e) => return Err(damaged(path, 0, format!("not a snapshot file: {e}"))),
        }
    }
}

/// Reads and checks the snapshot file at `path`: its metadata and its
/// (still sealed) data. A file of the format before checksums is read
/// unchecked (nothing can check it) and sealed; the next snapshot
/// replaces it with one in the current format.
fn read_snapshot(path: &Path) -> io::Result<Option<StoredSnapshot>> {
    let mut bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !bytes.starts_with(FILE_MAGIC) {
        let legacy: LegacySnapshot = postcard::from_bytes(&bytes)
            .map_err(|e| damaged(path, 0, format!("not a snapshot file: {e}")))?;
        tracing::warn!(
            path = %path.display(),
            "snapshot file of the format without checksums: read unchecked, rewritten at the next snapshot"
        );
        let data = super::sealed::seal(legacy.data);
        check_snapshot_data(&data).map_err(|e| damaged(path, 0, e))?;
        return Ok(Some(StoredSnapshot {
            meta: legacy.meta,
            data,
        }));
    }
    let (meta, start) = match parse_header(path, &bytes)? {
        Ok(parsed) => parsed,
        Err(_) => {
            return Err(damaged(
                path,
                FILE_HEADER as u64,
                "the file ends in its metadata",
            ));
        }
    };
    if let Err(damage) = check_snapshot_data(&bytes[start..]) {
        let at = damage.offset.saturating_add(start as u64);
        return Err(damaged(path, at, damage));
    }
    let data = bytes.split_off(start);
    Ok(Some(StoredSnapshot { meta, data }))
}

/// Why snapshot data cannot be used.
#[derive(Debug)]
pub(crate) struct BadSnapshot {
    /// First byte concerned, from the start of the data.
    offset: u64,
    what: String,
}

impl std::fmt::Display for BadSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {} of the data)", self.what, self.offset)
    }
}

impl std::error::Error for BadSnapshot {}

/// Decodes snapshot data (sealed content) into its image, checking every
/// checksum and every database in it.
fn open_image(data: &[u8]) -> Result<Image, BadSnapshot> {
    let content = super::sealed::unseal(data).map_err(|d| BadSnapshot {
        offset: d.offset,
        what: d.to_string(),
    })?;
    let unreadable = |what: String| BadSnapshot { offset: 0, what };
    let image: Image = postcard::from_bytes(content)
        .map_err(|e| unreadable(format!("unreadable content: {e}")))?;
    if image.format != SNAPSHOT_FORMAT {
        return Err(unreadable(format!(
            "unknown snapshot format {}",
            image.format
        )));
    }
    for db in &image.databases {
        db.check()
            .map_err(|e| unreadable(format!("database {:?}: {e}", db.name)))?;
    }
    Ok(image)
}

/// Whether `data` (a format-1 snapshot file's data) is intact and can be
/// installed: every checksum matches and every database image is well
/// formed.
pub(crate) fn check_snapshot_data(data: &[u8]) -> Result<(), BadSnapshot> {
    open_image(data).map(drop)
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn vfs_error(e: VfsError) -> io::Error {
    io::Error::other(e)
}

impl StateMachine {
    /// What the snapshot policy weighs.
    /// Counts every snapshot taken from now on in `metrics`.
    pub(crate) fn observe(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    pub(crate) fn gauge(&self) -> Arc<SnapshotGauge> {
        self.gauge.clone()
    }

    /// The state machine of node `node_id`, holding its databases in `vfs`
    /// (touched only with `sql` held) and its state in `dir`: opens the
    /// last durable point's files, upgrading a format-1 directory first.
    pub(crate) async fn open(
        node_id: u64,
        vfs: Vfs,
        sql: SqlLock,
        dir: impl Into<PathBuf>,
    ) -> io::Result<Self> {
        let dir: Arc<Path> = dir.into().into();
        std::fs::create_dir_all(&dir)?;
        let mut inner = Inner {
            node_id,
            vfs,
            gauge: Arc::default(),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        let durable = Arc::new(std::sync::Mutex::new(None));
        let format1 = dir.join(SNAPSHOT_FILE);
        if let Some(point) = state_file::read(&dir)? {
            let _sql = sql.hold();
            inner
                .vfs
                .open_durable(&point.manifest, point.epoch())
                .map_err(vfs_error)?;
            inner.last_applied = point.meta.last_log_id;
            inner.membership = point.meta.last_membership.clone();
            *lock(&durable) = Some(point.meta);
            // An upgrade that stopped after its state file was written.
            remove_if_exists(&format1)?;
        } else {
            inner
                .vfs
                .open_durable(&Manifest::default(), 0)
                .map_err(vfs_error)?;
            if let Some(stored) = read_snapshot(&format1)? {
                let image = open_image(&stored.data).map_err(invalid)?;
                let bytes = stored.data.len();
                drop(stored.data);
                let epoch = epoch_of(&stored.meta);
                let commit = committer(dir.clone(), stored.meta.clone(), durable.clone());
                let incoming = incoming_of(&inner.vfs, image.databases)?;
                let prepared = inner.vfs.prepare_install(incoming, epoch);
                let prepared = prepared
                    .await
                    .map_err(|_| io::Error::other("the disk thread is gone"))??;
                {
                    let _sql = sql.hold();
                    inner
                        .vfs
                        .finish_install(prepared, epoch, commit)
                        .map_err(vfs_error)?;
                }
                remove_if_exists(&format1)?;
                crate::fs_util::sync_dir(&dir)?;
                tracing::info!(
                    last_log_index = epoch,
                    bytes,
                    "upgraded the data directory to format 2: databases are now files in db/"
                );
                inner.last_applied = stored.meta.last_log_id;
                inner.membership = stored.meta.last_membership;
            }
        }
        Ok(Self {
            gauge: inner.gauge.clone(),
            inner: Arc::new(Mutex::new(inner)),
            sql,
            dir,
            durable,
            points: Arc::default(),
            metrics: Arc::default(),
        })
    }
}

/// What makes a durable point exist: its state file, written on the disk
/// thread once the files hold it; then `current` names it.
fn committer(
    dir: Arc<Path>,
    meta: SnapshotMeta,
    current: Arc<std::sync::Mutex<Option<SnapshotMeta>>>,
) -> Commit {
    Box::new(move |manifest: &Manifest| {
        if lock(&current)
            .as_ref()
            .is_some_and(|now| now.last_log_id > meta.last_log_id)
        {
            return Err(io::Error::other(format!(
                "a durable point newer than index {} exists",
                epoch_of(&meta)
            )));
        }
        state_file::write(
            &dir,
            &Durable {
                format: state_file::FORMAT,
                meta: meta.clone(),
                manifest: manifest.clone(),
            },
        )?;
        *lock(&current) = Some(meta);
        Ok(())
    })
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Inner {
    fn apply(&mut self, command: &Command) -> io::Result<()> {
        match command {
            Command::Frames { db, origin, frames } => {
                self.gauge
                    .applied(u64::try_from(frames.size()).unwrap_or(u64::MAX));
                // Entries commit in the order their transactions were
                // written, so a local one is the oldest pending.
                let local = *origin == self.node_id
                    && self.vfs.is_next_pending(db, frames.tx_id).unwrap_or(false);
                if local {
                    self.vfs.publish(db, frames.tx_id).map_err(vfs_error)?;
                } else {
                    // Pending local transactions cannot survive an entry
                    // from elsewhere: their leader term is over.
                    if self.vfs.database_exists(db) {
                        self.vfs.abort(db).map_err(vfs_error)?;
                    }
                    self.vfs.apply(db, frames).map_err(vfs_error)?;
                }
                // Keep memory bounded; retried after later entries if a
                // connection is mid-transaction now.
                let started = std::time::Instant::now();
                if let Some(done) = self
                    .vfs
                    .checkpoint_if_over(db, CHECKPOINT_THRESHOLD)
                    .map_err(vfs_error)?
                {
                    tracing::info!(
                        db = %db,
                        frames = done.frames,
                        db_bytes = done.db_bytes,
                        duration_ms = millis(started.elapsed()),
                        "checkpointed a database"
                    );
                }
                Ok(())
            }
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    /// Makes a durable point of the current state: the databases' WAL is
    /// folded into their files under the locks (a memory move), then the
    /// disk thread writes and syncs them and the state file, while entries
    /// go on being applied.
    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let started = std::time::Instant::now();
        let _points = self.points.lock().await;
        let (meta, made, vfs) = {
            let inner = self.inner.lock().await;
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
            };
            // Nothing applied since the last point (an install, say): it
            // is the snapshot.
            if let Some(current) = lock(&self.durable).clone()
                && current.last_log_id == meta.last_log_id
            {
                let epoch = epoch_of(&current);
                return Ok(Snapshot {
                    meta: current,
                    snapshot: SnapshotData::Durable {
                        vfs: inner.vfs,
                        epoch,
                    },
                });
            }
            let _sql = self.sql.hold();
            let commit = committer(self.dir.clone(), meta.clone(), self.durable.clone());
            let made = inner
                .vfs
                .durable_point(epoch_of(&meta), commit)
                .map_err(vfs_error)?;
            let Some(made) = made else {
                // A snapshot send holds the last point (a send began
                // after openraft asked): it stays the snapshot.
                return self.current(inner.vfs).ok_or_else(|| {
                    io::Error::other("a snapshot send holds a point that is not recorded")
                });
            };
            self.gauge.captured();
            (meta, made, inner.vfs)
        };
        made.await
            .map_err(|_| io::Error::other("the disk thread is gone"))??;
        let bytes = database_bytes(&vfs);
        tracing::info!(
            last_log_index = epoch_of(&meta),
            bytes,
            duration_ms = millis(started.elapsed()),
            "took a snapshot"
        );
        if let Some(metrics) = self.metrics.get() {
            metrics.snapshot(crate::metrics::SnapshotKind::Taken, started.elapsed());
        }
        let epoch = epoch_of(&meta);
        Ok(Snapshot {
            meta,
            snapshot: SnapshotData::Durable { vfs, epoch },
        })
    }
}

impl StateMachine {
    /// The last durable point as a snapshot, if there is one.
    fn current(&self, vfs: Vfs) -> Option<Snapshot> {
        lock(&self.durable).clone().map(|meta| {
            let epoch = epoch_of(&meta);
            Snapshot {
                meta,
                snapshot: SnapshotData::Durable { vfs, epoch },
            }
        })
    }
}

/// `images` (a format-1 snapshot's databases) in new files.
fn incoming_of(vfs: &Vfs, images: Vec<DatabaseImage>) -> io::Result<Incoming> {
    let databases: Vec<(String, u64, u64)> = images
        .iter()
        .map(|i| (i.name.clone(), i.main.len() as u64, i.wal.len() as u64))
        .collect();
    let mut incoming = vfs.incoming(&databases).map_err(vfs_error)?;
    for (db, image) in images.iter().enumerate() {
        incoming.write_main(db, 0, &image.main)?;
        incoming.push_wal(db, &image.wal)?;
    }
    Ok(incoming)
}

/// Bytes the databases' committed state takes (main files and WAL).
fn database_bytes(vfs: &Vfs) -> u64 {
    vfs.databases()
        .iter()
        .filter_map(|name| vfs.sizes(name).ok())
        .map(|(bytes, _)| bytes as u64)
        .sum()
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        let inner = self.inner.lock().await;
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut inner = self.inner.lock().await;
        while let Some((entry, responder)) = entries.try_next().await? {
            match &entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(command) => {
                    let _sql = self.sql.hold();
                    inner.apply(command)?;
                }
                EntryPayload::Membership(membership) => {
                    inner.membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                }
            }
            inner.last_applied = Some(entry.log_id);
            self.gauge.entry(entry.log_id.index);
            if let Some(responder) = responder {
                responder.send(Applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    /// Writes the snapshot's databases to new files (on the disk thread,
    /// while the node goes on), then switches to them under the locks and
    /// records them as the durable point.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let started = std::time::Instant::now();
        let _points = self.points.lock().await;
        let vfs = self.inner.lock().await.vfs;
        let incoming = match snapshot {
            SnapshotData::Received(incoming) => *incoming,
            // Another state machine's point, handed over in this process.
            durable @ SnapshotData::Durable { .. } => {
                let outgoing = durable.outgoing().await?;
                super::snapshot_stream::copy(&outgoing, vfs, meta).await?
            }
        };
        let bytes = incoming.bytes();
        let prepared = vfs
            .prepare_install(incoming, epoch_of(meta))
            .await
            .map_err(|_| io::Error::other("the disk thread is gone"))??;
        {
            let mut inner = self.inner.lock().await;
            let _sql = self.sql.hold();
            for name in inner.vfs.databases() {
                inner.vfs.abort(&name).map_err(vfs_error)?;
            }
            let commit = committer(self.dir.clone(), meta.clone(), self.durable.clone());
            inner
                .vfs
                .finish_install(prepared, epoch_of(meta), commit)
                .map_err(vfs_error)?;
            inner.last_applied = meta.last_log_id;
            inner.membership = meta.last_membership.clone();
            self.gauge.captured();
        }
        tracing::info!(
            last_log_index = epoch_of(meta),
            bytes,
            duration_ms = millis(started.elapsed()),
            "installed a snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        let vfs = self.inner.lock().await.vfs;
        Ok(self.current(vfs))
    }

    /// No new durable point while a snapshot send reads the last one (see
    /// `vfs::pin`): openraft asks again later.
    async fn try_create_snapshot_builder(&mut self, force: bool) -> Option<Self::SnapshotBuilder> {
        let vfs = self.inner.lock().await.vfs;
        if !force && vfs.pinned() {
            tracing::debug!("snapshot deferred: a snapshot send holds the last durable point");
            return None;
        }
        Some(self.clone())
    }
}

/// Whole milliseconds of `d`, for log fields.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod gauge_tests {
    use super::SnapshotGauge;

    #[test]
    fn the_log_behind_a_snapshot_is_purged_down_to_its_bytes() {
        let gauge = SnapshotGauge::default();
        // Entries 1..=10 of 100 bytes each, entry 5 without frames.
        for index in 1..=10 {
            if index != 5 {
                gauge.applied(100);
            }
            gauge.entry(index);
        }
        // Snapshot at 8, nothing purged: entries 1..=8 hold 700 bytes.
        assert_eq!(gauge.purge_upto(0, 8, 1000), None);
        // At most 250 bytes behind it: keep 7 and 8 (entry 6's 100 bytes
        // would pass it), purge up to 6.
        assert_eq!(gauge.purge_upto(0, 8, 250), Some(6));
        assert_eq!(gauge.purge_upto(6, 8, 250), None);
        // Nothing at all behind it.
        assert_eq!(gauge.purge_upto(0, 8, 0), Some(8));
        // A snapshot it does not remember: no purge.
        assert_eq!(gauge.purge_upto(0, 11, 0), None);
        // Purged past the snapshot (a follower that installed a newer one).
        assert_eq!(gauge.purge_upto(9, 8, 0), None);
    }
}
