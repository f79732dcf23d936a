//! Scenarios that run unchanged against our node and the C server: each
//! opens a fresh database at `url` and returns an error on the first
//! deviation.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use dqlite_rusqlite::types::{Type, Value, ValueRef};
use dqlite_rusqlite::{
    Connection, Error, ErrorCode, OptionalExtension, Result, TransactionBehavior, named_params,
    params, params_from_iter,
};

/// Fails the scenario with a message.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!($($msg)+);
        }
    };
}

pub fn execute_and_counters(url: &str) -> Result<()> {
    let conn = Connection::open(url)?;
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, score REAL);
         INSERT INTO t (name, score) VALUES ('a', 1.5);",
    )?;
    assert_eq!(
        conn.execute("INSERT INTO t (name, score) VALUES (?1, ?2);", ("b", 2.5))?,
        1
    );
    assert_eq!(conn.last_insert_rowid(), 2);
    assert_eq!(conn.execute("UPDATE t SET score = score * 2", [])?, 2);
    assert_eq!(conn.changes(), 2);
    let total: f64 = conn.query_row("SELECT sum(score) FROM t", [], |r| r.get(0))?;
    assert_eq!(total, 8.0);
    // rusqlite's errors for misuse.
    assert!(matches!(
        conn.execute("SELECT 1", []),
        Err(Error::ExecuteReturnedResults)
    ));
    assert!(matches!(
        conn.execute(
            "INSERT INTO t (name) VALUES ('x'); INSERT INTO t (name) VALUES ('y')",
            []
        ),
        Err(Error::MultipleStatement)
    ));
    assert!(matches!(
        conn.execute("INSERT INTO t (name) VALUES (?1)", ["x", "y"]),
        Err(Error::InvalidParameterCount(2, 1))
    ));
    // SQLite's own errors, with the extended code.
    let err = conn
        .execute("INSERT INTO t (name) VALUES ('a')", [])
        .unwrap_err();
    ensure!(
        err.sqlite_error_code() == Some(ErrorCode::ConstraintViolation),
        "unexpected {err:?}"
    );
    match &err {
        Error::SqliteFailure(e, Some(message)) => {
            assert_eq!(e.extended_code, 2067);
            assert!(message.contains("UNIQUE"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = conn
        .execute("INSERT INTO nosuch VALUES (1)", [])
        .unwrap_err();
    assert!(
        matches!(err, Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table")),
        "{err:?}"
    );
    // Rows: one, none, more than one.
    let none = conn
        .query_row("SELECT name FROM t WHERE id = ?1", [99], |r| {
            r.get::<_, String>(0)
        })
        .optional()?;
    assert_eq!(none, None);
    assert!(matches!(
        conn.query_one("SELECT name FROM t", [], |r| r.get::<_, String>(0)),
        Err(Error::QueryReturnedMoreThanOneRow)
    ));
    assert_eq!(
        conn.query_one("SELECT name FROM t WHERE id = 1", [], |r| r
            .get::<_, String>(0))?,
        "a"
    );
    Ok(())
}

pub fn parameters(url: &str) -> Result<()> {
    let conn = Connection::open(url)?;
    conn.execute("CREATE TABLE p (a, b, c)", [])?;
    conn.execute(
        "INSERT INTO p VALUES (:a, @b, $c)",
        named_params! {"$c": 3, ":a": "one", "@b": 2.5},
    )?;
    // A repeated name is one parameter; ?NNN numbers explicitly; literals
    // and comments that look like parameters are not.
    conn.execute(
        "INSERT INTO p VALUES (:x || ':y', ?3, /* :z */ :x) -- ?9",
        named_params! {":x": "x", "?3": 30},
    )?;
    conn.execute(
        "INSERT INTO p VALUES (?, ?, ?)",
        params![1, None::<i64>, "?"],
    )?;
    conn.execute(
        "INSERT INTO p VALUES (?1, ?2, ?3)",
        params_from_iter(vec![7, 8, 9]),
    )?;
    let rows: Vec<(Value, Value, Value)> = conn
        .prepare("SELECT a, b, c FROM p ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    assert_eq!(
        rows,
        vec![
            (
                Value::Text("one".into()),
                Value::Real(2.5),
                Value::Integer(3)
            ),
            (
                Value::Text("x:y".into()),
                Value::Integer(30),
                Value::Text("x".into())
            ),
            (Value::Integer(1), Value::Null, Value::Text("?".into())),
            (Value::Integer(7), Value::Integer(8), Value::Integer(9)),
        ]
    );
    assert!(matches!(
        conn.execute("INSERT INTO p VALUES (:a, 1, 2)", named_params! {":nope": 1}),
        Err(Error::InvalidParameterName(n)) if n == ":nope"
    ));
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Person {
    id: i64,
    name: String,
    data: Option<Vec<u8>>,
}

pub fn prepared_statements(url: &str) -> Result<()> {
    let conn = Connection::open(url)?;
    conn.execute_batch(
        "CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)",
    )?;
    let mut insert = conn.prepare("INSERT INTO person (name, data) VALUES (?1, ?2)")?;
    assert_eq!(insert.parameter_count(), 2);
    assert_eq!(insert.column_count(), 0);
    assert_eq!(insert.insert(params!["Steven", None::<Vec<u8>>])?, 1);
    assert_eq!(insert.insert(params!["Ada", vec![1u8, 2, 3]])?, 2);
    insert.finalize()?;

    let mut select =
        conn.prepare("SELECT id, name, data FROM person WHERE id >= :min ORDER BY id")?;
    // Known before the statement ever ran.
    assert_eq!(
        select.column_names().collect::<Vec<_>>(),
        ["id", "name", "data"]
    );
    assert_eq!(select.column_index("NAME")?, 1);
    assert_eq!(select.parameter_index(":min")?, Some(1));
    let people: Vec<Person> = select
        .query_map(named_params! {":min": 0}, |row| {
            Ok(Person {
                id: row.get("id")?,
                name: row.get(1)?,
                data: row.get(2)?,
            })
        })?
        .collect::<Result<_>>()?;
    assert_eq!(
        people,
        [
            Person {
                id: 1,
                name: "Steven".into(),
                data: None
            },
            Person {
                id: 2,
                name: "Ada".into(),
                data: Some(vec![1, 2, 3])
            },
        ]
    );
    assert!(select.exists(named_params! {":min": 2})?);
    assert!(!select.exists(named_params! {":min": 3})?);
    let names: Vec<String> = select
        .query_and_then(named_params! {":min": 2}, |row| row.get::<_, String>(1))?
        .collect::<Result<_>>()?;
    assert_eq!(names, ["Ada"]);
    // Errors of Row::get.
    select.query_row(named_params! {":min": 1}, |row| {
        assert!(matches!(row.get::<_, i64>(1), Err(Error::InvalidColumnType(1, ref n, Type::Text)) if n == "name"));
        assert!(matches!(row.get::<_, i64>(7), Err(Error::InvalidColumnIndex(7))));
        assert!(matches!(row.get::<_, i64>("nope"), Err(Error::InvalidColumnName(_))));
        assert_eq!(row.get_ref(2)?, ValueRef::Null);
        Ok(())
    })?;
    // The cache hands back a prepared statement; evicted ones are finalized.
    for i in 0..3 {
        let mut stmt = conn.prepare_cached("SELECT count(*) FROM person WHERE id > ?1")?;
        let n: i64 = stmt.query_row([i], |r| r.get(0))?;
        assert_eq!(n, (2 - i).max(0));
    }
    conn.set_prepared_statement_cache_capacity(0);
    conn.flush_prepared_statement_cache();
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM person")?
        .query_row([], |r| r.get(0))?;
    assert_eq!(n, 2);
    // Syntax errors surface at prepare time, as in rusqlite.
    assert!(matches!(
        conn.prepare("SELEC 1"),
        Err(Error::SqliteFailure(..))
    ));
    Ok(())
}

pub fn streaming(url: &str) -> Result<()> {
    let conn = Connection::open(url)?;
    conn.execute_batch(
        "CREATE TABLE big (i INTEGER, s TEXT);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
         INSERT INTO big SELECT i, 'row' || i FROM c;",
    )?;
    let mut stmt = conn.prepare("SELECT i, s FROM big ORDER BY i")?;
    // All rows, over many ROWS messages.
    let mut rows = stmt.query([])?;
    let mut expected = 1;
    while let Some(row) = rows.next()? {
        assert_eq!(row.get::<_, i64>(0)?, expected);
        assert_eq!(row.get::<_, String>(1)?, format!("row{expected}"));
        expected += 1;
    }
    assert_eq!(expected, 3001);
    drop(rows);
    // Other requests in the middle of a result set: the rest is read ahead.
    let mut rows = stmt.query([])?;
    let mut seen = 0;
    while let Some(row) = rows.next()? {
        seen += 1;
        let i: i64 = row.get(0)?;
        if i % 1000 == 0 {
            conn.execute("INSERT INTO big VALUES (?1, 'extra')", [-i])?;
            let n: i64 = conn.query_row("SELECT count(*) FROM big", [], |r| r.get(0))?;
            assert_eq!(n, 3000 + i / 1000);
        }
    }
    assert_eq!(seen, 3000);
    drop(rows);
    // A result set abandoned early is interrupted; the connection goes on.
    {
        let mut rows = stmt.query([])?;
        for _ in 0..10 {
            rows.next()?;
        }
    }
    let n: i64 = conn.query_row("SELECT count(*) FROM big", [], |r| r.get(0))?;
    assert_eq!(n, 3003);
    let first: i64 = conn.query_row("SELECT i FROM big ORDER BY i", [], |r| r.get(0))?;
    assert_eq!(first, -3000);
    Ok(())
}

pub fn transactions(url: &str) -> Result<()> {
    let mut conn = Connection::open(url)?;
    let other = Connection::open(url)?;
    conn.execute_batch("CREATE TABLE acct (name TEXT PRIMARY KEY, balance INTEGER)")?;
    assert!(conn.is_autocommit());
    {
        let tx = conn.transaction()?;
        assert!(!tx.is_autocommit());
        tx.execute("INSERT INTO acct VALUES ('a', 100)", [])?;
        tx.execute("INSERT INTO acct VALUES ('b', 0)", [])?;
        // Not visible elsewhere before the commit.
        let n: i64 = other.query_row("SELECT count(*) FROM acct", [], |r| r.get(0))?;
        assert_eq!(n, 0);
        tx.commit()?;
    }
    assert!(conn.is_autocommit());
    let n: i64 = other.query_row("SELECT count(*) FROM acct", [], |r| r.get(0))?;
    assert_eq!(n, 2);
    // Dropped: rolled back, and the write lock is free again.
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE acct SET balance = balance - 50 WHERE name = 'a'",
            [],
        )?;
    }
    assert!(conn.is_autocommit());
    other.execute("UPDATE acct SET balance = balance + 1 WHERE name = 'b'", [])?;
    let a: i64 = conn.query_row("SELECT balance FROM acct WHERE name = 'a'", [], |r| {
        r.get(0)
    })?;
    assert_eq!(a, 100);
    // Explicit rollback, and savepoints inside a transaction.
    {
        let mut tx = conn.transaction()?;
        tx.execute("UPDATE acct SET balance = 0", [])?;
        {
            let mut sp = tx.savepoint()?;
            sp.execute("INSERT INTO acct VALUES ('c', 5)", [])?;
            {
                let sp2 = sp.savepoint()?;
                sp2.execute("INSERT INTO acct VALUES ('d', 6)", [])?;
                // Dropped: rolled back to its start.
            }
            sp.rollback()?;
            sp.execute("INSERT INTO acct VALUES ('e', 7)", [])?;
            sp.commit()?;
        }
        let names: Vec<String> = tx
            .prepare("SELECT name FROM acct ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_>>()?;
        assert_eq!(names, ["a", "b", "e"]);
        tx.rollback()?;
    }
    let total: i64 = conn.query_row("SELECT sum(balance) FROM acct", [], |r| r.get(0))?;
    assert_eq!(total, 101);
    // A savepoint outside a transaction is one.
    {
        let sp = conn.savepoint()?;
        assert!(!sp.is_autocommit());
        sp.execute("DELETE FROM acct", [])?;
        sp.commit()?;
    }
    assert!(conn.is_autocommit());
    let n: i64 = other.query_row("SELECT count(*) FROM acct", [], |r| r.get(0))?;
    assert_eq!(n, 0);
    // Plain BEGIN/COMMIT statements are followed too.
    conn.execute_batch("BEGIN; INSERT INTO acct VALUES ('z', 1)")?;
    assert!(!conn.is_autocommit());
    conn.execute("COMMIT", [])?;
    assert!(conn.is_autocommit());
    Ok(())
}

pub fn values_nulls_blobs(url: &str) -> Result<()> {
    let conn = Connection::open(url)?;
    conn.execute_batch("CREATE TABLE v (x); CREATE TABLE flags (b BOOLEAN)")?;
    let blob: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let values: Vec<Value> = vec![
        Value::Null,
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Real(-0.0),
        Value::Real(f64::INFINITY),
        Value::Text("héllo ✓ 日本".into()),
        Value::Text(String::new()),
        Value::Blob(Vec::new()),
        Value::Blob(blob.clone()),
    ];
    for v in &values {
        conn.execute("INSERT INTO v VALUES (?1)", [v])?;
    }
    let back: Vec<Value> = conn
        .prepare("SELECT x FROM v ORDER BY rowid")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_>>()?;
    assert_eq!(back.len(), values.len());
    for (a, b) in values.iter().zip(&back) {
        match (a, b) {
            (Value::Real(x), Value::Real(y)) => assert_eq!(x.to_bits(), y.to_bits()),
            _ => assert_eq!(a, b),
        }
    }
    let got: Vec<u8> =
        conn.query_row("SELECT x FROM v WHERE length(x) = ?1", [blob.len()], |r| {
            r.get(0)
        })?;
    assert_eq!(got, blob);
    let absent: Option<i64> =
        conn.query_row("SELECT x FROM v WHERE rowid = 1", [], |r| r.get(0))?;
    assert_eq!(absent, None);
    // Rust types in and out.
    let (small, flag, text): (u8, bool, String) =
        conn.query_row("SELECT ?1, ?2, ?3", params![200u8, true, "t"], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    assert_eq!((small, flag, text.as_str()), (200, true, "t"));
    assert!(matches!(
        conn.query_row("SELECT 300", [], |r| r.get::<_, u8>(0)),
        Err(Error::IntegralValueOutOfRange(0, 300))
    ));
    // dqlite's BOOLEAN column type.
    conn.execute("INSERT INTO flags VALUES (?1), (?2)", [true, false])?;
    let flags: Vec<bool> = conn
        .prepare("SELECT b FROM flags ORDER BY rowid")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_>>()?;
    assert_eq!(flags, [true, false]);
    Ok(())
}

/// Dates through dqlite's DATETIME typing (feature `chrono`).
#[cfg(feature = "chrono")]
pub fn dates(url: &str) -> Result<()> {
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};
    let conn = Connection::open(url)?;
    conn.execute_batch("CREATE TABLE ev (at DATETIME, day DATE, note TEXT)")?;
    let at = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    let day = NaiveDate::from_ymd_opt(2024, 5, 6).unwrap();
    conn.execute("INSERT INTO ev VALUES (?1, ?2, 'text')", params![at, day])?;
    conn.execute("INSERT INTO ev VALUES (NULL, NULL, 'nulls')", [])?;
    conn.execute("INSERT INTO ev VALUES (1700000000, NULL, 'unix')", [])?;
    let rows: Vec<(Option<DateTime<Utc>>, Option<NaiveDate>, String)> = conn
        .prepare("SELECT at, day, note FROM ev ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    assert_eq!(rows[0], (Some(at), Some(day), "text".into()));
    assert_eq!(rows[1], (None, None, "nulls".into()));
    assert_eq!(rows[2].0.map(|d| d.timestamp()), Some(1_700_000_000));
    // SQLite's date functions read what was written.
    let year: String = conn.query_row(
        "SELECT strftime('%Y', at) FROM ev WHERE note = 'text'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(year, "2024");
    Ok(())
}
