//! Blocking transactions and savepoints, and the behavior enums both APIs
//! share.

use std::ops::Deref;

use crate::{Connection, Result, asynchronous};

/// How a transaction begins, as rusqlite's enum of the same name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionBehavior {
    /// `BEGIN DEFERRED`: locks are taken when first needed.
    Deferred,
    /// `BEGIN IMMEDIATE`: the write lock is taken at once.
    Immediate,
    /// `BEGIN EXCLUSIVE`.
    Exclusive,
}

impl TransactionBehavior {
    pub(crate) fn begin_sql(self) -> &'static str {
        match self {
            Self::Deferred => "BEGIN DEFERRED",
            Self::Immediate => "BEGIN IMMEDIATE",
            Self::Exclusive => "BEGIN EXCLUSIVE",
        }
    }
}

/// What a transaction or savepoint does when dropped unfinished, as
/// rusqlite's enum of the same name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropBehavior {
    /// Roll back (the default).
    Rollback,
    /// Commit; if that fails, roll back.
    Commit,
    /// Leave it open.
    Ignore,
    /// Panic (to catch transactions that are never finished).
    Panic,
}

/// Quotes a savepoint name as an SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An open transaction, as `rusqlite::Transaction`: it derefs to the
/// [`Connection`], so statements run inside it; unless committed, it rolls
/// back when dropped.
#[derive(Debug)]
pub struct Transaction<'conn> {
    conn: &'conn Connection,
    inner: Option<asynchronous::Transaction<'conn>>,
}

impl<'conn> Transaction<'conn> {
    /// Begins a transaction of the given kind.
    pub fn new(conn: &'conn mut Connection, behavior: TransactionBehavior) -> Result<Self> {
        Self::new_unchecked(conn, behavior)
    }

    /// Begins a transaction through a shared reference.
    pub fn new_unchecked(conn: &'conn Connection, behavior: TransactionBehavior) -> Result<Self> {
        let inner = conn.block_on(asynchronous::Transaction::new_unchecked(
            &conn.inner,
            behavior,
        ))?;
        Ok(Self {
            conn,
            inner: Some(inner),
        })
    }

    #[allow(clippy::expect_used)]
    fn inner(&mut self) -> &mut asynchronous::Transaction<'conn> {
        self.inner.as_mut().expect("present until finished")
    }

    /// What happens when the transaction is dropped unfinished.
    pub fn drop_behavior(&self) -> DropBehavior {
        self.inner.as_ref().map_or(
            DropBehavior::Rollback,
            asynchronous::Transaction::drop_behavior,
        )
    }

    /// Sets what happens when the transaction is dropped unfinished.
    pub fn set_drop_behavior(&mut self, behavior: DropBehavior) {
        self.inner().set_drop_behavior(behavior);
    }

    /// Opens a savepoint inside the transaction.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, 1, None)
    }

    /// Opens a named savepoint inside the transaction.
    pub fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, 1, Some(name.into()))
    }

    /// Commits. On error the transaction is rolled back (on drop).
    pub fn commit(mut self) -> Result<()> {
        let result = match self.inner.take() {
            Some(inner) => self.conn.block_on(inner.commit()),
            None => Ok(()),
        };
        if result.is_err() {
            // The failed transaction's drop only queued its rollback: send it.
            self.conn.flush_deferred();
        }
        result
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        match self.inner.take() {
            Some(inner) => self.conn.block_on(inner.rollback()),
            None => Ok(()),
        }
    }

    /// Ends the transaction as its drop behavior says, reporting errors.
    pub fn finish(mut self) -> Result<()> {
        match self.inner.take() {
            Some(inner) => self.conn.block_on(inner.finish()),
            None => Ok(()),
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take()
            && let Err(e) = self.conn.block_on(inner.finish_())
        {
            tracing::warn!(error = %e, "ending a dropped transaction failed");
        }
    }
}

/// An open savepoint, as `rusqlite::Savepoint`; it derefs to the
/// [`Connection`]. Unless committed (released), it rolls back to its start
/// and is released when dropped.
#[derive(Debug)]
pub struct Savepoint<'conn> {
    conn: &'conn Connection,
    depth: u32,
    inner: Option<asynchronous::Savepoint<'conn>>,
}

impl<'conn> Savepoint<'conn> {
    pub(crate) fn start(conn: &'conn Connection, depth: u32, name: Option<String>) -> Result<Self> {
        let inner = match name {
            Some(name) => conn.block_on(asynchronous::Savepoint::with_name(&conn.inner, name))?,
            None => conn.block_on(asynchronous::Savepoint::with_depth(&conn.inner, depth))?,
        };
        Ok(Self {
            conn,
            depth,
            inner: Some(inner),
        })
    }

    #[allow(clippy::expect_used)]
    fn inner(&mut self) -> &mut asynchronous::Savepoint<'conn> {
        self.inner.as_mut().expect("present until finished")
    }

    /// Opens a nested savepoint.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, self.depth + 1, None)
    }

    /// Opens a nested savepoint with a name of the caller's.
    pub fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, self.depth + 1, Some(name.into()))
    }

    /// What happens when the savepoint is dropped unfinished.
    pub fn drop_behavior(&self) -> DropBehavior {
        self.inner.as_ref().map_or(
            DropBehavior::Rollback,
            asynchronous::Savepoint::drop_behavior,
        )
    }

    /// Sets what happens when the savepoint is dropped unfinished.
    pub fn set_drop_behavior(&mut self, behavior: DropBehavior) {
        self.inner().set_drop_behavior(behavior);
    }

    /// Releases the savepoint, keeping its changes.
    pub fn commit(mut self) -> Result<()> {
        match self.inner.take() {
            Some(inner) => self.conn.block_on(inner.commit()),
            None => Ok(()),
        }
    }

    /// Rolls back to the start of the savepoint, which stays open.
    pub fn rollback(&mut self) -> Result<()> {
        let conn = self.conn;
        conn.block_on(self.inner().rollback())
    }

    /// Ends the savepoint as its drop behavior says, reporting errors.
    pub fn finish(mut self) -> Result<()> {
        match self.inner.take() {
            Some(inner) => self.conn.block_on(inner.finish()),
            None => Ok(()),
        }
    }
}

impl Deref for Savepoint<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take()
            && let Err(e) = self.conn.block_on(inner.finish_())
        {
            tracing::warn!(error = %e, "ending a dropped savepoint failed");
        }
    }
}
