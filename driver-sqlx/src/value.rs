//! [`DqliteValue`] (owned) and [`DqliteValueRef`] (borrowed from a row).

use std::borrow::Cow;

use dqlite_protocol::ValueRef as Wire;
use sqlx_core::value::{Value, ValueRef};

use crate::Dqlite;
use crate::type_info::{DqliteDataType, DqliteTypeInfo};

/// What a value holds: SQLite's storage classes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    Null,
    Integer(i64),
    Float(f64),
    /// Bytes as received: SQLite does not promise UTF-8.
    Text(Box<[u8]>),
    Blob(Box<[u8]>),
}

/// A value of a row, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct DqliteValue {
    pub(crate) data: Data,
    pub(crate) type_info: DqliteTypeInfo,
}

impl DqliteValue {
    /// A value as dqlite sent it. ISO8601 keeps its type but holds text
    /// (the empty string, dqlite's NULL in such a column, is NULL);
    /// UNIXTIME and BOOLEAN hold integers.
    pub(crate) fn from_wire(value: Wire<'_>) -> Self {
        let (data, ty) = match value {
            Wire::Integer(i) => (Data::Integer(i), DqliteDataType::Integer),
            Wire::Float(f) => (Data::Float(f), DqliteDataType::Float),
            Wire::Text(t) => (Data::Text(t.into()), DqliteDataType::Text),
            Wire::Blob(b) => (Data::Blob(b.into()), DqliteDataType::Blob),
            Wire::Null => (Data::Null, DqliteDataType::Null),
            Wire::UnixTime(i) => (Data::Integer(i), DqliteDataType::UnixTime),
            Wire::Iso8601([]) => (Data::Null, DqliteDataType::Null),
            Wire::Iso8601(t) => (Data::Text(t.into()), DqliteDataType::Iso8601),
            Wire::Boolean(b) => (
                Data::Integer(dqlite_client::wire_i64(b)),
                DqliteDataType::Boolean,
            ),
        };
        Self {
            data,
            type_info: DqliteTypeInfo(ty),
        }
    }
}

impl Value for DqliteValue {
    type Database = Dqlite;

    fn as_ref(&self) -> DqliteValueRef<'_> {
        DqliteValueRef(self)
    }

    fn type_info(&self) -> Cow<'_, DqliteTypeInfo> {
        Cow::Borrowed(&self.type_info)
    }

    fn is_null(&self) -> bool {
        self.data == Data::Null
    }
}

/// A value of a row, borrowed; what `Decode` implementations read.
#[derive(Debug, Clone, Copy)]
pub struct DqliteValueRef<'r>(pub(crate) &'r DqliteValue);

impl<'r> DqliteValueRef<'r> {
    pub(crate) fn data(&self) -> &'r Data {
        &self.0.data
    }

    /// The integer held, or an error naming what is held instead.
    pub(crate) fn int(&self) -> Result<i64, sqlx_core::error::BoxDynError> {
        match self.data() {
            Data::Integer(i) => Ok(*i),
            _ => Err(self.mismatch("an integer")),
        }
    }

    /// The text held, as UTF-8.
    pub(crate) fn text(&self) -> Result<&'r str, sqlx_core::error::BoxDynError> {
        match self.data() {
            Data::Text(t) => Ok(std::str::from_utf8(t)?),
            _ => Err(self.mismatch("text")),
        }
    }

    /// The bytes of a blob or a text.
    pub(crate) fn bytes(&self) -> Result<&'r [u8], sqlx_core::error::BoxDynError> {
        match self.data() {
            Data::Blob(b) | Data::Text(b) => Ok(b),
            _ => Err(self.mismatch("a blob")),
        }
    }

    pub(crate) fn mismatch(&self, wanted: &str) -> sqlx_core::error::BoxDynError {
        format!("expected {wanted}, got a {} value", self.0.type_info).into()
    }
}

impl<'r> ValueRef<'r> for DqliteValueRef<'r> {
    type Database = Dqlite;

    fn to_owned(&self) -> DqliteValue {
        self.0.clone()
    }

    fn type_info(&self) -> Cow<'_, DqliteTypeInfo> {
        Cow::Borrowed(&self.0.type_info)
    }

    fn is_null(&self) -> bool {
        self.0.data == Data::Null
    }
}
