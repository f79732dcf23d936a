//! A thread that owns the SQLite connections of one database and runs
//! jobs on them, in the order they were sent.
//!
//! Async code calls [`Executor::call`] with a closure; the closure runs on
//! the thread with the database's [`Connections`] and its result comes
//! back through a oneshot channel. SQLite never runs on a runtime worker.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::vfs::Vfs;

type Job = Box<dyn FnOnce(&mut Connections) + Send>;

/// The connections of one database, as seen by jobs.
pub(crate) struct Connections {
    vfs: Vfs,
    db: String,
    open: HashMap<u64, Connection>,
    next_id: u64,
}

impl Connections {
    /// Opens a new connection; returns its id.
    pub(crate) fn open(&mut self) -> Result<u64> {
        let conn = self.vfs.open(&self.db)?;
        self.next_id += 1;
        self.open.insert(self.next_id, conn);
        Ok(self.next_id)
    }

    /// The connection with this id.
    pub(crate) fn get(&mut self, id: u64) -> Result<&mut Connection> {
        self.open.get_mut(&id).ok_or(Error::ShuttingDown)
    }

    /// Closes a connection (rolling back its open transaction, if any).
    pub(crate) fn close(&mut self, id: u64) {
        self.open.remove(&id);
    }

    /// The VFS holding the database.
    pub(crate) fn vfs(&self) -> Vfs {
        self.vfs
    }

    /// The database name.
    pub(crate) fn db(&self) -> &str {
        &self.db
    }
}

/// Handle to one database's thread. Dropping it ends the thread once the
/// queued jobs ran.
pub(crate) struct Executor {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Executor {
    /// Starts the thread for database `db`.
    pub(crate) fn spawn(vfs: Vfs, db: &str) -> Result<Self> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let mut connections = Connections {
            vfs,
            db: db.to_owned(),
            open: HashMap::new(),
            next_id: 0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("db-{db}"))
            .spawn(move || {
                for job in inbox {
                    job(&mut connections);
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the database's thread and returns its result.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connections) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connections| {
            // The caller may have gone away; nothing to do then.
            let _ = tx.send(f(connections));
        });
        self.jobs
            .as_ref()
            .ok_or(Error::ShuttingDown)?
            .send(job)
            .map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)
    }

    /// Queues `f` without waiting for it.
    pub(crate) fn post(&self, f: impl FnOnce(&mut Connections) + Send + 'static) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(f));
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            // Jobs are short SQLite calls; the thread ends when the queue is empty.
            let _ = thread.join();
        }
    }
}
