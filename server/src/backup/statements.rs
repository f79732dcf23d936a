//! Small helpers: SQL run on the leader through a client session, SQL
//! quoting, and SQLite's integrity check of a local file.

use dqlite_client::{ResultSet, Session};
use dqlite_protocol::Value;
use dqlite_protocol::response::RowsReader;

use super::target::BackupError;

/// Quotes an SQL identifier.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs every statement of `sql` on the leader.
pub(super) async fn exec(
    session: &mut Session,
    sql: &str,
    values: Vec<Value>,
) -> Result<u64, BackupError> {
    let info = dqlite_client::sql::SqlInfo::new(sql);
    Ok(session.exec_sql(sql, &info, values).await?)
}

/// Runs the query `sql` on the leader and returns all its rows.
pub(super) async fn query(
    session: &mut Session,
    sql: &str,
) -> Result<Vec<Vec<Value>>, BackupError> {
    let info = dqlite_client::sql::SqlInfo::new(sql);
    let started = session.query_sql(sql, &info, Vec::new()).await?;
    let (mut rest, first) = ResultSet::new(started, session.shared());
    let mut rows = Vec::new();
    read_rows(&first.body, &mut rows)?;
    while let Some(frame) = rest.next_frame(session).await? {
        read_rows(&frame.body, &mut rows)?;
    }
    Ok(rows)
}

/// Appends the rows of one ROWS message to `rows`.
fn read_rows(body: &[u8], rows: &mut Vec<Vec<Value>>) -> Result<(), BackupError> {
    let bad = |e: dqlite_protocol::DecodeError| {
        BackupError::Client(dqlite_client::Error::Protocol(format!("bad ROWS: {e}")))
    };
    let mut reader = RowsReader::new(body).map_err(bad)?;
    let mut row = Vec::new();
    while reader.next_into(&mut row).map_err(bad)? {
        rows.push(row.drain(..).map(|v| v.to_owned()).collect());
    }
    Ok(())
}

/// What `PRAGMA integrity_check` says about `conn`'s database: `Ok` or
/// its first lines.
pub(super) fn integrity(conn: &rusqlite::Connection) -> Result<Result<(), String>, BackupError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)")?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(if lines == ["ok"] {
        Ok(())
    } else {
        Err(lines.join("; "))
    })
}
