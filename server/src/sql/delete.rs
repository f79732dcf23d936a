//! `PRAGMA delete_database` (dqlite 1.18.3, #809): Juju drops a model's
//! database with `BEGIN IMMEDIATE; PRAGMA delete_database; COMMIT`.
//!
//! The VFS accepts the pragma only inside the connection's write
//! transaction (dqlite's message otherwise) and records the request; right
//! after the statement, the session empties the database *in that
//! transaction*: every schema entry goes (with the schema cookie bumped,
//! so every connection reads the empty schema), without walking the
//! tables. The transaction's COMMIT then replicates the empty database
//! like any write; a ROLLBACK keeps everything. Once it committed, the
//! session vacuums the database (a transaction of its own), which shrinks
//! it to one page on every node, so its pages do not stay in memory.
//!
//! What dqlite does differently: it writes the reset page at commit time,
//! ignores the pragma if the transaction also wrote, and removes the
//! database's name once its last connection closes. Here later statements
//! of the same transaction see the database empty (writes after the
//! pragma go to the empty database), and the name stays as an empty
//! database: a later OPEN of that name finds it empty, as with dqlite.

use rusqlite::Connection;

/// Empties the database of `conn` inside its open write transaction.
/// Returns the schema cookie it set: the transaction committed if the
/// database has that cookie (or a later one) once it ended.
pub(crate) fn empty_database(conn: &Connection) -> rusqlite::Result<i64> {
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA writable_schema = ON;
         DELETE FROM sqlite_schema;
         PRAGMA writable_schema = OFF;",
    )?;
    // Every connection (this one too) reads the schema anew.
    conn.execute_batch(&format!("PRAGMA schema_version = {}", version + 1))?;
    Ok(version + 1)
}

/// Once the transaction that emptied `conn`'s database (setting schema
/// cookie `emptied`) has ended: if it committed, vacuums the database,
/// which drops the pages nothing refers to any more. `Ok(None)` while the
/// transaction goes on; `Ok(Some(vacuumed))` once it ended.
pub(crate) fn reclaim_if_ended(conn: &Connection, emptied: i64) -> rusqlite::Result<Option<bool>> {
    if !conn.is_autocommit() {
        return Ok(None);
    }
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    if version < emptied {
        // Rolled back.
        return Ok(Some(false));
    }
    conn.execute_batch("VACUUM")?;
    Ok(Some(true))
}
