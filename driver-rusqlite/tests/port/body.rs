// Written against rusqlite's API; included by main.rs into one module per
// crate. Each test opens its own database with `open_db()`.

#[derive(Debug, PartialEq)]
struct Person {
    id: i32,
    name: String,
    data: Option<Vec<u8>>,
}

#[test]
fn persons_example() -> Result<()> {
    let conn = open_db()?;
    conn.execute(
        "CREATE TABLE person (
            id    INTEGER PRIMARY KEY,
            name  TEXT NOT NULL,
            data  BLOB
        )",
        (),
    )?;
    let me = Person { id: 0, name: "Steven".to_string(), data: None };
    conn.execute("INSERT INTO person (name, data) VALUES (?1, ?2)", (&me.name, &me.data))?;
    conn.execute("INSERT INTO person (name, data) VALUES (?1, ?2)", params!["Ada", vec![1u8, 2]])?;

    let mut stmt = conn.prepare("SELECT id, name, data FROM person")?;
    let person_iter = stmt.query_map([], |row| {
        Ok(Person { id: row.get(0)?, name: row.get(1)?, data: row.get(2)? })
    })?;
    let people: Vec<Person> = person_iter.collect::<Result<_>>()?;
    assert_eq!(
        people,
        [
            Person { id: 1, name: "Steven".into(), data: None },
            Person { id: 2, name: "Ada".into(), data: Some(vec![1, 2]) },
        ]
    );
    Ok(())
}

#[test]
fn batch_and_counters() -> Result<()> {
    let conn = open_db()?;
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE foo (x INTEGER);
         CREATE TABLE bar (y TEXT);
         INSERT INTO foo VALUES (1), (2), (3);
         COMMIT;",
    )?;
    assert!(conn.is_autocommit());
    assert_eq!(conn.execute("UPDATE foo SET x = x + 1 WHERE x > ?1", [1])?, 2);
    assert_eq!(conn.execute("INSERT INTO bar VALUES (?1)", ["hello"])?, 1);
    assert_eq!(conn.last_insert_rowid(), 1);
    let sum: i64 = conn.query_row("SELECT sum(x) FROM foo", [], |r| r.get(0))?;
    assert_eq!(sum, 8);
    Ok(())
}

#[test]
fn parameters_of_every_shape() -> Result<()> {
    let conn = open_db()?;
    conn.execute("CREATE TABLE p (a, b, c)", [])?;
    conn.execute("INSERT INTO p VALUES (?1, ?2, ?3)", [1, 2, 3])?;
    conn.execute("INSERT INTO p VALUES (?, ?, ?)", (4, "five", 6.5))?;
    conn.execute("INSERT INTO p VALUES (?3, ?1, ?2)", params![8, 9, 7])?;
    conn.execute(
        "INSERT INTO p VALUES (:a, @b, $c)",
        named_params! { ":a": 10, "@b": 11, "$c": 12 },
    )?;
    conn.execute(
        "INSERT INTO p VALUES (:x, :x, :y)",
        &[(":x", &13 as &dyn ToSql), (":y", &14)],
    )?;
    conn.execute("INSERT INTO p VALUES (?, ?, ?)", params_from_iter([15, 16, 17].iter()))?;
    let mut stmt = conn.prepare("SELECT a, b, c FROM p ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push((row.get::<_, Value>(0)?, row.get::<_, Value>("b")?, row.get::<_, Value>(2)?));
    }
    assert_eq!(all.len(), 6);
    assert_eq!(all[1].1, Value::Text("five".into()));
    assert_eq!(all[2], (Value::Integer(7), Value::Integer(8), Value::Integer(9)));
    assert_eq!(all[4], (Value::Integer(13), Value::Integer(13), Value::Integer(14)));
    match conn.execute("INSERT INTO p VALUES (?1, ?2, ?3)", [1, 2]) {
        Err(Error::InvalidParameterCount(given, expected)) => assert_eq!((given, expected), (2, 3)),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn optional_rows() -> Result<()> {
    let conn = open_db()?;
    conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER); INSERT INTO t VALUES ('a', 1)")?;
    let found: Option<i64> = conn
        .query_row("SELECT v FROM t WHERE k = ?1", ["a"], |r| r.get(0))
        .optional()?;
    assert_eq!(found, Some(1));
    let missing: Option<i64> = conn
        .query_row("SELECT v FROM t WHERE k = ?1", ["b"], |r| r.get(0))
        .optional()?;
    assert_eq!(missing, None);
    let err = conn.query_row("SELECT v FROM t WHERE k = 'b'", [], |r| r.get::<_, i64>(0));
    assert!(matches!(err, Err(Error::QueryReturnedNoRows)));
    let mut stmt = conn.prepare("SELECT 1 FROM t WHERE k = ?1")?;
    assert!(stmt.exists(["a"])?);
    assert!(!stmt.exists(["z"])?);
    Ok(())
}

#[test]
fn transactions_with_rollback() -> Result<()> {
    let mut conn = open_db()?;
    conn.execute("CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)", [])?;
    conn.execute("INSERT INTO acct VALUES (1, 100), (2, 0)", [])?;
    {
        let tx = conn.transaction()?;
        tx.execute("UPDATE acct SET balance = balance - 30 WHERE id = 1", [])?;
        tx.execute("UPDATE acct SET balance = balance + 30 WHERE id = 2", [])?;
        tx.commit()?;
    }
    {
        let tx = conn.transaction()?;
        tx.execute("UPDATE acct SET balance = 0", [])?;
        tx.rollback()?;
    }
    {
        // Dropped without commit: rolled back.
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM acct", [])?;
    }
    {
        let mut tx = conn.transaction()?;
        {
            let sp = tx.savepoint()?;
            sp.execute("UPDATE acct SET balance = -1", [])?;
        }
        tx.execute("UPDATE acct SET balance = balance + 1 WHERE id = 1", [])?;
        tx.commit()?;
    }
    let balances: Vec<i64> = conn
        .prepare("SELECT balance FROM acct ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_>>()?;
    assert_eq!(balances, [71, 30]);
    assert!(conn.is_autocommit());
    Ok(())
}

#[test]
fn blobs_nulls_and_types() -> Result<()> {
    let conn = open_db()?;
    conn.execute("CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n)", [])?;
    let blob = vec![0u8, 255, 1, 254];
    conn.execute(
        "INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5)",
        params![i64::MAX, 0.5f64, "ünïcode", blob, None::<i32>],
    )?;
    conn.query_row("SELECT i, r, t, b, n FROM v", [], |row| {
        assert_eq!(row.get::<_, i64>(0)?, i64::MAX);
        assert_eq!(row.get::<_, f64>(1)?, 0.5);
        assert_eq!(row.get::<_, String>(2)?, "ünïcode");
        assert_eq!(row.get::<_, Vec<u8>>(3)?, blob);
        assert_eq!(row.get::<_, Option<i32>>(4)?, None);
        assert_eq!(row.get_ref(4)?, ValueRef::Null);
        assert_eq!(row.get_ref(3)?.as_blob()?, &blob[..]);
        assert!(matches!(row.get::<_, i32>(4), Err(Error::InvalidColumnType(4, _, _))));
        assert!(matches!(row.get::<_, i32>(9), Err(Error::InvalidColumnIndex(9))));
        assert!(matches!(row.get::<_, i32>("nope"), Err(Error::InvalidColumnName(_))));
        Ok(())
    })?;
    Ok(())
}

/// A type of the application's, with its own conversions.
#[derive(Debug, PartialEq)]
struct Meters(f64);

impl ToSql for Meters {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for Meters {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Real(f) if f >= 0.0 => Ok(Meters(f)),
            ValueRef::Real(_) => Err(FromSqlError::OutOfRange(0)),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[test]
fn custom_types() -> Result<()> {
    let conn = open_db()?;
    conn.execute("CREATE TABLE d (m REAL)", [])?;
    conn.execute("INSERT INTO d VALUES (?1)", [Meters(12.5)])?;
    let m: Meters = conn.query_row("SELECT m FROM d", [], |r| r.get(0))?;
    assert_eq!(m, Meters(12.5));
    Ok(())
}

#[test]
fn constraint_errors() -> Result<()> {
    let conn = open_db()?;
    conn.execute("CREATE TABLE u (x INTEGER UNIQUE NOT NULL)", [])?;
    conn.execute("INSERT INTO u VALUES (1)", [])?;
    match conn.execute("INSERT INTO u VALUES (1)", []) {
        Err(Error::SqliteFailure(err, Some(msg))) if err.code == ErrorCode::ConstraintViolation => {
            assert_eq!(err.extended_code, 2067);
            assert!(msg.contains("UNIQUE"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        conn.execute("INSERT INTO u VALUES (NULL)", []).unwrap_err().sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation)
    );
    Ok(())
}

#[derive(Debug)]
enum AppError {
    Db(Error),
    Negative(i64),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Db(e)
    }
}

#[test]
fn query_and_then_with_an_application_error() -> Result<()> {
    let conn = open_db()?;
    conn.execute_batch("CREATE TABLE n (v INTEGER); INSERT INTO n VALUES (1), (-2), (3)")?;
    let mut stmt = conn.prepare("SELECT v FROM n ORDER BY rowid")?;
    let checked: Vec<std::result::Result<i64, AppError>> = stmt
        .query_and_then([], |row| -> std::result::Result<i64, AppError> {
            let v: i64 = row.get(0)?;
            if v < 0 { Err(AppError::Negative(v)) } else { Ok(v) }
        })?
        .collect();
    assert!(matches!(checked[0], Ok(1)));
    assert!(matches!(checked[1], Err(AppError::Negative(-2))));
    assert!(matches!(checked[2], Ok(3)));
    let first = |row: &Row<'_>| row.get::<_, i64>(0);
    assert_eq!(conn.query_row("SELECT v FROM n ORDER BY rowid", [], first)?, 1);
    if let Err(AppError::Db(e)) = conn.query_row_and_then("SELECT v FROM n WHERE v > 10", [], |r| {
        r.get::<_, i64>(0).map_err(AppError::from)
    }) {
        assert!(matches!(e, Error::QueryReturnedNoRows));
    } else {
        panic!("expected no rows");
    }
    Ok(())
}

#[test]
fn column_metadata() -> Result<()> {
    let conn = open_db()?;
    conn.execute("CREATE TABLE c (alpha INTEGER, beta TEXT)", [])?;
    let stmt = conn.prepare("SELECT alpha, beta AS b FROM c")?;
    assert_eq!(stmt.column_count(), 2);
    assert_eq!(stmt.column_names().collect::<Vec<_>>(), vec!["alpha", "b"]);
    assert_eq!(stmt.column_name(1)?, "b");
    assert_eq!(stmt.column_index("ALPHA")?, 0);
    Ok(())
}

#[cfg(feature = "chrono")]
#[test]
fn dates() -> Result<()> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
    let conn = open_db()?;
    conn.execute("CREATE TABLE ev (at DATETIME, day DATE, local TEXT)", [])?;
    let at: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    let day = NaiveDate::from_ymd_opt(2024, 5, 6).unwrap();
    let local: NaiveDateTime = day.and_hms_opt(7, 8, 9).unwrap();
    conn.execute("INSERT INTO ev VALUES (?1, ?2, ?3)", params![at, day, local])?;
    conn.execute("INSERT INTO ev VALUES (NULL, NULL, NULL)", [])?;
    type Event = (Option<DateTime<Utc>>, Option<NaiveDate>, Option<NaiveDateTime>);
    let rows: Vec<Event> = conn
        .prepare("SELECT at, day, local FROM ev ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    assert_eq!(rows, [(Some(at), Some(day), Some(local)), (None, None, None)]);
    let later: i64 = conn.query_row(
        "SELECT count(*) FROM ev WHERE at > ?1",
        [Utc.with_ymd_and_hms(2023, 12, 31, 0, 0, 0).unwrap()],
        |r| r.get(0),
    )?;
    assert_eq!(later, 1);
    Ok(())
}
