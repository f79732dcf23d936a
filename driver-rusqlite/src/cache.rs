//! The per-connection cache of prepared statements behind
//! `prepare_cached` (the LRU logic is `dqlite_client::cache`'s).

use std::sync::Arc;

use dqlite_client::StmtHandle;
use dqlite_client::cache::CacheEntry;
pub(crate) use dqlite_client::cache::finalize_later;
use dqlite_client::sql::SqlInfo;

/// A statement kept for reuse.
#[derive(Debug)]
pub(crate) struct Cached {
    pub sql: Arc<str>,
    pub info: Arc<SqlInfo>,
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
