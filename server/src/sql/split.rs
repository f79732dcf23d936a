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
