//! `sqlx::migrate` support: [`Migrate`] for [`DqliteConnection`] and
//! [`MigrateDatabase`] for [`Dqlite`].
//!
//! The migrations table has sqlx's usual columns (`version`, `description`,
//! `installed_on`, `success`, `checksum`, `execution_time`).
//!
//! **The migration lock.** dqlite has no advisory locks, so the lock is a
//! row: `Migrate::lock` inserts `(1, token)` into
//! `_sqlx_dqlite_migration_lock` with `ON CONFLICT DO NOTHING`, and holds
//! the lock if the row is its own. Every write of a dqlite database runs on
//! the leader, one transaction at a time, and is replicated before it is
//! acknowledged, so two migrators never both see the row absent, whichever
//! nodes they reached the cluster through. A migrator that finds the row
//! taken waits, polling with a growing pause, for at most
//! [`DqliteConnectOptions::migration_lock_timeout`](crate::DqliteConnectOptions::migration_lock_timeout)
//! (5 minutes by default); `unlock` deletes its row. A migrator that died
//! holding the lock leaves the row behind: the error names the holder, and
//! `DELETE FROM _sqlx_dqlite_migration_lock` releases it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_core::future::BoxFuture;
use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::error::Error;
use sqlx_core::executor::Executor;
use sqlx_core::migrate::{AppliedMigration, Migrate, MigrateDatabase, MigrateError, Migration};
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::sql_str::AssertSqlSafe;

use crate::{Dqlite, DqliteConnectOptions, DqliteConnection, client_error};

/// The table holding the migration lock's row.
pub const LOCK_TABLE: &str = "_sqlx_dqlite_migration_lock";

/// Longest pause between two attempts at the lock.
const LOCK_POLL_MAX: Duration = Duration::from_secs(1);

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A token no other migrator uses: process, time and a counter.
fn lock_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "pid {} at {nanos} #{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl MigrateDatabase for Dqlite {
    /// dqlite creates a database when it is first opened; this opens it and
    /// creates the migration lock's table in it, so that
    /// [`database_exists`](Self::database_exists) then says yes.
    async fn create_database(url: &str) -> Result<(), Error> {
        let mut conn = url.parse::<DqliteConnectOptions>()?.connect().await?;
        ensure_lock_table(&mut conn).await?;
        conn.close().await
    }

    /// Whether the database holds any table, index, view or trigger: dqlite
    /// cannot tell an empty database from one never opened (opening
    /// creates it).
    async fn database_exists(url: &str) -> Result<bool, Error> {
        let mut conn = url.parse::<DqliteConnectOptions>()?.connect().await?;
        let exists: bool = query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_schema)")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        Ok(exists)
    }

    /// dqlite cannot delete a database: this drops every view, trigger and
    /// table in it (with their indexes), in one transaction.
    async fn drop_database(url: &str) -> Result<(), Error> {
        let mut conn = url.parse::<DqliteConnectOptions>()?.connect().await?;
        let objects: Vec<(String, String)> = query_as(
            "SELECT type, name FROM sqlite_schema \
             WHERE type IN ('view', 'trigger', 'table') AND name NOT LIKE 'sqlite_%' \
             ORDER BY CASE type WHEN 'view' THEN 0 WHEN 'trigger' THEN 1 ELSE 2 END",
        )
        .fetch_all(&mut conn)
        .await?;
        let mut tx = conn.begin().await?;
        // Dropped in any order, tables referencing each other would
        // fail the foreign key checks that run when each goes.
        tx.execute("PRAGMA defer_foreign_keys = ON").await?;
        for (kind, name) in objects {
            let sql = format!("DROP {} IF EXISTS {}", kind.to_uppercase(), quote(&name));
            tx.execute(AssertSqlSafe(sql)).await?;
        }
        tx.commit().await?;
        conn.close().await
    }
}

async fn ensure_lock_table(conn: &mut DqliteConnection) -> Result<(), Error> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (\
         id INTEGER PRIMARY KEY CHECK (id = 1), \
         holder TEXT NOT NULL, \
         locked_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    );
    conn.execute(AssertSqlSafe(sql)).await?;
    Ok(())
}

/// The holder of the lock and since when, if it is held.
async fn lock_holder(conn: &mut DqliteConnection) -> Result<Option<(String, String)>, Error> {
    let sql = format!("SELECT holder, locked_at FROM {LOCK_TABLE} WHERE id = 1");
    query_as(AssertSqlSafe(sql)).fetch_optional(conn).await
}

/// Whether `err` is "database is locked": another connection's write
/// transaction (a migrator applying a migration) holds the write lock
/// for now.
fn is_busy(err: &Error) -> bool {
    matches!(err, Error::Database(e)
        if e.try_downcast_ref::<crate::DqliteDatabaseError>()
            .is_some_and(|d| d.primary_code() == 5))
}

impl DqliteConnection {
    async fn take_migration_lock(&mut self) -> Result<(), Error> {
        let token = lock_token();
        let timeout = self.options.migration_lock_timeout;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(20);
        // Creating the table needs the write lock, which a migrator that
        // holds the migration lock may have for a while.
        loop {
            match ensure_lock_table(self).await {
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LOCK_POLL_MAX);
                }
                result => break result?,
            }
        }
        let insert = format!(
            "INSERT INTO {LOCK_TABLE} (id, holder) VALUES (1, ?) ON CONFLICT (id) DO NOTHING"
        );
        loop {
            match query(AssertSqlSafe(insert.clone()))
                .bind(&token)
                .execute(&mut *self)
                .await
            {
                Ok(done) if done.rows_affected() == 1 => break,
                Ok(_) => {}
                // The insert may or may not have been committed: look.
                Err(e)
                    if matches!(
                        client_error(&e),
                        Some(dqlite_client::Error::OutcomeUnknown(_))
                    ) =>
                {
                    tracing::debug!(error = %e, "migration lock: outcome unknown, checking");
                }
                // Another migrator is writing: the lock is taken anyway.
                Err(e) if is_busy(&e) => {}
                Err(e) => return Err(e),
            }
            let holder = lock_holder(self).await?;
            if holder.as_ref().is_some_and(|(h, _)| *h == token) {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let (holder, since) = holder.unwrap_or_default();
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the migration lock is held by {holder:?} since {since}; waited {timeout:?}. \
                         If no migrator is running, release it with DELETE FROM {LOCK_TABLE}"
                    ),
                )));
            }
            tracing::debug!(holder = ?holder, "migration lock taken; waiting");
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(LOCK_POLL_MAX);
        }
        tracing::debug!(%token, "migration lock taken");
        self.migration_lock = Some(token);
        Ok(())
    }

    async fn release_migration_lock(&mut self) -> Result<(), Error> {
        if let Some(token) = self.migration_lock.take() {
            let sql = format!("DELETE FROM {LOCK_TABLE} WHERE id = 1 AND holder = ?");
            query(AssertSqlSafe(sql))
                .bind(token)
                .execute(&mut *self)
                .await?;
        }
        Ok(())
    }

    async fn record_applied(
        &mut self,
        table: &str,
        migration: &Migration,
        run: bool,
    ) -> Result<(), Error> {
        let insert = format!(
            "INSERT INTO {} (version, description, success, checksum, execution_time) \
             VALUES (?, ?, TRUE, ?, -1)",
            quote(table)
        );
        if migration.no_tx {
            if run {
                self.execute(migration.sql.clone()).await?;
            }
            record(self, &insert, migration).await
        } else {
            let mut tx = self.begin().await?;
            if run {
                tx.execute(migration.sql.clone()).await?;
            }
            record(&mut tx, &insert, migration).await?;
            tx.commit().await
        }
    }
}

/// Adds a migration's row to the migrations table.
async fn record(
    conn: &mut DqliteConnection,
    insert: &str,
    migration: &Migration,
) -> Result<(), Error> {
    query(AssertSqlSafe(insert))
        .bind(migration.version)
        .bind(migration.description.as_ref())
        .bind(migration.checksum.as_ref())
        .execute(conn)
        .await
        .map(|_| ())
}

impl Migrate for DqliteConnection {
    fn create_schema_if_not_exists<'e>(
        &'e mut self,
        schema_name: &'e str,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        Box::pin(async move {
            Err(MigrateError::CreateSchemasNotSupported(format!(
                "dqlite has no schemas (asked for {schema_name:?})"
            )))
        })
    }

    fn ensure_migrations_table<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        Box::pin(async move {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 version BIGINT PRIMARY KEY, \
                 description TEXT NOT NULL, \
                 installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
                 success BOOLEAN NOT NULL, \
                 checksum BLOB NOT NULL, \
                 execution_time BIGINT NOT NULL)",
                quote(table_name)
            );
            self.execute(AssertSqlSafe(sql)).await?;
            Ok(())
        })
    }

    fn dirty_version<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<Option<i64>, MigrateError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT version FROM {} WHERE success = false ORDER BY version LIMIT 1",
                quote(table_name)
            );
            Ok(query_scalar(AssertSqlSafe(sql))
                .fetch_optional(self)
                .await?)
        })
    }

    fn list_applied_migrations<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<Vec<AppliedMigration>, MigrateError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT version, checksum FROM {} ORDER BY version",
                quote(table_name)
            );
            let rows: Vec<(i64, Vec<u8>)> = query_as(AssertSqlSafe(sql)).fetch_all(self).await?;
            Ok(rows
                .into_iter()
                .map(|(version, checksum)| AppliedMigration {
                    version,
                    checksum: checksum.into(),
                })
                .collect())
        })
    }

    fn lock(&mut self) -> BoxFuture<'_, Result<(), MigrateError>> {
        Box::pin(async move { Ok(self.take_migration_lock().await?) })
    }

    fn unlock(&mut self) -> BoxFuture<'_, Result<(), MigrateError>> {
        Box::pin(async move { Ok(self.release_migration_lock().await?) })
    }

    fn apply<'e>(
        &'e mut self,
        table_name: &'e str,
        migration: &'e Migration,
    ) -> BoxFuture<'e, Result<Duration, MigrateError>> {
        Box::pin(async move {
            let start = Instant::now();
            self.record_applied(table_name, migration, true)
                .await
                .map_err(|e| MigrateError::ExecuteMigration(e, migration.version))?;
            let elapsed = start.elapsed();
            let sql = format!(
                "UPDATE {} SET execution_time = ? WHERE version = ?",
                quote(table_name)
            );
            query(AssertSqlSafe(sql))
                .bind(i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
                .bind(migration.version)
                .execute(&mut *self)
                .await?;
            Ok(elapsed)
        })
    }

    fn revert<'e>(
        &'e mut self,
        table_name: &'e str,
        migration: &'e Migration,
    ) -> BoxFuture<'e, Result<Duration, MigrateError>> {
        Box::pin(async move {
            let start = Instant::now();
            let delete = format!("DELETE FROM {} WHERE version = ?", quote(table_name));
            let revert = async {
                if migration.no_tx {
                    self.execute(migration.sql.clone()).await?;
                    query(AssertSqlSafe(delete))
                        .bind(migration.version)
                        .execute(&mut *self)
                        .await?;
                } else {
                    let mut tx = self.begin().await?;
                    tx.execute(migration.sql.clone()).await?;
                    query(AssertSqlSafe(delete))
                        .bind(migration.version)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                Ok::<_, Error>(())
            };
            revert
                .await
                .map_err(|e| MigrateError::ExecuteMigration(e, migration.version))?;
            Ok(start.elapsed())
        })
    }

    fn skip<'e>(
        &'e mut self,
        table_name: &'e str,
        migration: &'e Migration,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        Box::pin(async move {
            self.record_applied(table_name, migration, false)
                .await
                .map_err(|e| MigrateError::ExecuteMigration(e, migration.version))
        })
    }
}
