//! Migrations: `Migrator::run`/`undo` through the `Migrate` impl, the
//! migration lock, and `MigrateDatabase`.

use std::path::Path;
use std::time::Duration;

use sqlx::{ConnectOptions, Connection};
use sqlx_core::migrate::{Migrate, MigrateDatabase, Migrator};
use sqlx_dqlite::{Dqlite, DqliteConnectOptions, DqliteConnection, DqlitePool};

use crate::util::{TestNode, run};

pub fn migrations(dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir)
}

#[test]
fn migrations_run_once_and_undo() {
    let node = TestNode::start();
    run(async {
        let pool = DqlitePool::connect(&node.url("migrate")).await.unwrap();
        let migrator = Migrator::new(migrations("migrations")).await.unwrap();
        migrator.run(&pool).await.unwrap();
        migrator.run(&pool).await.unwrap();
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM people ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(names, ["Ada", "Grace"]);
        let applied: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(applied, [(1, true), (2, true)]);
        let lock_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_dqlite_migration_lock")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(lock_rows, 0, "the lock is released");

        // Reversible migrations, in a database of their own.
        let pool = DqlitePool::connect(&node.url("migrate-rev")).await.unwrap();
        let reversible = Migrator::new(migrations("migrations_reversible"))
            .await
            .unwrap();
        reversible.run(&pool).await.unwrap();
        sqlx::query("INSERT INTO notes (body) VALUES ('n')")
            .execute(&pool)
            .await
            .unwrap();
        reversible.undo(&pool, 1).await.unwrap();
        assert!(
            sqlx::query("SELECT * FROM tags")
                .fetch_all(&pool)
                .await
                .is_err()
        );
        let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(notes, 1);
        reversible.undo(&pool, 0).await.unwrap();
        assert!(
            sqlx::query("SELECT * FROM notes")
                .fetch_all(&pool)
                .await
                .is_err()
        );
    });
}

#[test]
fn a_migration_that_fails_is_rolled_back() {
    let node = TestNode::start();
    run(async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1_ok.sql"), "CREATE TABLE a (x);").unwrap();
        std::fs::write(
            dir.path().join("2_bad.sql"),
            "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1);",
        )
        .unwrap();
        let pool = DqlitePool::connect(&node.url("migrate-bad")).await.unwrap();
        let err = Migrator::new(dir.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no such table"), "{err}");
        assert!(
            sqlx::query("SELECT * FROM b")
                .fetch_all(&pool)
                .await
                .is_err(),
            "rolled back"
        );
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(versions, [1]);
    });
}

#[test]
fn the_migration_lock_excludes_a_second_migrator() {
    let node = TestNode::start();
    run(async {
        let options: DqliteConnectOptions = node.url("migrate-lock").parse().unwrap();
        let mut first = options.connect().await.unwrap();
        let mut second = options
            .clone()
            .migration_lock_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        first.lock().await.unwrap();
        let err = second.lock().await.unwrap_err();
        assert!(err.to_string().contains("migration lock is held"), "{err}");
        // A migrator waiting for the lock gets it once it is released.
        let mut third = options
            .clone()
            .migration_lock_timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap();
        let waiter = tokio::spawn(async move {
            third.lock().await.unwrap();
            third.unlock().await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiter.is_finished());
        first.unlock().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), waiter)
            .await
            .unwrap()
            .unwrap();
        second.lock().await.unwrap();
        second.unlock().await.unwrap();
    });
}

#[test]
fn a_migrator_waits_while_the_lock_holder_applies_a_migration() {
    // The holder applies its migration in a write transaction: a second
    // migrator's attempts meet "database is locked" meanwhile, and must
    // keep waiting for the migration lock instead of failing.
    let node = TestNode::start();
    run(async {
        let options: DqliteConnectOptions = node.url("migrate-busy").parse().unwrap();
        let mut holder = options.connect().await.unwrap();
        let mut waiting = options
            .clone()
            .migration_lock_timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap();
        holder.lock().await.unwrap();
        let mut tx = holder.begin().await.unwrap();
        sqlx::query("CREATE TABLE applied_meanwhile(x)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let waiter = tokio::spawn(async move {
            waiting.lock().await.unwrap();
            waiting.unlock().await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "it must wait, not fail");
        tx.commit().await.unwrap();
        holder.unlock().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), waiter)
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn create_exists_and_drop_database() {
    let node = TestNode::start();
    run(async {
        let url = node.url("migrate-db");
        assert!(!Dqlite::database_exists(&url).await.unwrap());
        Dqlite::create_database(&url).await.unwrap();
        assert!(Dqlite::database_exists(&url).await.unwrap());
        let mut conn = DqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE c (p REFERENCES p (id)); INSERT INTO p VALUES (1); \
             INSERT INTO c VALUES (1); CREATE VIEW v AS SELECT * FROM c",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        Dqlite::drop_database(&url).await.unwrap();
        assert!(!Dqlite::database_exists(&url).await.unwrap());
    });
}
