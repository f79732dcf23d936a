//! Splitting SQL text into statements exactly as SQLite parses it.

use std::ffi::c_int;

use rusqlite::{Connection, ffi};

use crate::error::{Error, Result};

/// How SQLite reads the start of some SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Bytes consumed: the first statement with its `;`, or all the
    /// whitespace and comments if there is no statement.
    pub(crate) consumed: usize,
    /// Whether a statement was found.
    pub(crate) statement: bool,
}

/// How SQLite splits some SQL text, remembered per thread (all of a node's
/// connections run on its thread): clients send the same texts again and
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Statement {
    /// Bytes of the text the first statement takes.
    pub(crate) len: usize,
    /// Whether another statement follows it.
    pub(crate) nonempty_tail: bool,
}

/// Texts remembered per thread before the cache is cleared.
const CACHE_ENTRIES: usize = 512;

thread_local! {
    static SPLITS: std::cell::RefCell<std::collections::HashMap<String, Statement>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The first statement of `sql` and whether more statements follow;
/// `None` if the text holds no statement. Cached by text.
pub(crate) fn first_statement_cached(conn: &Connection, sql: &str) -> Result<Option<Statement>> {
    if let Some(hit) = SPLITS.with(|c| c.borrow().get(sql).copied()) {
        return Ok(Some(hit));
    }
    let split = first_statement(conn, sql)?;
    if !split.statement {
        return Ok(None);
    }
    let tail = &sql[split.consumed..];
    // Only whitespace and comments compile to "no statement"; a tail that
    // does not compile (it may use a table the first statement creates)
    // still holds something.
    let nonempty_tail =
        !tail.trim().is_empty() && first_statement(conn, tail).map_or(true, |t| t.statement);
    let found = Statement {
        len: split.consumed,
        nonempty_tail,
    };
    SPLITS.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(sql.to_owned(), found);
    });
    Ok(Some(found))
}

/// Parses (without running) the first statement of `sql` on `conn`.
pub(crate) fn first_statement(conn: &Connection, sql: &str) -> Result<Split> {
    let len = c_int::try_from(sql.len()).map_err(|_| Error::Sqlite {
        code: ffi::SQLITE_TOOBIG,
        message: "SQL text too long".into(),
    })?;
    let mut stmt = std::ptr::null_mut();
    let mut tail = std::ptr::null();
    // SAFETY: the handle is valid for the connection's lifetime; `sql` is
    // valid for `len` bytes; the statement is finalized before returning.
    let rc = unsafe {
        let rc = ffi::sqlite3_prepare_v2(
            conn.handle(),
            sql.as_ptr().cast(),
            len,
            &mut stmt,
            &mut tail,
        );
        ffi::sqlite3_finalize(stmt);
        rc
    };
    if rc != ffi::SQLITE_OK {
        // Prepare again through rusqlite for its error (code and message).
        return Err(conn.prepare(sql).err().map_or(
            Error::Sqlite {
                code: rc,
                message: "cannot prepare statement".into(),
            },
            Error::from,
        ));
    }
    // SAFETY: SQLite sets `tail` inside (or at the end of) `sql`.
    let consumed = if tail.is_null() {
        sql.len()
    } else {
        usize::try_from(unsafe { tail.cast::<u8>().offset_from(sql.as_ptr()) }).unwrap_or(sql.len())
    };
    Ok(Split {
        consumed,
        statement: !stmt.is_null(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let split = |sql: &str| first_statement(&conn, sql).unwrap();
        assert_eq!(
            split("SELECT 1; SELECT 2"),
            Split {
                consumed: 9,
                statement: true
            }
        );
        assert_eq!(
            split("SELECT ';'; x"),
            Split {
                consumed: 11,
                statement: true
            }
        );
        assert_eq!(
            split("  -- only a comment"),
            Split {
                consumed: 19,
                statement: false
            }
        );
        assert_eq!(
            split(""),
            Split {
                consumed: 0,
                statement: false
            }
        );
        assert_eq!(
            split(";"),
            Split {
                consumed: 1,
                statement: false
            }
        );
        assert!(matches!(
            first_statement(&conn, "SELEC 1"),
            Err(Error::Sqlite { code: 1, .. })
        ));
    }
}
