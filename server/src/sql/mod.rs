//! SQL execution helpers: typing and batching of result rows, statement
//! splitting, `PRAGMA delete_database`, and the lock that keeps SQLite work on a node's databases
//! one stretch at a time.

pub(crate) mod delete;
pub(crate) mod rows;
pub(crate) mod split;

use std::sync::{Arc, Mutex, MutexGuard};

/// Held for every synchronous stretch of SQLite work on a node's databases
/// (a statement run, a batch of rows stepped, a Raft entry applied), never
/// across an await. On the node's own thread it is never contended; it
/// keeps sessions driven from other threads from running alongside (the
/// VFS needs the connections of a database driven one at a time), and it
/// makes "the pending transaction that appeared during this job" mean
/// this job's.
#[derive(Debug, Clone, Default)]
pub(crate) struct SqlLock(Arc<Mutex<()>>);

impl SqlLock {
    /// Takes the lock. It guards no data, so a panic while it was held
    /// leaves nothing inconsistent behind it: poisoning is ignored.
    pub(crate) fn hold(&self) -> MutexGuard<'_, ()> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
