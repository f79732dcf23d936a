//! The per-connection cache of prepared statements behind
//! `prepare_cached`: least recently used first out, evicted statements
//! finalized on the server with the next request.

use std::sync::Arc;

use dqlite_client::sql::SqlInfo;
use dqlite_client::{Deferred, Shared, StmtHandle};

/// A statement kept for reuse.
#[derive(Debug)]
pub(crate) struct Cached {
    pub sql: Arc<str>,
    pub info: Arc<SqlInfo>,
    pub handle: StmtHandle,
}

/// Most recently used last.
#[derive(Debug)]
pub(crate) struct StatementCache {
    capacity: usize,
    entries: Vec<Cached>,
}

impl StatementCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Vec::new(),
        }
    }

    /// Takes a statement for `sql` out of the cache.
    pub fn take(&mut self, sql: &str) -> Option<Cached> {
        let i = self.entries.iter().rposition(|c| &*c.sql == sql)?;
        Some(self.entries.remove(i))
    }

    /// Puts a statement back, evicting the least recently used ones.
    pub fn put(&mut self, entry: Cached, shared: &Shared) {
        self.entries.push(entry);
        self.shrink(shared);
    }

    pub fn set_capacity(&mut self, capacity: usize, shared: &Shared) {
        self.capacity = capacity;
        self.shrink(shared);
    }

    pub fn flush(&mut self, shared: &Shared) {
        for entry in self.entries.drain(..) {
            finalize_later(&entry.handle, shared);
        }
    }

    fn shrink(&mut self, shared: &Shared) {
        while self.entries.len() > self.capacity {
            let evicted = self.entries.remove(0);
            finalize_later(&evicted.handle, shared);
        }
    }
}

/// Queues FINALIZE for a statement no longer used.
pub(crate) fn finalize_later(handle: &StmtHandle, shared: &Shared) {
    shared.defer(Deferred::Finalize {
        epoch: handle.epoch,
        id: handle.id,
    });
}
