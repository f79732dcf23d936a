//! [`DqliteTypeInfo`]: the type of a value as the dqlite wire tells it.

use std::fmt;

use sqlx_core::type_info::TypeInfo;

/// The wire types of dqlite: SQLite's five storage classes plus the three
/// that dqlite gives result columns by their declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DqliteDataType {
    /// NULL.
    Null,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float.
    Float,
    /// Text.
    Text,
    /// Bytes.
    Blob,
    /// dqlite's BOOLEAN: a column declared `BOOLEAN`.
    Boolean,
    /// dqlite's ISO8601: text in a column declared `DATETIME`, `DATE` or
    /// `TIMESTAMP`.
    Iso8601,
    /// dqlite's UNIXTIME: an integer in such a column (seconds).
    UnixTime,
}

/// The type of a value, a column or a Rust type's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DqliteTypeInfo(pub(crate) DqliteDataType);

impl DqliteTypeInfo {
    /// The type info of a wire type.
    pub const fn new(data_type: DqliteDataType) -> Self {
        Self(data_type)
    }

    /// The wire type.
    pub fn data_type(&self) -> DqliteDataType {
        self.0
    }

    pub(crate) fn is_integer_like(&self) -> bool {
        matches!(
            self.0,
            DqliteDataType::Integer | DqliteDataType::Boolean | DqliteDataType::UnixTime
        )
    }

    pub(crate) fn is_text_like(&self) -> bool {
        matches!(self.0, DqliteDataType::Text | DqliteDataType::Iso8601)
    }
}

impl TypeInfo for DqliteTypeInfo {
    fn is_null(&self) -> bool {
        self.0 == DqliteDataType::Null
    }

    fn name(&self) -> &str {
        match self.0 {
            DqliteDataType::Null => "NULL",
            DqliteDataType::Integer => "INTEGER",
            DqliteDataType::Float => "REAL",
            DqliteDataType::Text => "TEXT",
            DqliteDataType::Blob => "BLOB",
            DqliteDataType::Boolean => "BOOLEAN",
            DqliteDataType::Iso8601 => "DATETIME",
            DqliteDataType::UnixTime => "UNIXTIME",
        }
    }
}

impl fmt::Display for DqliteTypeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}
