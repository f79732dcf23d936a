//! Turning SQLite values into wire values and rows into ROWS messages.
//!
//! Column typing follows dqlite (spec §4.4): a column declared `DATETIME`,
//! `DATE` or `TIMESTAMP` sends integers as UNIXTIME, text as ISO8601 and
//! NULL as an empty ISO8601; a column declared `BOOLEAN` sends integers as
//! BOOLEAN and NULL as false. Where the C server aborts (a REAL in a
//! DATETIME column, TEXT in a BOOLEAN column) the value's own type is sent.

use bytes::{Bytes, BytesMut};
use dqlite_protocol::ValueRef as Wire;
use dqlite_protocol::response::{RowsEnd, RowsWriter};
use rusqlite::types::{ToSqlOutput, ValueRef as Sql};
use rusqlite::{Rows, Statement, ToSql};

use crate::error::{Error, Result};

/// Size at which a ROWS message is ended with PART, as the C server does
/// (one memory page).
pub(crate) const BATCH_BYTES: usize = 4096;

/// How a declared column type changes the wire type of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Plain,
    Time,
    Boolean,
}

impl ColumnKind {
    fn of(decl: Option<&str>) -> Self {
        match decl {
            Some(d)
                if ["DATETIME", "DATE", "TIMESTAMP"]
                    .iter()
                    .any(|t| d.eq_ignore_ascii_case(t)) =>
            {
                Self::Time
            }
            Some(d) if d.eq_ignore_ascii_case("BOOLEAN") => Self::Boolean,
            _ => Self::Plain,
        }
    }

    /// The wire value of `value` in a column of this kind. Text stops at
    /// its first NUL, as in dqlite: the wire's text is NUL-terminated.
    pub(crate) fn wire(self, value: Sql<'_>) -> Wire<'_> {
        let value = match value {
            Sql::Text(t) => Sql::Text(t.split(|&b| b == 0).next().unwrap_or(t)),
            other => other,
        };
        match (self, value) {
            (Self::Time, Sql::Integer(v)) => Wire::UnixTime(v),
            (Self::Time, Sql::Text(t)) => Wire::Iso8601(t),
            (Self::Time, Sql::Null) => Wire::Iso8601(b""),
            (Self::Boolean, Sql::Integer(v)) => Wire::Boolean(v.cast_unsigned()),
            (Self::Boolean, Sql::Null) => Wire::Boolean(0),
            (_, Sql::Integer(v)) => Wire::Integer(v),
            (_, Sql::Real(v)) => Wire::Float(v),
            (_, Sql::Text(t)) => Wire::Text(t),
            (_, Sql::Blob(b)) => Wire::Blob(b),
            (_, Sql::Null) => Wire::Null,
        }
    }
}

/// The column kinds of a statement's result.
pub(crate) fn column_kinds(stmt: &Statement<'_>) -> Vec<ColumnKind> {
    stmt.columns()
        .map(|c| ColumnKind::of(c.decl_type()))
        .collect()
}

/// A wire parameter as SQLite binds it: ISO8601 as text, BOOLEAN as 0/1.
pub(crate) struct Param<'a>(pub(crate) &'a dqlite_protocol::Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use dqlite_protocol::Value as V;
        Ok(ToSqlOutput::Borrowed(match self.0 {
            V::Integer(v) | V::UnixTime(v) => Sql::Integer(*v),
            V::Float(v) => Sql::Real(*v),
            V::Text(t) | V::Iso8601(t) => Sql::Text(t),
            V::Blob(b) => Sql::Blob(b),
            V::Null => Sql::Null,
            V::Boolean(v) => Sql::Integer(i64::from(*v != 0)),
        }))
    }
}

/// Binds `params` to parameters 1, 2, … of `stmt`, after clearing earlier
/// bindings (unbound parameters are NULL, as in dqlite ≥ 1.18.2).
pub(crate) fn bind(stmt: &mut Statement<'_>, params: &[dqlite_protocol::Value]) -> Result<()> {
    stmt.clear_bindings();
    for (i, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(value))?;
    }
    Ok(())
}

/// Steps through `rows` until one ROWS message is complete, cutting
/// messages as the C server does: after each row, a message that reached
/// [`BATCH_BYTES`] is ended with PART before the next step, so a result
/// whose last row fills a message ends with an extra zero-row DONE
/// message. Every PART message carries at least one row (the C server can
/// loop on zero-row PARTs when column names fill a page). Returns the
/// message and whether it is the last (DONE). A step error ends the stream
/// with that error; messages returned before it stay valid.
pub(crate) fn next_batch(
    rows: &mut Rows<'_>,
    names: &[String],
    kinds: &[ColumnKind],
) -> Result<(Bytes, bool)> {
    let mut buf = BytesMut::with_capacity(BATCH_BYTES * 2);
    let mut writer = RowsWriter::begin(&mut buf, names).map_err(encode_error)?;
    while let Some(row) = rows.next()? {
        let values = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| Ok(kind.wire(row.get_ref(i)?)))
            .collect::<Result<Vec<_>>>()?;
        writer.push_row(values).map_err(encode_error)?;
        if writer.message_len() >= BATCH_BYTES {
            writer.finish(RowsEnd::Part).map_err(encode_error)?;
            return Ok((buf.freeze(), false));
        }
    }
    writer.finish(RowsEnd::Done).map_err(encode_error)?;
    Ok((buf.freeze(), true))
}

fn encode_error(e: dqlite_protocol::EncodeError) -> Error {
    // A text value with an embedded NUL cannot travel; SQLite can hold one.
    Error::Sqlite {
        code: rusqlite::ffi::SQLITE_ERROR,
        message: format!("result cannot be encoded: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_change_wire_types() {
        let time = ColumnKind::of(Some("datetime"));
        assert_eq!(time.wire(Sql::Integer(5)), Wire::UnixTime(5));
        assert_eq!(time.wire(Sql::Null), Wire::Iso8601(b""));
        assert_eq!(
            time.wire(Sql::Real(1.5)),
            Wire::Float(1.5),
            "no crash on REAL"
        );
        let boolean = ColumnKind::of(Some("BOOLEAN"));
        assert_eq!(boolean.wire(Sql::Integer(7)), Wire::Boolean(7));
        assert_eq!(boolean.wire(Sql::Null), Wire::Boolean(0));
        assert_eq!(
            boolean.wire(Sql::Text(b"x")),
            Wire::Text(b"x"),
            "no crash on TEXT"
        );
        assert_eq!(
            ColumnKind::of(Some("TIMESTAMP WITH TIME ZONE")),
            ColumnKind::Plain
        );
        assert_eq!(ColumnKind::of(None), ColumnKind::Plain);
        assert_eq!(
            ColumnKind::Plain.wire(Sql::Text(b"ab\0cd")),
            Wire::Text(b"ab")
        );
    }
}
