//! openraft's state machine: the databases of the [`Vfs`].
//!
//! Applying a [`Command::Frames`] entry publishes the matching pending
//! transaction on the node that ran it, and appends the frames everywhere
//! else. The databases live in memory; durability comes from the Raft log
//! plus the last snapshot, which is kept in `DIR/state/snapshot` (replaced
//! atomically). On start the snapshot is restored and openraft re-applies
//! the committed log after it (the log store implements `save_committed`).
//!
//! # The snapshot file
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DQLSNAPF` |
//! | 4 | length of the metadata, u32 LE |
//! | 4 | CRC-32 of the metadata, u32 LE |
//! | n | metadata (postcard: last log id, membership) |
//! | rest | the snapshot data, [sealed](super::sealed) (checksummed in 64 KiB blocks) |
//!
//! The data is what travels to other nodes, seal included, so a snapshot
//! is checked both when a node loads it from its disk and when it arrives
//! from the leader. A damaged file is refused with its name and the byte
//! range that does not read back, and the node does not start.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::typ::{Applied, Command, LogId, SnapshotMeta, StoredMembership, TypeConfig};
use crate::data_dir::SNAPSHOT_FILE;
use crate::sql::SqlLock;
use crate::vfs::{DatabaseImage, Vfs, VfsError};

/// Snapshot data as openraft moves it around.
pub type SnapshotData = Cursor<Vec<u8>>;
/// A snapshot.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;

/// WAL frames after which a database is checkpointed (dqlite's default).
pub const CHECKPOINT_THRESHOLD: u32 = 1000;

/// Version of the snapshot content format.
const SNAPSHOT_FORMAT: u32 = 1;

/// The content of a snapshot: every database's committed files.
#[derive(Debug, Serialize, Deserialize)]
struct Image {
    format: u32,
    databases: Vec<DatabaseImage>,
}

/// A snapshot as kept: metadata, and the data (a sealed [`Image`]).
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
/// databases changed since the last snapshot, and how big it was.
#[derive(Debug, Default)]
pub(crate) struct SnapshotGauge {
    /// Bytes of frames (as logged) applied since the last snapshot was
    /// captured.
    changed: AtomicU64,
    /// Size of the last snapshot's content.
    size: AtomicU64,
}

impl SnapshotGauge {
    /// Bytes of pages applied since the last snapshot.
    pub(crate) fn changed(&self) -> u64 {
        self.changed.load(Ordering::Relaxed)
    }

    /// Size of the last snapshot (0 before the first).
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    fn applied(&self, bytes: u64) {
        self.changed.fetch_add(bytes, Ordering::Relaxed);
    }

    fn captured(&self) {
        self.changed.store(0, Ordering::Relaxed);
    }

    fn stored(&self, size: usize) {
        self.size
            .store(u64::try_from(size).unwrap_or(u64::MAX), Ordering::Relaxed);
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
    disk: SnapshotFile,
    /// Where snapshots taken are counted, once set.
    metrics: Arc<std::sync::OnceLock<Arc<crate::metrics::Metrics>>>,
}

/// The snapshot file. Written on a blocking thread, never on the node's:
/// a snapshot holds every database, and writing it takes a while.
#[derive(Debug, Clone)]
struct SnapshotFile {
    path: Arc<Path>,
    /// The last log id of the snapshot on disk; held while writing, so
    /// writers never interleave and an older snapshot never replaces a
    /// newer one.
    written: Arc<std::sync::Mutex<Option<LogId>>>,
}

impl SnapshotFile {
    /// Writes `stored` unless the file already holds a snapshot as new.
    fn store(&self, stored: &StoredSnapshot) -> io::Result<()> {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *written >= stored.meta.last_log_id && written.is_some() {
            return Ok(());
        }
        let meta = postcard::to_allocvec(&stored.meta).map_err(invalid)?;
        let mut header = Vec::with_capacity(FILE_HEADER + meta.len());
        header.extend_from_slice(FILE_MAGIC);
        let len = u32::try_from(meta.len()).map_err(invalid)?;
        header.extend_from_slice(&len.to_le_bytes());
        header.extend_from_slice(&crc32fast::hash(&meta).to_le_bytes());
        header.extend_from_slice(&meta);
        crate::fs_util::replace_atomically_parts(&self.path, &[&header, &stored.data]).map_err(
            |e| {
                // Name the file: a full disk is otherwise hard to place.
                io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
            },
        )?;
        *written = stored.meta.last_log_id;
        Ok(())
    }

    /// Reads the snapshot on disk (checking it), if there is one. Only the
    /// file holds a snapshot: keeping one in memory would double the
    /// memory the databases take.
    fn load(&self) -> io::Result<Option<StoredSnapshot>> {
        let _written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read_snapshot(&self.path)
    }

    async fn store_in_background(&self, stored: Arc<StoredSnapshot>) -> io::Result<()> {
        let file = self.clone();
        tokio::task::spawn_blocking(move || file.store(&stored))
            .await
            .map_err(io::Error::other)?
    }
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

/// The metadata of the snapshot kept in `dir` (the state machine's
/// directory), if there is one, read without loading the databases: the
/// file starts with the metadata, so only as much of it is read as that
/// takes. The metadata's checksum is verified.
pub(crate) fn read_snapshot_meta(dir: &Path) -> io::Result<Option<SnapshotMeta>> {
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

/// Whether `data` (a snapshot as it travels and is stored) is intact and
/// can be installed: every checksum matches and every database image is
/// well formed. Installing a snapshot that fails in the state machine
/// would stop the node (openraft makes storage errors fatal), so a
/// snapshot from the leader is checked with this first.
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
    /// (touched only with `sql` held) and its snapshot in `dir`; restores
    /// the snapshot found there.
    pub(crate) fn open(
        node_id: u64,
        vfs: Vfs,
        sql: SqlLock,
        dir: impl Into<PathBuf>,
    ) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let mut inner = Inner {
            node_id,
            vfs,
            gauge: Arc::default(),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        let path = dir.join(SNAPSHOT_FILE);
        let mut written = None;
        if let Some(stored) = read_snapshot(&path)? {
            let _sql = sql.hold();
            inner.restore(&stored)?;
            written = stored.meta.last_log_id;
        }
        Ok(Self {
            gauge: inner.gauge.clone(),
            inner: Arc::new(Mutex::new(inner)),
            sql,
            disk: SnapshotFile {
                path: path.into(),
                written: Arc::new(std::sync::Mutex::new(written)),
            },
            metrics: Arc::default(),
        })
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

    fn restore(&mut self, stored: &StoredSnapshot) -> io::Result<()> {
        let image = open_image(&stored.data).map_err(invalid)?;
        for db in &image.databases {
            if self.vfs.database_exists(&db.name) {
                self.vfs.abort(&db.name).map_err(vfs_error)?;
            }
            self.vfs.restore(db).map_err(vfs_error)?;
        }
        self.last_applied = stored.meta.last_log_id;
        self.membership = stored.meta.last_membership.clone();
        self.gauge.captured();
        self.gauge.stored(stored.data.len());
        Ok(())
    }

    /// Copies every database (with the SQL lock held): the content of a
    /// snapshot of the current state, still to be encoded.
    fn capture(&self) -> io::Result<(SnapshotMeta, Image)> {
        let mut names = self.vfs.databases();
        names.sort();
        // Fold the applied WAL into the main images first (when no
        // connection is in a transaction): a snapshot then holds each
        // page once, not its main-file version and every WAL version
        // after it. The snapshot policy weighs snapshots by size, so
        // smaller ones also come as often as the data changes, not as
        // the WAL grows.
        // Once per snapshot, so at DEBUG: the snapshot has its own line.
        for name in &names {
            let started = std::time::Instant::now();
            if let Some(done) = self.vfs.checkpoint_if_over(name, 1).map_err(vfs_error)? {
                tracing::debug!(
                    db = %name,
                    frames = done.frames,
                    db_bytes = done.db_bytes,
                    duration_ms = millis(started.elapsed()),
                    "checkpointed a database for a snapshot"
                );
            }
        }
        let databases = names
            .iter()
            .map(|name| self.vfs.image(name).map_err(vfs_error))
            .collect::<io::Result<Vec<_>>>()?;
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
        };
        self.gauge.captured();
        Ok((
            meta,
            Image {
                format: SNAPSHOT_FORMAT,
                databases,
            },
        ))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    /// Copies the databases on the node's thread (a memory copy, under
    /// the locks), then encodes and writes the snapshot on a blocking
    /// thread, while entries go on being applied.
    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let started = std::time::Instant::now();
        let (meta, image) = {
            let inner = self.inner.lock().await;
            let _sql = self.sql.hold();
            inner.capture()?
        };
        let file = self.disk.clone();
        let gauge = self.gauge.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let stored = Arc::new(StoredSnapshot {
                meta,
                data: super::sealed::seal(postcard::to_allocvec(&image).map_err(invalid)?),
            });
            gauge.stored(stored.data.len());
            file.store(&stored)?;
            Ok::<_, io::Error>(stored)
        })
        .await
        .map_err(io::Error::other)??;
        tracing::info!(
            last_log_index = stored.meta.last_log_id.as_ref().map_or(0, |l| l.index),
            bytes = stored.data.len(),
            duration_ms = millis(started.elapsed()),
            "took a snapshot"
        );
        let stored = Arc::try_unwrap(stored).unwrap_or_else(|shared| StoredSnapshot {
            meta: shared.meta.clone(),
            data: shared.data.clone(),
        });
        let snapshot = Snapshot {
            meta: stored.meta,
            snapshot: Cursor::new(stored.data),
        };
        if let Some(metrics) = self.metrics.get() {
            metrics.snapshot(crate::metrics::SnapshotKind::Taken, started.elapsed());
        }
        Ok(snapshot)
    }
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
            if let Some(responder) = responder {
                responder.send(Applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let started = std::time::Instant::now();
        let stored = Arc::new(StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        });
        {
            let mut inner = self.inner.lock().await;
            let _sql = self.sql.hold();
            inner.restore(&stored)?;
        }
        self.disk.store_in_background(stored.clone()).await?;
        tracing::info!(
            last_log_index = stored.meta.last_log_id.as_ref().map_or(0, |l| l.index),
            bytes = stored.data.len(),
            duration_ms = millis(started.elapsed()),
            "installed a snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        let file = self.disk.clone();
        let stored = tokio::task::spawn_blocking(move || file.load())
            .await
            .map_err(io::Error::other)??;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Cursor::new(s.data),
        }))
    }
}

/// Whole milliseconds of `d`, for log fields.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
