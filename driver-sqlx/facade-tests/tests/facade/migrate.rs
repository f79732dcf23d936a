//! `sqlx::migrate!()`: migrations embedded at compile time, run on a
//! `DqlitePool`.

use sqlx::migrate::Migrator;
use sqlx::{Executor, Row};
use sqlx_dqlite::{DqlitePool, DqlitePoolOptions};
use sqlx_dqlite_facade_tests::DqliteServer;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
static REVERSIBLE: Migrator = sqlx::migrate!("./migrations_reversible");

/// `(version, description, success, checksum)` of `_sqlx_migrations`.
async fn applied(pool: &DqlitePool) -> Vec<(i64, String, bool, Vec<u8>)> {
    sqlx::query_as(
        "SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn tables(pool: &DqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// What the embedded migrator holds, as `_sqlx_migrations` should show it.
fn expected(migrator: &Migrator) -> Vec<(i64, String, bool, Vec<u8>)> {
    migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| {
            (
                m.version,
                m.description.to_string(),
                true,
                m.checksum.to_vec(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_macro_applies_each_migration_once() {
    let server = DqliteServer::start().await;
    let pool = DqlitePool::connect(&server.url("migrate")).await.unwrap();
    assert_eq!(MIGRATOR.iter().count(), 2, "both files are embedded");

    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(
        tables(&pool).await,
        [
            "_sqlx_dqlite_migration_lock",
            "_sqlx_migrations",
            "accounts"
        ]
    );
    let rows = applied(&pool).await;
    assert_eq!(rows, expected(&MIGRATOR));
    assert_eq!(rows[0].1, "accounts");
    assert_eq!(rows[1].1, "seed accounts");
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM accounts ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(emails, ["ada@example.com", "grace@example.com"]);
    let installed: Vec<String> =
        sqlx::query_scalar("SELECT installed_on FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();

    // Again: nothing to do, nothing rewritten.
    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(applied(&pool).await, rows);
    let installed_again: Vec<String> =
        sqlx::query_scalar("SELECT installed_on FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(installed_again, installed);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(accounts, 2, "the seed ran once");
    let locks: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_dqlite_migration_lock")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(locks, 0, "the migration lock is released");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrators_take_turns() {
    let server = DqliteServer::start().await;
    let url = server.url("migrate-concurrent");
    let first = DqlitePool::connect(&url).await.unwrap();
    let second = DqlitePool::connect(&url).await.unwrap();
    // Holds the migration lock the way a migrator does, so that both
    // migrators below find it taken and must wait for it.
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _sqlx_dqlite_migration_lock (\
         id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, \
         locked_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .execute(&first)
    .await
    .unwrap();
    sqlx::query("INSERT INTO _sqlx_dqlite_migration_lock (id, holder) VALUES (1, 'the test')")
        .execute(&first)
        .await
        .unwrap();

    let a = tokio::spawn({
        let pool = first.clone();
        async move { MIGRATOR.run(&pool).await }
    });
    let b = tokio::spawn({
        let pool = second.clone();
        async move { MIGRATOR.run(&pool).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !a.is_finished() && !b.is_finished(),
        "both wait on the lock"
    );
    assert!(
        first.execute("SELECT * FROM accounts").await.is_err(),
        "nothing applied while the lock is held"
    );
    sqlx::query("DELETE FROM _sqlx_dqlite_migration_lock")
        .execute(&first)
        .await
        .unwrap();
    let (a, b) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        (a.await.unwrap(), b.await.unwrap())
    })
    .await
    .expect("both migrators finish");
    a.unwrap();
    b.unwrap();

    // Each migration applied once, by one of them.
    assert_eq!(applied(&second).await, expected(&MIGRATOR));
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&second)
        .await
        .unwrap();
    assert_eq!(accounts, 2);
    let locks: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_dqlite_migration_lock")
        .fetch_one(&first)
        .await
        .unwrap();
    assert_eq!(locks, 0);
    first.close().await;
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reversible_migrations_undo() {
    let server = DqliteServer::start().await;
    let pool = DqlitePoolOptions::new()
        .max_connections(2)
        .connect(&server.url("migrate-reversible"))
        .await
        .unwrap();
    assert!(
        REVERSIBLE
            .iter()
            .any(|m| m.migration_type.is_down_migration())
    );

    REVERSIBLE.run(&pool).await.unwrap();
    assert!(tables(&pool).await.contains(&"tags".to_string()));
    sqlx::query("INSERT INTO notes (body) VALUES ('kept')")
        .execute(&pool)
        .await
        .unwrap();

    // Down to version 1: the tags table goes, notes and its row stay.
    REVERSIBLE.undo(&pool, 1).await.unwrap();
    let now = tables(&pool).await;
    assert!(now.contains(&"notes".to_string()) && !now.contains(&"tags".to_string()));
    let row = sqlx::query("SELECT body FROM notes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("body"), "kept");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(versions, [1]);

    // Down to nothing, then up again.
    REVERSIBLE.undo(&pool, 0).await.unwrap();
    assert!(!tables(&pool).await.contains(&"notes".to_string()));
    assert!(applied(&pool).await.is_empty());
    REVERSIBLE.run(&pool).await.unwrap();
    assert_eq!(applied(&pool).await, expected(&REVERSIBLE));
    pool.close().await;
}
