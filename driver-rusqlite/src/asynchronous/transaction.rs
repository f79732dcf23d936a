//! Async transactions and savepoints.

use std::ops::Deref;

use crate::Result;
use crate::transaction::{DropBehavior, TransactionBehavior, quote};

use super::Connection;

/// An open transaction, as `rusqlite::Transaction`; it derefs to the
/// connection. Unless committed, it rolls back when dropped (sent in the
/// background; see the [module docs](super)).
#[derive(Debug)]
pub struct Transaction<'conn> {
    conn: &'conn Connection,
    drop_behavior: DropBehavior,
    done: bool,
}

impl<'conn> Transaction<'conn> {
    /// Begins a transaction of the given kind.
    pub async fn new_unchecked(
        conn: &'conn Connection,
        behavior: TransactionBehavior,
    ) -> Result<Self> {
        conn.execute_batch(behavior.begin_sql()).await?;
        Ok(Self {
            conn,
            drop_behavior: DropBehavior::Rollback,
            done: false,
        })
    }

    /// What happens when the transaction is dropped unfinished.
    pub fn drop_behavior(&self) -> DropBehavior {
        self.drop_behavior
    }

    /// Sets what happens when the transaction is dropped unfinished.
    pub fn set_drop_behavior(&mut self, behavior: DropBehavior) {
        self.drop_behavior = behavior;
    }

    /// Opens a savepoint inside the transaction.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::with_depth(self.conn, 1).await
    }

    /// Opens a named savepoint inside the transaction.
    pub async fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::with_name(self.conn, name.into()).await
    }

    /// Commits. On error (e.g. "database is locked") the transaction stays
    /// open and is rolled back on drop.
    pub async fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").await?;
        self.done = true;
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("ROLLBACK").await
    }

    /// Ends the transaction as its drop behavior says, reporting errors.
    pub async fn finish(mut self) -> Result<()> {
        self.finish_().await
    }

    pub(crate) async fn finish_(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        if self.conn.is_autocommit() {
            return Ok(());
        }
        match self.drop_behavior {
            DropBehavior::Commit => match self.conn.execute_batch("COMMIT").await {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.conn.execute_batch("ROLLBACK").await?;
                    Err(e)
                }
            },
            DropBehavior::Rollback => self.conn.execute_batch("ROLLBACK").await,
            DropBehavior::Ignore => Ok(()),
            DropBehavior::Panic => panic!("Transaction dropped unexpectedly."),
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
        if self.done || self.conn.is_autocommit() {
            return;
        }
        match self.drop_behavior {
            DropBehavior::Rollback => self.conn.defer_sql("ROLLBACK".into()),
            DropBehavior::Commit => self.conn.defer_sql("COMMIT".into()),
            DropBehavior::Ignore => {}
            DropBehavior::Panic => {
                if !std::thread::panicking() {
                    panic!("Transaction dropped unexpectedly.");
                }
            }
        }
    }
}

/// An open savepoint, as `rusqlite::Savepoint`; it derefs to the
/// connection. Unless committed (released), it rolls back to its start and
/// is released when dropped.
#[derive(Debug)]
pub struct Savepoint<'conn> {
    conn: &'conn Connection,
    name: String,
    depth: u32,
    drop_behavior: DropBehavior,
    done: bool,
}

impl<'conn> Savepoint<'conn> {
    pub(crate) async fn with_depth(conn: &'conn Connection, depth: u32) -> Result<Self> {
        let mut sp = Self::with_name(conn, format!("_dqlite_sp_{depth}")).await?;
        sp.depth = depth;
        Ok(sp)
    }

    pub(crate) async fn with_name(conn: &'conn Connection, name: String) -> Result<Self> {
        conn.execute_batch(&format!("SAVEPOINT {}", quote(&name)))
            .await?;
        Ok(Self {
            conn,
            name,
            depth: 0,
            drop_behavior: DropBehavior::Rollback,
            done: false,
        })
    }

    /// Opens a nested savepoint.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::with_depth(self.conn, self.depth + 1).await
    }

    /// Opens a nested savepoint with a name of the caller's.
    pub async fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::with_name(self.conn, name.into()).await
    }

    /// What happens when the savepoint is dropped unfinished.
    pub fn drop_behavior(&self) -> DropBehavior {
        self.drop_behavior
    }

    /// Sets what happens when the savepoint is dropped unfinished.
    pub fn set_drop_behavior(&mut self, behavior: DropBehavior) {
        self.drop_behavior = behavior;
    }

    /// Releases the savepoint, keeping its changes (committing them if it
    /// began the transaction).
    pub async fn commit(mut self) -> Result<()> {
        self.conn
            .execute_batch(&format!("RELEASE {}", quote(&self.name)))
            .await?;
        self.done = true;
        Ok(())
    }

    /// Rolls back to the start of the savepoint, which stays open.
    pub async fn rollback(&mut self) -> Result<()> {
        self.conn
            .execute_batch(&format!("ROLLBACK TO {}", quote(&self.name)))
            .await
    }

    /// Ends the savepoint as its drop behavior says, reporting errors.
    pub async fn finish(mut self) -> Result<()> {
        self.finish_().await
    }

    pub(crate) async fn finish_(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let name = quote(&self.name);
        match self.drop_behavior {
            DropBehavior::Commit => self.conn.execute_batch(&format!("RELEASE {name}")).await,
            DropBehavior::Rollback => {
                let rolled_back = self
                    .conn
                    .execute_batch(&format!("ROLLBACK TO {name}"))
                    .await;
                let released = self.conn.execute_batch(&format!("RELEASE {name}")).await;
                rolled_back.and(released)
            }
            DropBehavior::Ignore => Ok(()),
            DropBehavior::Panic => panic!("Savepoint dropped unexpectedly."),
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
        if self.done {
            return;
        }
        let name = quote(&self.name);
        match self.drop_behavior {
            DropBehavior::Rollback => self
                .conn
                .defer_sql(format!("ROLLBACK TO {name}; RELEASE {name}")),
            DropBehavior::Commit => self.conn.defer_sql(format!("RELEASE {name}")),
            DropBehavior::Ignore => {}
            DropBehavior::Panic => {
                if !std::thread::panicking() {
                    panic!("Savepoint dropped unexpectedly.");
                }
            }
        }
    }
}
