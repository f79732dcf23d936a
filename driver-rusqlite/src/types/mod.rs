//! SQL values and the traits that convert Rust values to and from them,
//! mirroring `rusqlite::types`.
//!
//! | Rust | sent as | read from |
//! |---|---|---|
//! | `i8`…`i64`, `isize`, `u8`…`u32`, `bool` | INTEGER | INTEGER, dqlite BOOLEAN (and UNIXTIME) |
//! | `u64`, `usize` | INTEGER (error above `i64::MAX`) | INTEGER |
//! | `f32`, `f64` | FLOAT | FLOAT or INTEGER |
//! | `String`, `&str` | TEXT | TEXT, dqlite ISO8601 |
//! | `Vec<u8>`, `&[u8]`, `[u8; N]` | BLOB | BLOB |
//! | `Option<T>` | NULL for `None` | NULL → `None` |
//! | [`Value`], [`ValueRef`], [`Null`] | as they are | anything |
//!
//! dqlite types some result columns by their declared type: a column
//! declared `DATETIME`, `DATE` or `TIMESTAMP` arrives as ISO8601 text (or
//! UNIXTIME seconds when an integer is stored), and a NULL in it arrives as
//! an empty ISO8601 string; a `BOOLEAN` column arrives as BOOLEAN. This crate
//! reads ISO8601 as TEXT (the empty string as NULL, as go-dqlite does),
//! UNIXTIME and BOOLEAN as INTEGER, so the conversions above and the
//! `chrono`/`time` ones (which accept both text and Unix seconds) apply.
//! A NULL in a `BOOLEAN` column arrives as 0 (dqlite's choice), so it reads
//! as `false`/`Some(0)`, not `None`.

use std::fmt;

mod from_sql;
mod to_sql;
mod value;
mod value_ref;

#[cfg(feature = "serde_json")]
mod serde_json;
#[cfg(any(feature = "chrono", feature = "time"))]
mod temporal;
#[cfg(feature = "uuid")]
mod uuid;

pub use from_sql::{FromSql, FromSqlError, FromSqlResult};
pub use to_sql::{ToSql, ToSqlOutput};
pub use value::Value;
pub use value_ref::ValueRef;

/// The SQL NULL, for binding (`ToSql`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Null;

/// The five SQLite storage classes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// NULL.
    Null,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float.
    Real,
    /// Text.
    Text,
    /// Bytes.
    Blob,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "Null",
            Self::Integer => "Integer",
            Self::Real => "Real",
            Self::Text => "Text",
            Self::Blob => "Blob",
        })
    }
}

pub(crate) use dqlite_client::wire_i64;

/// A value from a dqlite row as this crate presents it (see the module
/// docs for how dqlite's extra types map).
pub(crate) fn from_wire(v: dqlite_protocol::ValueRef<'_>) -> ValueRef<'_> {
    use dqlite_protocol::ValueRef as W;
    match v {
        W::Integer(i) | W::UnixTime(i) => ValueRef::Integer(i),
        W::Boolean(b) => ValueRef::Integer(wire_i64(b)),
        W::Float(f) => ValueRef::Real(f),
        W::Text(t) => ValueRef::Text(t),
        W::Iso8601([]) => ValueRef::Null,
        W::Iso8601(t) => ValueRef::Text(t),
        W::Blob(b) => ValueRef::Blob(b),
        W::Null => ValueRef::Null,
    }
}

/// The wire value for a parameter.
pub(crate) fn to_wire(v: ValueRef<'_>) -> dqlite_protocol::Value {
    use dqlite_protocol::Value as W;
    match v {
        ValueRef::Null => W::Null,
        ValueRef::Integer(i) => W::Integer(i),
        ValueRef::Real(f) => W::Float(f),
        ValueRef::Text(t) => W::Text(t.to_vec()),
        ValueRef::Blob(b) => W::Blob(b.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dqlite_protocol::ValueRef as W;

    #[test]
    fn dqlite_types_read_as_sqlite_storage_classes() {
        assert_eq!(from_wire(W::UnixTime(5)), ValueRef::Integer(5));
        assert_eq!(from_wire(W::Boolean(1)), ValueRef::Integer(1));
        assert_eq!(from_wire(W::Iso8601(b"")), ValueRef::Null);
        assert_eq!(
            from_wire(W::Iso8601(b"2024-01-02")),
            ValueRef::Text(b"2024-01-02")
        );
        assert_eq!(wire_i64(u64::MAX), -1);
    }

    #[test]
    fn parameters_use_the_plain_wire_types() {
        assert_eq!(
            to_wire(ValueRef::Integer(-3)),
            dqlite_protocol::Value::Integer(-3)
        );
        assert_eq!(
            to_wire(ValueRef::Text(b"x")),
            dqlite_protocol::Value::Text(b"x".to_vec())
        );
        assert_eq!(to_wire(ValueRef::Null), dqlite_protocol::Value::Null);
    }
}
