//! Transaction tracking: the session follows the transaction statements
//! it sends (scanned by [`crate::sql`]), so that a transaction open on a
//! lost connection fails with [`Error::TransactionLost`] until it is
//! rolled back instead of going on in autocommit mode on a new leader.

use std::sync::atomic::Ordering;

use super::Session;
use crate::sql::{SqlInfo, StmtKind};
use crate::{Error, Result};

/// The transaction as far as the statements sent tell.
#[derive(Debug, Default)]
pub(super) struct TxState {
    pub(super) active: bool,
    /// The connection was lost while `active`.
    pub(super) lost: bool,
    /// Open savepoints, and whether each one started the transaction.
    pub(super) savepoints: Vec<(String, bool)>,
}

impl Session {
    /// Refuses work in a lost transaction; `Ok(true)` means "nothing to
    /// send" (a ROLLBACK of a lost transaction).
    pub(super) fn check_lost(&mut self, info: &SqlInfo) -> Result<bool> {
        if !self.tx.lost {
            return Ok(false);
        }
        let kind = info.statements.first().map(|s| &s.kind);
        match kind {
            Some(StmtKind::Rollback) => {
                self.end_transaction();
                Ok(true)
            }
            Some(StmtKind::Commit) => {
                self.end_transaction();
                Err(Error::TransactionLost)
            }
            Some(StmtKind::Release(name))
                if self
                    .tx
                    .savepoints
                    .first()
                    .is_some_and(|(n, started)| *started && n.eq_ignore_ascii_case(name)) =>
            {
                self.end_transaction();
                Err(Error::TransactionLost)
            }
            _ => Err(Error::TransactionLost),
        }
    }

    pub(super) fn end_transaction(&mut self) {
        self.tx = TxState::default();
        self.shared.in_transaction.store(false, Ordering::Relaxed);
    }

    /// Follows the statements that ran successfully.
    pub(super) fn track(&mut self, info: &SqlInfo) {
        for statement in &info.statements {
            match &statement.kind {
                StmtKind::Begin => self.tx.active = true,
                StmtKind::Commit | StmtKind::Rollback => self.end_transaction(),
                StmtKind::Savepoint(name) => {
                    let starts = !self.tx.active;
                    self.tx.active = true;
                    self.tx.savepoints.push((name.clone(), starts));
                }
                StmtKind::Release(name) => {
                    if let Some(i) = self.find_savepoint(name) {
                        let started = self.tx.savepoints[i].1;
                        self.tx.savepoints.truncate(i);
                        if started {
                            self.end_transaction();
                        }
                    }
                }
                StmtKind::RollbackTo(name) => {
                    if let Some(i) = self.find_savepoint(name) {
                        self.tx.savepoints.truncate(i + 1);
                    }
                }
                StmtKind::Read | StmtKind::Other => {}
            }
        }
        self.shared
            .in_transaction
            .store(self.tx.active, Ordering::Relaxed);
    }

    pub(super) fn find_savepoint(&self, name: &str) -> Option<usize> {
        self.tx
            .savepoints
            .iter()
            .rposition(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Whether a statement's success commits (COMMIT, END, RELEASE): its lost
/// answer leaves the outcome unknown even inside a transaction.
pub(super) fn commits(info: &SqlInfo) -> bool {
    info.statements
        .iter()
        .any(|s| matches!(s.kind, StmtKind::Commit | StmtKind::Release(_)))
}
