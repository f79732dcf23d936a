//! The per-connection cache of prepared statements: least recently used
//! out first; an evicted statement is finalized on the server with the
//! connection's next request.

use std::sync::Arc;

use dqlite_client::{Deferred, Shared, StmtHandle};

/// A statement kept for reuse.
#[derive(Debug)]
pub(crate) struct Cached {
    pub sql: Arc<str>,
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

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes the statement for `sql` out of the cache.
    pub fn take(&mut self, sql: &str) -> Option<Cached> {
        let i = self.entries.iter().rposition(|c| &*c.sql == sql)?;
        Some(self.entries.remove(i))
    }

    /// Puts a statement (back), evicting the least recently used ones.
    pub fn put(&mut self, entry: Cached, shared: &Shared) {
        self.entries.push(entry);
        while self.entries.len() > self.capacity {
            let evicted = self.entries.remove(0);
            finalize_later(&evicted.handle, shared);
        }
    }

    /// Forgets every statement, finalizing them with the next request.
    pub fn clear(&mut self, shared: &Shared) {
        for entry in self.entries.drain(..) {
            finalize_later(&entry.handle, shared);
        }
    }
}

/// Queues FINALIZE for a statement no longer kept.
pub(crate) fn finalize_later(handle: &StmtHandle, shared: &Shared) {
    shared.defer(Deferred::Finalize {
        epoch: handle.epoch,
        id: handle.id,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sql: &str, id: u32) -> Cached {
        Cached {
            sql: sql.into(),
            handle: StmtHandle {
                id,
                epoch: 1,
                param_count: 0,
                columns: None,
            },
        }
    }

    #[test]
    fn least_recently_used_goes_first_and_is_finalized() {
        let shared = Shared::default();
        let mut cache = StatementCache::new(2);
        cache.put(entry("a", 1), &shared);
        cache.put(entry("b", 2), &shared);
        let a = cache.take("a").unwrap();
        cache.put(a, &shared);
        assert!(!shared.has_deferred());
        cache.put(entry("c", 3), &shared);
        assert_eq!(cache.len(), 2);
        assert!(cache.take("b").is_none(), "b was the least recently used");
        assert!(
            shared.has_deferred(),
            "b is finalized with the next request"
        );
        assert!(cache.take("a").is_some() && cache.take("c").is_some());
    }
}
