//! Server failures as `DqliteDatabaseError`: code, message, kind.

use sqlx::error::ErrorKind;
use sqlx::{Connection, Executor};
use sqlx_dqlite::{DqliteConnection, DqliteDatabaseError};

use crate::util::{TestNode, run};

async fn failure(conn: &mut DqliteConnection, sql: &'static str) -> (ErrorKind, String, String) {
    let err = sqlx::query(sql).execute(conn).await.unwrap_err();
    let db = err
        .as_database_error()
        .unwrap_or_else(|| panic!("{sql}: {err:?}"));
    let dqlite = db.downcast_ref::<DqliteDatabaseError>();
    assert_eq!(db.code().unwrap(), dqlite.extended_code().to_string());
    (
        db.kind(),
        db.code().unwrap().into_owned(),
        db.message().to_owned(),
    )
}

#[test]
fn constraint_violations_have_their_kind() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("errors"))
            .await
            .unwrap();
        conn.execute(
            "PRAGMA foreign_keys = ON; \
             CREATE TABLE p (id INTEGER PRIMARY KEY, u TEXT UNIQUE, n TEXT NOT NULL, c INTEGER CHECK (c > 0)); \
             CREATE TABLE k (p INTEGER REFERENCES p(id)); \
             INSERT INTO p VALUES (1, 'a', 'x', 1)",
        )
        .await
        .unwrap();
        let (kind, code, message) =
            failure(&mut conn, "INSERT INTO p VALUES (2, 'a', 'x', 1)").await;
        assert_eq!((kind, code.as_str()), (ErrorKind::UniqueViolation, "2067"));
        assert!(
            message.contains("UNIQUE constraint failed: p.u"),
            "{message}"
        );
        let (kind, code, _) = failure(&mut conn, "INSERT INTO p VALUES (1, 'b', 'x', 1)").await;
        assert_eq!((kind, code.as_str()), (ErrorKind::UniqueViolation, "1555"));
        let (kind, code, _) = failure(&mut conn, "INSERT INTO p VALUES (3, 'c', NULL, 1)").await;
        assert_eq!((kind, code.as_str()), (ErrorKind::NotNullViolation, "1299"));
        let (kind, code, _) = failure(&mut conn, "INSERT INTO p VALUES (4, 'd', 'x', 0)").await;
        assert_eq!((kind, code.as_str()), (ErrorKind::CheckViolation, "275"));
        let (kind, code, _) = failure(&mut conn, "INSERT INTO k VALUES (42)").await;
        assert_eq!(
            (kind, code.as_str()),
            (ErrorKind::ForeignKeyViolation, "787")
        );
        let (kind, code, message) = failure(&mut conn, "INSERT INTO nowhere VALUES (1)").await;
        assert_eq!((kind, code.as_str()), (ErrorKind::Other, "1"));
        assert!(message.contains("no such table"), "{message}");
        // Errors leave the connection usable, in and out of transactions.
        let mut tx = conn.begin().await.unwrap();
        let err = sqlx::query("INSERT INTO p VALUES (1, 'z', 'x', 1)")
            .execute(&mut *tx)
            .await;
        assert!(
            err.unwrap_err()
                .as_database_error()
                .unwrap()
                .is_unique_violation()
        );
        sqlx::query("INSERT INTO p VALUES (5, 'e', 'x', 1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM p")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 2);
    });
}
