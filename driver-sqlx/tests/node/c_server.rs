//! The driver against the real C server (Debian's `dqlite-demo`,
//! libdqlite 1.11); skipped with a notice when it is not installed.

use futures_util::TryStreamExt;
use sqlx::{Connection, Executor, Row};
use sqlx_core::migrate::Migrator;
use sqlx_dqlite::{DqliteConnection, DqlitePool};

use crate::migrate::migrations;
use crate::util::{CServer, run};

#[test]
fn against_the_c_server() {
    let Some(mut server) = CServer::start() else {
        return;
    };
    run(async {
        let url = server.url("c");
        let pool = DqlitePool::connect(&url).await.unwrap();
        Migrator::new(migrations("migrations"))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let done = sqlx::query("INSERT INTO people (name, born) VALUES (?, ?)")
            .bind("Linus")
            .bind("1969-12-28")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!((done.rows_affected(), done.last_insert_rowid()), (1, 3));
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM people ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);

        let mut conn = DqliteConnection::connect(&url).await.unwrap();
        conn.execute("CREATE TABLE w (at DATETIME, flag BOOLEAN, data BLOB)")
            .await
            .unwrap();
        sqlx::query("INSERT INTO w VALUES (?, ?, ?)")
            .bind("2024-05-06 07:08:09")
            .bind(true)
            .bind(vec![1_u8, 2, 3])
            .execute(&mut conn)
            .await
            .unwrap();
        let row = sqlx::query("SELECT at, flag, data FROM w")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(row.get::<String, _>(0).starts_with("2024-05-06"));
        assert!(row.get::<bool, _>(1));
        assert_eq!(row.get::<Vec<u8>, _>(2), [1, 2, 3]);

        // Transactions, nesting and a rollback on drop.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO w (flag) VALUES (0)")
            .execute(&mut *tx)
            .await
            .unwrap();
        {
            let mut nested = tx.begin().await.unwrap();
            sqlx::query("DELETE FROM w")
                .execute(&mut *nested)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM w")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 2);

        // A result of many ROWS messages, cut short, then read whole.
        conn.execute(
            "CREATE TABLE big (i INTEGER PRIMARY KEY, pad TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO big SELECT i, printf('%0100d', i) FROM n",
        )
        .await
        .unwrap();
        let first: Option<i64> = sqlx::query_scalar("SELECT i FROM big ORDER BY i")
            .fetch_optional(&mut conn)
            .await
            .unwrap();
        assert_eq!(first, Some(1));
        let count = sqlx::query("SELECT i, pad FROM big")
            .fetch(&mut conn)
            .try_fold(0_u32, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap();
        assert_eq!(count, 5000);

        let err = sqlx::query("INSERT INTO people (id, name) VALUES (1, 'dup')")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            err.as_database_error().unwrap().is_unique_violation(),
            "{err:?}"
        );
    });
    assert!(server.is_running(), "the C server crashed");
}
