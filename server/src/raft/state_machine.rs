//! openraft's state machine: the databases of the [`Vfs`].
//!
//! Applying a [`Command::Frames`] entry publishes the matching pending
//! transaction on the node that ran it, and appends the frames everywhere
//! else. The databases live in memory; durability comes from the Raft log
//! plus the last snapshot, which is kept in `DIR/snapshot` (replaced
//! atomically). On start the snapshot is restored and openraft re-applies
//! the committed log after it (the log store implements `save_committed`).

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

/// The snapshot file: metadata and content.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

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
    /// The latest snapshot, as kept on disk.
    snapshot: Option<Arc<StoredSnapshot>>,
}

/// The state machine; cheap to clone (clones share state).
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    gauge: Arc<SnapshotGauge>,
    /// Held while the databases change or are copied.
    sql: SqlLock,
    disk: SnapshotFile,
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
        let bytes = postcard::to_allocvec(stored).map_err(invalid)?;
        crate::fs_util::replace_atomically(&self.path, &bytes).map_err(|e| {
            // Name the file: a full disk is otherwise hard to place.
            io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
        })?;
        *written = stored.meta.last_log_id;
        Ok(())
    }

    async fn store_in_background(&self, stored: Arc<StoredSnapshot>) -> io::Result<()> {
        let file = self.clone();
        tokio::task::spawn_blocking(move || file.store(&stored))
            .await
            .map_err(io::Error::other)?
    }
}

/// File of the snapshot in the state machine's directory.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";

/// The metadata of the snapshot kept in `dir` (the state machine's
/// directory), if there is one, read without loading the databases: the
/// file starts with the metadata, so only as much of it is read as that
/// takes.
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
    let mut want = 4096u64;
    loop {
        let before = bytes.len();
        (&mut reader).take(want).read_to_end(&mut bytes)?;
        match postcard::take_from_bytes::<SnapshotMeta>(&bytes) {
            Ok((meta, _)) => return Ok(Some(meta)),
            Err(postcard::Error::DeserializeUnexpectedEnd) if bytes.len() > before => {
                want = want.saturating_mul(2);
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                ));
            }
        }
    }
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn vfs_error(e: VfsError) -> io::Error {
    io::Error::other(e)
}

impl StateMachine {
    /// What the snapshot policy weighs.
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
            snapshot: None,
        };
        let path = dir.join(SNAPSHOT_FILE);
        let mut written = None;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: StoredSnapshot = postcard::from_bytes(&bytes).map_err(invalid)?;
                let _sql = sql.hold();
                inner.restore(&stored)?;
                written = stored.meta.last_log_id;
                inner.snapshot = Some(Arc::new(stored));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            gauge: inner.gauge.clone(),
            inner: Arc::new(Mutex::new(inner)),
            sql,
            disk: SnapshotFile {
                path: path.into(),
                written: Arc::new(std::sync::Mutex::new(written)),
            },
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
                self.vfs
                    .checkpoint_if_over(db, CHECKPOINT_THRESHOLD)
                    .map_err(vfs_error)?;
                Ok(())
            }
        }
    }

    fn restore(&mut self, stored: &StoredSnapshot) -> io::Result<()> {
        let image: Image = postcard::from_bytes(&stored.data).map_err(invalid)?;
        if image.format != SNAPSHOT_FORMAT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown snapshot format {}", image.format),
            ));
        }
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

    /// Keeps `stored` as the current snapshot unless one as new is kept.
    fn keep(&mut self, stored: Arc<StoredSnapshot>) {
        let newer = match &self.snapshot {
            Some(current) => current.meta.last_log_id < stored.meta.last_log_id,
            None => true,
        };
        if newer {
            self.snapshot = Some(stored);
        }
    }

    fn current(&self) -> Option<Snapshot> {
        self.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Cursor::new(s.data.clone()),
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    /// Copies the databases on the node's thread (a memory copy, under
    /// the locks), then encodes and writes the snapshot on a blocking
    /// thread, while entries go on being applied.
    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
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
                data: postcard::to_allocvec(&image).map_err(invalid)?,
            });
            gauge.stored(stored.data.len());
            file.store(&stored)?;
            Ok::<_, io::Error>(stored)
        })
        .await
        .map_err(io::Error::other)??;
        let snapshot = Snapshot {
            meta: stored.meta.clone(),
            snapshot: Cursor::new(stored.data.clone()),
        };
        self.inner.lock().await.keep(stored);
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
        self.inner.lock().await.keep(stored);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        Ok(self.inner.lock().await.current())
    }
}
