//! The per-connection cache of prepared statements both drivers keep:
//! least recently used out first; an evicted statement is finalized on the
//! server with the connection's next request.

use crate::{Deferred, Shared, StmtHandle};

/// What a cache entry must tell the cache.
pub trait CacheEntry {
    /// The statement's SQL text (the cache key).
    fn sql(&self) -> &str;
    /// The prepared statement on the server.
    fn handle(&self) -> &StmtHandle;
}

/// Prepared statements by SQL text, most recently used last.
#[derive(Debug)]
pub struct StatementCache<E> {
    capacity: usize,
    entries: Vec<E>,
}

impl<E: CacheEntry> StatementCache<E> {
    /// An empty cache holding at most `capacity` statements.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Vec::new(),
        }
    }

    /// Number of statements held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no statement is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Most statements held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes the statement for `sql` out of the cache.
    pub fn take(&mut self, sql: &str) -> Option<E> {
        let i = self.entries.iter().rposition(|c| c.sql() == sql)?;
        Some(self.entries.remove(i))
    }

    /// Puts a statement (back), evicting the least recently used ones.
    pub fn put(&mut self, entry: E, shared: &Shared) {
        self.entries.push(entry);
        self.shrink(shared);
    }

    /// Changes the capacity, evicting what no longer fits.
    pub fn set_capacity(&mut self, capacity: usize, shared: &Shared) {
        self.capacity = capacity;
        self.shrink(shared);
    }

    /// Forgets every statement, finalizing them with the next request.
    pub fn clear(&mut self, shared: &Shared) {
        for entry in self.entries.drain(..) {
            finalize_later(entry.handle(), shared);
        }
    }

    fn shrink(&mut self, shared: &Shared) {
        while self.entries.len() > self.capacity {
            let evicted = self.entries.remove(0);
            finalize_later(evicted.handle(), shared);
        }
    }
}

/// Queues FINALIZE of a statement no longer kept, sent with the
/// connection's next request.
pub fn finalize_later(handle: &StmtHandle, shared: &Shared) {
    shared.defer(Deferred::Finalize {
        epoch: handle.epoch,
        id: handle.id,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Entry(&'static str, StmtHandle);

    impl CacheEntry for Entry {
        fn sql(&self) -> &str {
            self.0
        }
        fn handle(&self) -> &StmtHandle {
            &self.1
        }
    }

    fn entry(sql: &'static str, id: u32) -> Entry {
        Entry(
            sql,
            StmtHandle {
                id,
                epoch: 1,
                param_count: 0,
                columns: None,
            },
        )
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
