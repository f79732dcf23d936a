//! openraft's log storage on top of [`LogFile`]: entries are serialized
//! with postcard; the vote, the committed log id and the last purged log id
//! live in the log's metadata. Every write runs on a blocking thread and
//! completes (fsync included) before the call returns, so writes are
//! applied in submission order and `IOFlushed` is only signalled for data
//! on disk.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::log_file::LogFile;
use super::typ::{Entry, LogId, TypeConfig, Vote};

const VOTE: &str = "raft.vote";
const PURGED: &str = "raft.purged";
/// File holding the last committed log id: a hint, not a promise.
const COMMITTED_FILE: &str = "committed";

/// The Raft log store; cheap to clone (clones share the log).
#[derive(Debug, Clone)]
pub struct LogStore {
    log: Arc<Mutex<LogFile>>,
    committed_path: std::path::PathBuf,
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(invalid)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(invalid)
}

impl LogStore {
    /// Opens the log in `dir` (see [`LogFile::open`]).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self {
            log: Arc::new(Mutex::new(LogFile::open(&dir)?)),
            committed_path: dir.as_ref().join(COMMITTED_FILE),
        })
    }

    /// Runs `f` on the log on a blocking thread.
    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut LogFile) -> io::Result<R> + Send + 'static,
    ) -> io::Result<R> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            let mut log = log
                .lock()
                .map_err(|_| io::Error::other("log store poisoned"))?;
            f(&mut log)
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn meta<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &'static str,
    ) -> io::Result<Option<T>> {
        self.with(move |log| log.meta(key).map(decode).transpose())
            .await
    }

    async fn set_meta<T: Serialize>(&self, key: &'static str, value: &T) -> io::Result<()> {
        let bytes = encode(value)?;
        self.with(move |log| Ok(log.set_meta(key, &bytes)?)).await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        self.with(move |log| {
            log.read(range)?
                .iter()
                .map(|r| decode(&r.payload))
                .collect()
        })
        .await
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.meta(VOTE).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED).await?;
        let last = self
            .with(|log| {
                let Some(last) = log.last_index() else {
                    return Ok(None);
                };
                let record = log.read(last..=last)?;
                record
                    .first()
                    .map(|r| decode::<Entry>(&r.payload))
                    .transpose()
            })
            .await?;
        Ok(LogState {
            last_log_id: last.map(|e| e.log_id).or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.set_meta(VOTE, vote).await
    }

    /// The committed log id only spares re-election work after a restart
    /// (openraft re-applies up to it at once), so it is written without
    /// fsync: after a crash it may be older or unreadable, and then it is
    /// just ignored.
    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        let bytes = encode(&committed)?;
        let path = self.committed_path.clone();
        tokio::task::spawn_blocking(move || std::fs::write(path, bytes))
            .await
            .map_err(io::Error::other)?
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        let path = self.committed_path.clone();
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(io::Error::other)?;
        Ok(bytes
            .ok()
            .and_then(|b| decode::<Option<LogId>>(&b).ok())
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records = entries
            .into_iter()
            .map(|e| Ok((e.log_id.index, e.log_id.leader_id.term, encode(&e)?)))
            .collect::<io::Result<Vec<_>>>()?;
        let result = self
            .with(
                move |log| Ok(log.append(records.iter().map(|(i, t, p)| (*i, *t, p.as_slice())))?),
            )
            .await;
        match result {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let index = last_log_id.map(|id| id.index);
        self.with(move |log| Ok(log.truncate_after(index)?)).await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        self.set_meta(PURGED, &log_id).await?;
        let index = log_id.index;
        self.with(move |log| Ok(log.purge_through(index)?)).await
    }
}
