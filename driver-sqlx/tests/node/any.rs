//! sqlx's `Any` driver with dqlite installed.

use sqlx_core::any::AnyPool;
use sqlx_core::any::driver::install_drivers;
use sqlx_core::migrate::Migrator;

use crate::migrate::migrations;
use crate::util::{TestNode, run};

/// Installs the drivers once per test binary.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| install_drivers(&[sqlx_dqlite::ANY_DRIVER]).unwrap());
}

#[test]
fn any_pool_over_dqlite() {
    install();
    let node = TestNode::start();
    run(async {
        let pool = AnyPool::connect(&node.url("any")).await.unwrap();
        Migrator::new(migrations("migrations"))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let done = sqlx::query("INSERT INTO people (name, born) VALUES (?, ?)")
            .bind("Linus")
            .bind(None::<String>)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!((done.rows_affected(), done.last_insert_id()), (1, Some(3)));
        let people: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, name, born FROM people ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(people.len(), 3);
        assert_eq!(people[0].2.as_deref(), Some("1815-12-10"));
        assert_eq!(people[2], (3, "Linus".into(), None));
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("DELETE FROM people")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM people")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 3);
        let sum: i64 = sqlx::query_scalar("SELECT ? + ?")
            .bind(40_i64)
            .bind(2_i32)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(sum, 42);
    });
}
