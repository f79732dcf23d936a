//! `sqlx::any` with dqlite installed: `AnyPool::connect("dqlite://…")`.

use sqlx::any::{AnyRow, install_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Column, Row, TypeInfo};
use sqlx_dqlite_facade_tests::DqliteServer;

/// `install_drivers` may run once per process; the tests share it.
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| install_drivers(&[sqlx_dqlite::ANY_DRIVER]).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_pool_reads_every_value_type_and_rolls_back() {
    install();
    let server = DqliteServer::start().await;
    let pool = AnyPool::connect(&server.url("any")).await.unwrap();
    assert_eq!(pool.acquire().await.unwrap().backend_name(), "dqlite");

    sqlx::query("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT, weight REAL, data BLOB, note TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let done = sqlx::query("INSERT INTO things (name, weight, data, note) VALUES (?, ?, ?, ?)")
        .bind("anvil")
        .bind(62.5_f64)
        .bind(vec![0_u8, 1, 254, 255])
        .bind(None::<String>)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!((done.rows_affected(), done.last_insert_id()), (1, Some(1)));

    let row: AnyRow = sqlx::query("SELECT id, name, weight, data, note FROM things")
        .fetch_one(&pool)
        .await
        .unwrap();
    let names: Vec<&str> = row.columns().iter().map(Column::name).collect();
    assert_eq!(names, ["id", "name", "weight", "data", "note"]);
    assert_eq!(row.try_get::<i64, _>("id").unwrap(), 1);
    assert_eq!(row.try_get::<i32, _>(0).unwrap(), 1);
    assert_eq!(row.try_get::<String, _>("name").unwrap(), "anvil");
    assert_eq!(row.try_get::<f64, _>("weight").unwrap(), 62.5);
    assert_eq!(row.try_get::<Vec<u8>, _>("data").unwrap(), [0, 1, 254, 255]);
    assert_eq!(row.try_get::<Option<String>, _>("note").unwrap(), None);
    assert!(row.columns()[4].type_info().is_null());
    assert!(
        row.try_get::<String, _>("note").is_err(),
        "NULL is not a String"
    );
    assert!(
        row.try_get::<i64, _>("name").is_err(),
        "text is not an integer"
    );
    assert!(row.try_get::<i64, _>("missing").is_err());

    // A rolled back transaction leaves nothing; a committed one stays.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO things (name) VALUES ('feather')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM things")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 2);
    tx.rollback().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO things (name) VALUES ('brick')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM things ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(names, ["anvil", "brick"]);

    // A server error comes back as a database error.
    let err = sqlx::query("INSERT INTO nowhere VALUES (1)")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.as_database_error().is_some(), "{err}");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_macro_runs_on_an_any_pool() {
    install();
    static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
    let server = DqliteServer::start().await;
    let pool = AnyPool::connect(&server.url("any-migrate")).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(versions, [1, 2]);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(accounts, 2);
    pool.close().await;
}
