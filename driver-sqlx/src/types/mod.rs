//! Conversions between Rust types and dqlite values.
//!
//! | Rust | sent as | decodes from |
//! |---|---|---|
//! | `bool` | INTEGER 0/1 | BOOLEAN, INTEGER |
//! | `i8`, `i16`, `i32`, `i64`, `u8`, `u16`, `u32` | INTEGER | INTEGER, BOOLEAN, UNIXTIME (range checked) |
//! | `u64` | INTEGER (error above `i64::MAX`) | INTEGER ≥ 0 |
//! | `f32`, `f64` | FLOAT | FLOAT, INTEGER |
//! | `&str`, `String`, `Box<str>`, `Arc<str>`, `Cow<str>` | TEXT | TEXT, ISO8601 |
//! | `&[u8]`, `Vec<u8>`, `Box<[u8]>`, `Arc<[u8]>` | BLOB | BLOB, TEXT |
//! | `Option<T>` | NULL for `None` | NULL → `None` |
//! | chrono `NaiveDate`, `NaiveTime`, `NaiveDateTime`, `DateTime<Tz>` (feature `chrono`; decoded for `Utc`, `Local`, `FixedOffset`) | TEXT (ISO 8601, go-dqlite's layout) | ISO8601, TEXT, UNIXTIME, INTEGER (Unix seconds) |
//! | time `Date`, `Time`, `PrimitiveDateTime`, `OffsetDateTime` (feature `time`) | TEXT (ISO 8601, go-dqlite's layout) | ISO8601, TEXT, UNIXTIME, INTEGER |
//! | `uuid::Uuid` (feature `uuid`) | BLOB (16 bytes) | BLOB, TEXT (hyphenated) |
//! | `Json<T>`, `serde_json::Value` (feature `json`) | TEXT | TEXT, BLOB |
//!
//! dqlite types result columns by their declared type: a column declared
//! `DATETIME`, `DATE` or `TIMESTAMP` arrives as ISO8601 text (or UNIXTIME
//! seconds when an integer is stored), a NULL in it as an empty ISO8601
//! string, which decodes as NULL here (as go-dqlite reads it); a `BOOLEAN`
//! column arrives as BOOLEAN, and a NULL in it as 0 (dqlite's choice), so
//! it decodes as `Some(false)`, not `None`.

mod bool;
mod bytes;
mod float;
mod int;
mod str;

#[cfg(feature = "json")]
mod json;
#[cfg(any(feature = "chrono", feature = "time"))]
mod temporal;
#[cfg(feature = "uuid")]
mod uuid;

/// The type info of a wire type.
pub(crate) const fn info(data_type: crate::DqliteDataType) -> crate::DqliteTypeInfo {
    crate::DqliteTypeInfo::new(data_type)
}
