//! The per-connection cache of prepared statements (the LRU logic is
//! `dqlite_client::cache`'s).

use std::sync::Arc;

use dqlite_client::StmtHandle;
use dqlite_client::cache::CacheEntry;

/// A statement kept for reuse.
#[derive(Debug)]
pub(crate) struct Cached {
    pub sql: Arc<str>,
    pub handle: StmtHandle,
}

impl CacheEntry for Cached {
    fn sql(&self) -> &str {
        &self.sql
    }
    fn handle(&self) -> &StmtHandle {
        &self.handle
    }
}

/// Most recently used last.
pub(crate) type StatementCache = dqlite_client::cache::StatementCache<Cached>;
