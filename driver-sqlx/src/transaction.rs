//! [`DqliteTransactionManager`]: `BEGIN`/`COMMIT`/`ROLLBACK`, savepoints
//! for nested transactions, and the rollback of a dropped transaction.

use std::sync::atomic::Ordering;

use dqlite_client::Deferred;
use sqlx_core::error::Error;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::transaction::TransactionManager;

use crate::{Dqlite, DqliteConnection};

/// Transactions on a dqlite connection. The outermost level is `BEGIN`
/// (or the statement given to `begin_with`, e.g. `BEGIN IMMEDIATE`),
/// nested levels are savepoints. A transaction dropped without `commit`
/// or `rollback` is rolled back in front of the connection's next request
/// (a pool sends it before handing the connection out again).
///
/// A transaction open when the connection to the leader is lost is over:
/// the server rolled it back. Its statements then fail with
/// [`DqliteClientError::TransactionLost`](crate::DqliteClientError) until
/// it is rolled back; it never continues in autocommit mode.
#[derive(Debug)]
pub struct DqliteTransactionManager;

fn savepoint(depth: usize) -> String {
    format!("_sqlx_savepoint_{depth}")
}

/// The SQL that undoes level `depth` (1 is the outermost).
fn rollback_sql(depth: usize) -> String {
    if depth <= 1 {
        "ROLLBACK".to_owned()
    } else {
        let name = savepoint(depth - 1);
        format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
    }
}

impl TransactionManager for DqliteTransactionManager {
    type Database = Dqlite;

    async fn begin(conn: &mut DqliteConnection, statement: Option<SqlStr>) -> Result<(), Error> {
        let depth = conn.depth;
        let custom = statement.is_some();
        // Until it succeeds, the `Transaction` being built is no level.
        conn.failed_begin = true;
        let sql = match statement {
            Some(_) if depth > 0 => return Err(Error::InvalidSavePointStatement),
            Some(sql) => sql.as_str().to_owned(),
            None if depth == 0 => "BEGIN".to_owned(),
            None => format!("SAVEPOINT {}", savepoint(depth)),
        };
        conn.begin_in_flight = true;
        let result = conn.exec_plain(&sql).await;
        conn.begin_in_flight = false;
        result?;
        if custom && !conn.shared.in_transaction.load(Ordering::Relaxed) {
            return Err(Error::BeginFailed);
        }
        conn.failed_begin = false;
        conn.depth += 1;
        Ok(())
    }

    async fn commit(conn: &mut DqliteConnection) -> Result<(), Error> {
        let depth = conn.depth;
        if depth > 0 {
            let sql = if depth == 1 {
                "COMMIT".to_owned()
            } else {
                format!("RELEASE SAVEPOINT {}", savepoint(depth - 1))
            };
            conn.exec_plain(&sql).await?;
            conn.depth -= 1;
        }
        Ok(())
    }

    async fn rollback(conn: &mut DqliteConnection) -> Result<(), Error> {
        let depth = conn.depth;
        if depth > 0 {
            conn.exec_plain(&rollback_sql(depth)).await?;
            conn.depth -= 1;
        }
        Ok(())
    }

    /// Called when a `Transaction` is dropped while open, which includes
    /// one whose `begin` failed: that level never existed, and the level
    /// below must not be rolled back. A `begin` abandoned while in flight
    /// may or may not have taken effect: its level is undone if it did (a
    /// savepoint that does not exist makes the deferred statement fail
    /// harmlessly).
    fn start_rollback(conn: &mut DqliteConnection) {
        if std::mem::take(&mut conn.begin_in_flight) {
            conn.failed_begin = false;
            let depth = conn.depth;
            if depth > 0 {
                conn.shared.defer(Deferred::Sql {
                    sql: rollback_sql(depth + 1),
                });
            } else if conn.shared.in_transaction.load(Ordering::Relaxed) {
                conn.shared.defer(Deferred::Sql {
                    sql: rollback_sql(1),
                });
            }
            return;
        }
        if std::mem::take(&mut conn.failed_begin) {
            return;
        }
        let depth = conn.depth;
        if depth > 0 {
            conn.shared.defer(Deferred::Sql {
                sql: rollback_sql(depth),
            });
            conn.depth -= 1;
        }
    }

    fn get_transaction_depth(conn: &DqliteConnection) -> usize {
        conn.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_levels_are_savepoints() {
        assert_eq!(rollback_sql(1), "ROLLBACK");
        assert_eq!(
            rollback_sql(3),
            "ROLLBACK TO SAVEPOINT _sqlx_savepoint_2; RELEASE SAVEPOINT _sqlx_savepoint_2"
        );
    }
}
