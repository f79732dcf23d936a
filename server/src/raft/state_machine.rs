//! openraft's state machine: the databases of the [`Vfs`].
//!
//! Applying a [`Command::Frames`] entry publishes the matching pending
//! transaction on the node that ran it, and appends the frames everywhere
//! else. The databases live in memory; durability comes from the Raft log
//! plus the last snapshot, which is kept in `DIR/snapshot` (replaced
//! atomically). On start the snapshot is restored and openraft re-applies
//! the committed log after it (the log store implements `save_committed`).

use std::io::{self, Cursor};
use std::path::PathBuf;
use std::sync::Arc;

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

#[derive(Debug)]
struct Inner {
    node_id: u64,
    vfs: Vfs,
    dir: PathBuf,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshot: Option<StoredSnapshot>,
}

/// The state machine; cheap to clone (clones share state).
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    /// Held while the databases change or are copied.
    sql: SqlLock,
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn vfs_error(e: VfsError) -> io::Error {
    io::Error::other(e)
}

impl StateMachine {
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
            dir,
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
        };
        match std::fs::read(inner.snapshot_path()) {
            Ok(bytes) => {
                let stored: StoredSnapshot = postcard::from_bytes(&bytes).map_err(invalid)?;
                let _sql = sql.hold();
                inner.restore(&stored)?;
                inner.snapshot = Some(stored);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(inner)),
            sql,
        })
    }
}

impl Inner {
    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot")
    }

    fn apply(&mut self, command: &Command) -> io::Result<()> {
        match command {
            Command::Frames { db, origin, frames } => {
                // Compare ids only: polling would copy the pending pages.
                let local = *origin == self.node_id
                    && self.vfs.pending_tx(db).ok().flatten() == Some(frames.tx_id);
                if local {
                    self.vfs.publish(db, frames.tx_id).map_err(vfs_error)?;
                } else {
                    // A pending local transaction cannot survive an entry
                    // from elsewhere: its leader term is over.
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
        Ok(())
    }

    fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let mut names = self.vfs.databases();
        names.sort();
        let databases = names
            .iter()
            .map(|name| self.vfs.image(name).map_err(vfs_error))
            .collect::<io::Result<Vec<_>>>()?;
        let image = Image {
            format: SNAPSHOT_FORMAT,
            databases,
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: postcard::to_allocvec(&image).map_err(invalid)?,
        };
        self.save(stored)?;
        self.current()
            .ok_or_else(|| io::Error::other("snapshot vanished"))
    }

    fn save(&mut self, stored: StoredSnapshot) -> io::Result<()> {
        let bytes = postcard::to_allocvec(&stored).map_err(invalid)?;
        crate::fs_util::replace_atomically(&self.snapshot_path(), &bytes)?;
        self.snapshot = Some(stored);
        Ok(())
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

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let mut inner = self.inner.lock().await;
        let _sql = self.sql.hold();
        inner.build_snapshot()
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
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let mut inner = self.inner.lock().await;
        {
            let _sql = self.sql.hold();
            inner.restore(&stored)?;
        }
        inner.save(stored)
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        Ok(self.inner.lock().await.current())
    }
}
