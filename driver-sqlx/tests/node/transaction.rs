//! Transactions: commit, rollback, nesting as savepoints, rollback on drop,
//! `begin_with`.

use sqlx::{Connection, Executor};
use sqlx_dqlite::DqliteConnection;

use crate::util::{TestNode, run};

async fn values(conn: &mut DqliteConnection) -> Vec<i64> {
    sqlx::query_scalar("SELECT v FROM t ORDER BY v")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[test]
fn commit_rollback_and_savepoints() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("tx")).await.unwrap();
        conn.execute("CREATE TABLE t (v INTEGER)").await.unwrap();

        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        {
            let mut inner = tx.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (2)")
                .execute(&mut *inner)
                .await
                .unwrap();
            {
                let mut innermost = inner.begin().await.unwrap();
                sqlx::query("INSERT INTO t VALUES (3)")
                    .execute(&mut *innermost)
                    .await
                    .unwrap();
                innermost.commit().await.unwrap();
            }
            inner.rollback().await.unwrap();
        }
        {
            let mut inner = tx.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (4)")
                .execute(&mut *inner)
                .await
                .unwrap();
            inner.commit().await.unwrap();
        }
        sqlx::query("INSERT INTO t VALUES (5)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(values(&mut conn).await, [1, 4, 5]);
        assert!(!conn.in_transaction());

        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (6)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(values(&mut conn).await, [1, 4, 5]);

        // The closure form.
        conn.transaction(|tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t VALUES (7)")
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .await
        .unwrap();
        assert_eq!(values(&mut conn).await, [1, 4, 5, 7]);
    });
}

#[test]
fn a_dropped_transaction_rolls_back() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("txdrop"))
            .await
            .unwrap();
        conn.execute("CREATE TABLE t (v INTEGER)").await.unwrap();
        {
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            {
                let mut nested = tx.begin().await.unwrap();
                sqlx::query("INSERT INTO t VALUES (2)")
                    .execute(&mut *nested)
                    .await
                    .unwrap();
                // dropped: rolled back to the savepoint
            }
            sqlx::query("INSERT INTO t VALUES (3)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(values(&mut conn).await, [1, 3]);
        {
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (9)")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        assert!(
            conn.in_transaction(),
            "the ROLLBACK waits for the next request"
        );
        assert_eq!(values(&mut conn).await, [1, 3]);
        assert!(!conn.in_transaction());
        // Another connection can write: no lock is left behind.
        let mut other = DqliteConnection::connect(&node.url("txdrop-other"))
            .await
            .unwrap();
        other.execute("CREATE TABLE u (x)").await.unwrap();
    });
}

#[test]
fn begin_with_a_custom_statement() {
    let node = TestNode::start();
    run(async {
        let url = node.url("txwith");
        let mut conn = DqliteConnection::connect(&url).await.unwrap();
        conn.execute("CREATE TABLE t (v INTEGER)").await.unwrap();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = tx.begin_with("BEGIN").await.unwrap_err();
        assert!(
            matches!(err, sqlx::Error::InvalidSavePointStatement),
            "{err:?}"
        );
        tx.commit().await.unwrap();
        // A statement that runs but opens no transaction.
        let err = conn.begin_with("CREATE TABLE u (x)").await.unwrap_err();
        assert!(matches!(err, sqlx::Error::BeginFailed), "{err:?}");
        assert_eq!(values(&mut conn).await, [1]);
    });
}
