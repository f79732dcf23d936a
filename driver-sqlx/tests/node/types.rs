//! Type round trips, one line per type: each value is bound as a
//! parameter and read back (`SELECT ?`), then stored in a column of the
//! given declared type and read back from it.

use sqlx::{Connection, Row};
use sqlx_dqlite::DqliteConnection;

use crate::util::{TestNode, run};

/// `round_trip!(conn, "DECLARED TYPE", Type, [values…])`.
macro_rules! round_trip {
    ($conn:expr, $decl:literal, $t:ty, [$($value:expr),+ $(,)?]) => {{
        let conn: &mut DqliteConnection = $conn;
        let table = format!("t_{}", $decl);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {table} (v {})",
            $decl
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
        $(
            let value: $t = $value;
            let back: $t = sqlx::query_scalar("SELECT ?")
                .bind(&value)
                .fetch_one(&mut *conn)
                .await
                .unwrap_or_else(|e| panic!("SELECT ? of {} {:?}: {e}", stringify!($t), value));
            assert_eq!(back, value, "SELECT ? of {}", stringify!($t));
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {table} (v) VALUES (?)")))
                .bind(&value)
                .execute(&mut *conn)
                .await
                .unwrap();
            let stored: $t = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT v FROM {table}")))
                .fetch_one(&mut *conn)
                .await
                .unwrap_or_else(|e| panic!("{} in a {} column {:?}: {e}", stringify!($t), $decl, value));
            assert_eq!(stored, value, "{} in a {} column", stringify!($t), $decl);
        )+
    }};
}

#[test]
fn scalar_types_round_trip() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("types")).await.unwrap();
        let c = &mut conn;
        round_trip!(c, "INTEGER", i8, [i8::MIN, -1, 0, i8::MAX]);
        round_trip!(c, "INTEGER", i16, [i16::MIN, 0, i16::MAX]);
        round_trip!(c, "INTEGER", i32, [i32::MIN, 7, i32::MAX]);
        round_trip!(c, "INTEGER", i64, [i64::MIN, 0, i64::MAX]);
        round_trip!(c, "INTEGER", u8, [0, u8::MAX]);
        round_trip!(c, "INTEGER", u16, [0, u16::MAX]);
        round_trip!(c, "INTEGER", u32, [0, u32::MAX]);
        round_trip!(c, "INTEGER", u64, [0, u64::try_from(i64::MAX).unwrap()]);
        round_trip!(c, "REAL", f32, [0.0, -1.5, f32::MAX, f32::MIN_POSITIVE]);
        round_trip!(
            c,
            "REAL",
            f64,
            [0.0, -0.0, 3.25, f64::MAX, f64::MIN_POSITIVE]
        );
        round_trip!(c, "BOOLEAN", bool, [true, false]);
        round_trip!(c, "TEXT", String, [String::new(), "héllo ☃".to_owned()]);
        round_trip!(c, "BLOB", Vec<u8>, [vec![], vec![0, 1, 255]]);
        round_trip!(c, "TEXT", Option<String>, [None, Some("x".to_owned())]);
        round_trip!(c, "INTEGER", Option<i64>, [None, Some(-5)]);
        round_trip!(c, "BLOB", Option<Vec<u8>>, [None, Some(vec![9])]);
    });
}

#[cfg(all(
    feature = "chrono",
    feature = "time",
    feature = "uuid",
    feature = "json"
))]
#[test]
fn feature_types_round_trip() {
    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    use sqlx_core::types::Json;

    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("ftypes"))
            .await
            .unwrap();
        let c = &mut conn;
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let time = NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
        let utc = DateTime::<Utc>::from_timestamp(1_700_000_000, 5_000).unwrap();
        let offset = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        round_trip!(c, "DATE", NaiveDate, [date]);
        round_trip!(c, "TEXT", NaiveTime, [time]);
        round_trip!(c, "DATETIME", NaiveDateTime, [date.and_time(time)]);
        round_trip!(c, "TIMESTAMP", DateTime<Utc>, [utc]);
        round_trip!(
            c,
            "DATETIME",
            DateTime<FixedOffset>,
            [utc.with_timezone(&offset)]
        );
        round_trip!(c, "DATE", time::Date, [time::macros::date!(2024 - 02 - 29)]);
        round_trip!(c, "TEXT", time::Time, [time::macros::time!(01:02:03.004)]);
        round_trip!(
            c,
            "DATETIME",
            time::PrimitiveDateTime,
            [time::macros::datetime!(2024-01-02 03:04:05.6)]
        );
        round_trip!(
            c,
            "DATETIME",
            time::OffsetDateTime,
            [time::macros::datetime!(2024-01-02 03:04:05 +02:00)]
        );
        round_trip!(
            c,
            "BLOB",
            uuid::Uuid,
            [uuid::Uuid::from_u128(
                0x0123_4567_89ab_cdef_0123_4567_89ab_cdef
            )]
        );
        round_trip!(c, "TEXT", Json<Vec<i32>>, [Json(vec![1, 2, 3])]);
        round_trip!(
            c,
            "TEXT",
            serde_json::Value,
            [serde_json::json!({"a": [1, null, "x"]})]
        );
    });
}

#[cfg(feature = "chrono")]
#[test]
fn dqlite_wire_types_decode() {
    use chrono::{DateTime, NaiveDate, Utc};
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("wiretypes"))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE w (at DATETIME, flag BOOLEAN)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO w VALUES ('2024-05-06 07:08:09', 1), (1700000000, 0), (NULL, NULL)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let rows = sqlx::query("SELECT at, flag FROM w ORDER BY rowid")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        // ISO8601 text.
        let first: NaiveDate = rows[0].get::<chrono::NaiveDateTime, _>("at").date();
        assert_eq!(first, NaiveDate::from_ymd_opt(2024, 5, 6).unwrap());
        assert_eq!(rows[0].get::<String, _>("at"), "2024-05-06 07:08:09");
        assert!(rows[0].get::<bool, _>("flag"));
        // UNIXTIME: an integer in a DATETIME column.
        let second: DateTime<Utc> = rows[1].get("at");
        assert_eq!(second.timestamp(), 1_700_000_000);
        assert_eq!(rows[1].get::<i64, _>("at"), 1_700_000_000);
        assert!(!rows[1].get::<bool, _>("flag"));
        // NULL in a DATETIME column (an empty ISO8601) is NULL; in a
        // BOOLEAN column dqlite sends 0.
        assert_eq!(rows[2].get::<Option<DateTime<Utc>>, _>("at"), None);
        assert_eq!(rows[2].get::<Option<bool>, _>("flag"), Some(false));
        use sqlx::{Column, TypeInfo};
        assert_eq!(rows[0].column("at").type_info().name(), "DATETIME");
        assert_eq!(rows[1].column(0).type_info().name(), "DATETIME");
        assert_eq!(rows[0].column(1).type_info().name(), "BOOLEAN");
    });
}

#[test]
fn mismatched_and_out_of_range_values_are_errors() {
    let node = TestNode::start();
    run(async {
        let mut conn = DqliteConnection::connect(&node.url("mismatch"))
            .await
            .unwrap();
        let row = sqlx::query("SELECT 300, 'text', x'00ff', -1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(matches!(
            row.try_get::<i8, _>(0),
            Err(sqlx::Error::ColumnDecode { .. })
        ));
        assert!(row.try_get::<i64, _>(1).is_err(), "text is not an integer");
        assert!(row.try_get::<String, _>(2).is_err(), "a blob is not text");
        assert!(row.try_get::<u64, _>(3).is_err(), "negative into u64");
        assert_eq!(row.try_get::<Vec<u8>, _>(2).unwrap(), vec![0, 255]);
        let too_big = sqlx::query("SELECT ?")
            .bind(u64::MAX)
            .fetch_one(&mut conn)
            .await;
        assert!(
            matches!(too_big, Err(sqlx::Error::Encode(_))),
            "{too_big:?}"
        );
    });
}
