//! [`restore`]: a SQLite file loaded into a database of a running cluster
//! through the leader, with SQL.
//!
//! Why SQL: every write a node takes becomes WAL frames replicated by
//! Raft, so the rows arrive on every node like any other write, and the
//! cluster needs nothing new (no file transfer, no snapshot surgery). The
//! price: the load is as fast as the writes (a batch of rows per Raft
//! entry), it is not one transaction (a reader may see a partly restored
//! database, and a failed restore leaves one: run it again with
//! `force`), and the file is rebuilt rather than copied page for page
//! (the same schema, rows and rowids, not the same bytes).

use std::path::Path;

use dqlite_client::Session;
use dqlite_protocol::Value;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::statements::{exec, integrity, query, quote};
use super::target::{BackupError, Target};
use crate::progress::{Progress, Unit, log_progress};

/// Most bytes of values in one INSERT statement (one Raft entry); a row
/// larger than this goes alone.
const BATCH_BYTES: usize = 1 << 20;
/// Most parameters in one INSERT statement (SQLite's limit is 32766).
const BATCH_PARAMS: usize = 16_384;

/// What a restore loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Tables created and filled.
    pub tables: usize,
    /// Rows inserted, all tables together.
    pub rows: u64,
    /// Indexes, views and triggers created.
    pub others: usize,
    /// Objects dropped first (with `force`).
    pub dropped: usize,
}

/// One entry of the file's `sqlite_schema`.
struct Object {
    kind: String,
    name: String,
    sql: String,
}

/// Loads the SQLite file `file` into `target`'s database.
///
/// A database that holds any table, view, index or trigger is refused
/// unless `force`, which drops them all first. The file is read in one
/// read transaction and must pass `PRAGMA integrity_check`. Then, on the
/// leader: tables are created in the file's order (one transaction), rows
/// copied table by table in INSERT statements of at most 1 MiB of values,
/// rowids kept (`WITHOUT ROWID` tables by their key), generated columns
/// left to SQLite; then `sqlite_sequence` (AUTOINCREMENT counters), then
/// indexes, views and triggers in the file's order (after the rows, so
/// that triggers do not fire on restored rows), and `user_version` and
/// `application_id`. Foreign key checks are off on the leader's
/// connection meanwhile.
///
/// While rows are copied, a `restoring` line at INFO at most every 5 s
/// says how many of the file's rows are done, at what rate and how long
/// the rest should take (fields `db`, `file`, and `unit` = `rows`,
/// `done`, `total`, `percent`, `rate_per_sec`, `eta_secs`, `elapsed_ms`
/// as every progress line; the README's section on logs lists them).
///
/// Refused: virtual tables (their shadow tables cannot be rebuilt through
/// SQL), and text values holding a NUL byte (the wire protocol cannot
/// carry them). Not copied: `sqlite_stat*` (run `ANALYZE` afterwards),
/// and page-level settings (page size, auto_vacuum: the cluster's own).
pub async fn restore(
    target: &Target,
    file: &Path,
    force: bool,
) -> Result<RestoreReport, BackupError> {
    let source = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Not a database, or damaged: say so before touching the cluster.
    if let Err(report) = integrity(&source)? {
        return Err(BackupError::Corrupt {
            path: file.to_owned(),
            report,
        });
    }
    source.execute_batch("BEGIN")?;
    let objects = schema(&source)?;
    if let Some(vtable) = objects.iter().find(|o| is_virtual(&o.sql)) {
        return Err(BackupError::Unsupported(format!(
            "{} is a virtual table",
            vtable.name
        )));
    }
    let mut session = target.session()?;
    let mut report = RestoreReport::default();
    exec(&mut session, "PRAGMA foreign_keys = OFF", Vec::new()).await?;
    report.dropped = clear(&mut session, &target.db, force).await?;

    let (tables, others): (Vec<&Object>, Vec<&Object>) =
        objects.iter().partition(|o| o.kind == "table");
    let create: String = tables.iter().map(|t| format!("{};\n", t.sql)).collect();
    if !create.is_empty() {
        exec(&mut session, &format!("BEGIN;\n{create}COMMIT"), Vec::new()).await?;
    }
    let mut rows = Rows {
        progress: Progress::new(Unit::Rows, count_rows(&source, &tables)?),
        done: 0,
        db: &target.db,
        file,
    };
    for table in &tables {
        report.rows += copy_rows(&source, &mut session, &table.name, &mut rows).await?;
        report.tables += 1;
    }
    copy_sequences(&source, &mut session).await?;
    let create: String = others.iter().map(|o| format!("{};\n", o.sql)).collect();
    if !create.is_empty() {
        exec(&mut session, &format!("BEGIN;\n{create}COMMIT"), Vec::new()).await?;
    }
    report.others = others.len();
    for pragma in ["user_version", "application_id"] {
        let value: i64 = source.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))?;
        if value != 0 {
            exec(
                &mut session,
                &format!("PRAGMA {pragma} = {value}"),
                Vec::new(),
            )
            .await?;
        }
    }
    source.execute_batch("COMMIT")?;
    tracing::info!(
        db = %target.db,
        file = %file.display(),
        tables = report.tables,
        rows = report.rows,
        others = report.others,
        dropped = report.dropped,
        "restore done"
    );
    Ok(report)
}

/// The file's tables, indexes, views and triggers that have SQL (not
/// SQLite's own), in creation order.
fn schema(source: &Connection) -> Result<Vec<Object>, BackupError> {
    let mut stmt = source.prepare(
        "SELECT type, name, sql FROM sqlite_schema \
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )?;
    let objects = stmt
        .query_map([], |row| {
            Ok(Object {
                kind: row.get(0)?,
                name: row.get(1)?,
                sql: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(objects)
}

fn is_virtual(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    words == ["CREATE", "VIRTUAL", "TABLE"]
}

/// Refuses a database that is not empty unless `force`; with `force`,
/// drops everything in it (one transaction). Returns how many objects
/// were dropped.
async fn clear(session: &mut Session, db: &str, force: bool) -> Result<usize, BackupError> {
    let rows = query(
        session,
        "SELECT type, name FROM sqlite_schema \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )
    .await?;
    let objects: Vec<(String, String)> = rows
        .iter()
        .filter_map(|row| match row.as_slice() {
            [Value::Text(kind), Value::Text(name)] => Some((
                String::from_utf8_lossy(kind).into_owned(),
                String::from_utf8_lossy(name).into_owned(),
            )),
            _ => None,
        })
        .collect();
    let has_sequence = !query(
        session,
        "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
    )
    .await?
    .is_empty();
    if objects.is_empty() {
        return Ok(0);
    }
    if !force {
        let mut listed: Vec<String> = objects
            .iter()
            .take(5)
            .map(|(kind, name)| format!("{kind} {name}"))
            .collect();
        if objects.len() > 5 {
            listed.push(format!("{} more", objects.len() - 5));
        }
        return Err(BackupError::NotEmpty {
            db: db.to_owned(),
            objects: listed.join(", "),
        });
    }
    // Triggers and views first (they name tables), then tables, whose
    // indexes go with them.
    let mut sql = String::from("BEGIN;\n");
    for kind in ["trigger", "view", "table"] {
        for (_, name) in objects.iter().filter(|(k, _)| k == kind) {
            sql.push_str(&format!("DROP {} IF EXISTS {};\n", kind, quote(name)));
        }
    }
    for (_, name) in objects.iter().filter(|(k, _)| k == "index") {
        sql.push_str(&format!("DROP INDEX IF EXISTS {};\n", quote(name)));
    }
    if has_sequence {
        sql.push_str("DELETE FROM sqlite_sequence;\n");
    }
    sql.push_str("COMMIT");
    exec(session, &sql, Vec::new()).await?;
    tracing::info!(
        db,
        dropped = objects.len(),
        "cleared the database (--force)"
    );
    Ok(objects.len())
}

/// How to read and write one table's rows.
struct Columns {
    /// The rowid's name (`rowid`, `_rowid_` or `oid`, whichever no column
    /// takes), for tables that have one.
    rowid: Option<&'static str>,
    /// The columns that take values (generated columns left out).
    names: Vec<String>,
}

fn columns(source: &Connection, table: &str) -> Result<Columns, BackupError> {
    let mut stmt = source.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)")?;
    let all = stmt
        .query_map([table], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let without_rowid: bool = source.query_row(
        "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [table],
        |row| row.get(0),
    )?;
    let rowid = if without_rowid {
        None
    } else {
        ["rowid", "_rowid_", "oid"]
            .into_iter()
            .find(|alias| !all.iter().any(|(name, _)| name.eq_ignore_ascii_case(alias)))
    };
    Ok(Columns {
        rowid,
        names: all
            .into_iter()
            .filter(|(_, hidden)| *hidden == 0)
            .map(|(name, _)| name)
            .collect(),
    })
}

/// Rows of all `tables` of the file (what the progress lines count to).
fn count_rows(source: &Connection, tables: &[&Object]) -> Result<u64, BackupError> {
    let mut total = 0u64;
    for table in tables {
        let rows: i64 = source.query_row(
            &format!("SELECT count(*) FROM {}", quote(&table.name)),
            [],
            |row| row.get(0),
        )?;
        total = total.saturating_add(u64::try_from(rows).unwrap_or(0));
    }
    Ok(total)
}

/// The rows copied so far, all tables together, and their progress.
struct Rows<'a> {
    progress: Progress,
    done: u64,
    db: &'a str,
    file: &'a Path,
}

impl Rows<'_> {
    /// Counts `n` more rows copied; logs progress when a line is due.
    fn copied(&mut self, n: u64) {
        self.done += n;
        if let Some(report) = self.progress.step(self.done) {
            log_progress!(report, "restoring", db = %self.db, file = %self.file.display());
        }
    }
}

/// Copies `table`'s rows from `source` to the leader; returns how many.
async fn copy_rows(
    source: &Connection,
    session: &mut Session,
    table: &str,
    progress: &mut Rows<'_>,
) -> Result<u64, BackupError> {
    let Columns { rowid, names } = columns(source, table)?;
    let mut list: Vec<String> = rowid.iter().map(|r| (*r).to_owned()).collect();
    list.extend(names.iter().map(|n| quote(n)));
    let list = list.join(", ");
    let width = rowid.iter().count() + names.len();
    let order = rowid.map(|r| format!(" ORDER BY {r}")).unwrap_or_default();
    let mut stmt = source.prepare(&format!("SELECT {list} FROM {}{order}", quote(table)))?;
    let mut rows = stmt.query([])?;
    let insert = format!("INSERT INTO {}({list}) VALUES ", quote(table));
    let placeholder = format!("({})", vec!["?"; width].join(", "));
    let (mut values, mut batch_rows, mut bytes, mut total) = (Vec::new(), 0usize, 0usize, 0u64);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            for i in 0..width {
                let value = to_wire(row.get_ref(i)?, table)?;
                bytes += size(&value);
                values.push(value);
            }
            batch_rows += 1;
        }
        let full = bytes >= BATCH_BYTES || values.len() + width > BATCH_PARAMS;
        if batch_rows > 0 && (full || row.is_none()) {
            let sql = format!(
                "{insert}{}",
                vec![placeholder.as_str(); batch_rows].join(", ")
            );
            exec(session, &sql, std::mem::take(&mut values)).await?;
            total += batch_rows as u64;
            progress.copied(batch_rows as u64);
            (batch_rows, bytes) = (0, 0);
        }
        if row.is_none() {
            break;
        }
    }
    tracing::debug!(table, rows = total, "table copied");
    Ok(total)
}

/// The AUTOINCREMENT counters: set as the file has them (they may be
/// above the largest rowid, after deletions).
async fn copy_sequences(source: &Connection, session: &mut Session) -> Result<(), BackupError> {
    let exists: bool = source.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(());
    }
    let mut stmt = source.prepare("SELECT name, seq FROM sqlite_sequence")?;
    let sequences = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if sequences.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("BEGIN;\nDELETE FROM sqlite_sequence;\n");
    for (name, seq) in sequences {
        sql.push_str(&format!(
            "INSERT INTO sqlite_sequence(name, seq) VALUES ('{}', {seq});\n",
            name.replace('\'', "''")
        ));
    }
    sql.push_str("COMMIT");
    exec(session, &sql, Vec::new()).await?;
    Ok(())
}

/// A value of the file as the wire carries it.
fn to_wire(value: ValueRef<'_>, table: &str) -> Result<Value, BackupError> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Float(v),
        ValueRef::Text(text) if text.contains(&0) => {
            return Err(BackupError::Unsupported(format!(
                "a text value of table {table} holds a NUL byte, which the dqlite protocol cannot carry"
            )));
        }
        ValueRef::Text(text) => Value::Text(text.to_vec()),
        ValueRef::Blob(blob) => Value::Blob(blob.to_vec()),
    })
}

/// Roughly the bytes `value` takes on the wire.
fn size(value: &Value) -> usize {
    match value {
        Value::Text(b) | Value::Blob(b) | Value::Iso8601(b) => b.len() + 8,
        _ => 8,
    }
}
