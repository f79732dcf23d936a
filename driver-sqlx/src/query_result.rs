//! [`DqliteQueryResult`]: what a statement changed.

/// The outcome of `execute`: rows changed and the last inserted rowid.
///
/// For several statements (one text, or `execute_many`) the changes add
/// up and the rowid is the last statement's.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DqliteQueryResult {
    pub(crate) changes: u64,
    pub(crate) last_insert_rowid: i64,
}

impl DqliteQueryResult {
    /// Rows inserted, updated or deleted (SQLite's `changes()`). For a
    /// write with `RETURNING`, run as a query, the number of rows it
    /// returned.
    pub fn rows_affected(&self) -> u64 {
        self.changes
    }

    /// The rowid of the last row inserted on the leader by this
    /// connection (SQLite's `last_insert_rowid()`); 0 for statements
    /// that ran as queries (`… RETURNING`: read the id from the row).
    pub fn last_insert_rowid(&self) -> i64 {
        self.last_insert_rowid
    }
}

impl Extend<DqliteQueryResult> for DqliteQueryResult {
    fn extend<T: IntoIterator<Item = DqliteQueryResult>>(&mut self, iter: T) {
        for result in iter {
            self.changes += result.changes;
            self.last_insert_rowid = result.last_insert_rowid;
        }
    }
}
