//! Borrowed SQL values.

use super::{FromSqlError, FromSqlResult, Type, Value};

/// A borrowed SQL value, as `rusqlite::types::ValueRef`. Text is bytes,
/// because neither SQLite nor the dqlite wire guarantee UTF-8.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// NULL.
    Null,
    /// 64-bit signed integer.
    Integer(i64),
    /// 64-bit float.
    Real(f64),
    /// Text, as bytes.
    Text(&'a [u8]),
    /// Bytes.
    Blob(&'a [u8]),
}

impl<'a> ValueRef<'a> {
    /// The value's storage class.
    pub fn data_type(&self) -> Type {
        match self {
            Self::Null => Type::Null,
            Self::Integer(_) => Type::Integer,
            Self::Real(_) => Type::Real,
            Self::Text(_) => Type::Text,
            Self::Blob(_) => Type::Blob,
        }
    }

    /// The integer, or `InvalidType`.
    pub fn as_i64(&self) -> FromSqlResult<i64> {
        match *self {
            Self::Integer(i) => Ok(i),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The integer, `None` for NULL, or `InvalidType`.
    pub fn as_i64_or_null(&self) -> FromSqlResult<Option<i64>> {
        match *self {
            Self::Null => Ok(None),
            Self::Integer(i) => Ok(Some(i)),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The float, or `InvalidType`.
    pub fn as_f64(&self) -> FromSqlResult<f64> {
        match *self {
            Self::Real(f) => Ok(f),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The float, `None` for NULL, or `InvalidType`.
    pub fn as_f64_or_null(&self) -> FromSqlResult<Option<f64>> {
        match *self {
            Self::Null => Ok(None),
            Self::Real(f) => Ok(Some(f)),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The text as `&str`, `InvalidType` if not text, `Utf8Error` if not UTF-8.
    pub fn as_str(&self) -> FromSqlResult<&'a str> {
        match *self {
            Self::Text(t) => std::str::from_utf8(t).map_err(FromSqlError::Utf8Error),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The text as `&str`, `None` for NULL.
    pub fn as_str_or_null(&self) -> FromSqlResult<Option<&'a str>> {
        match *self {
            Self::Null => Ok(None),
            Self::Text(_) => self.as_str().map(Some),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The blob's bytes, or `InvalidType`.
    pub fn as_blob(&self) -> FromSqlResult<&'a [u8]> {
        match *self {
            Self::Blob(b) => Ok(b),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The blob's bytes, `None` for NULL.
    pub fn as_blob_or_null(&self) -> FromSqlResult<Option<&'a [u8]>> {
        match *self {
            Self::Null => Ok(None),
            Self::Blob(b) => Ok(Some(b)),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The bytes of a text or a blob, or `InvalidType`.
    pub fn as_bytes(&self) -> FromSqlResult<&'a [u8]> {
        match *self {
            Self::Text(b) | Self::Blob(b) => Ok(b),
            _ => Err(FromSqlError::InvalidType),
        }
    }

    /// The bytes of a text or a blob, `None` for NULL.
    pub fn as_bytes_or_null(&self) -> FromSqlResult<Option<&'a [u8]>> {
        match *self {
            Self::Null => Ok(None),
            Self::Text(b) | Self::Blob(b) => Ok(Some(b)),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl TryFrom<ValueRef<'_>> for Value {
    type Error = FromSqlError;

    /// Copies the value; text must be UTF-8.
    fn try_from(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        Ok(match v {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Integer(i),
            ValueRef::Real(f) => Self::Real(f),
            ValueRef::Text(t) => Self::Text(
                std::str::from_utf8(t)
                    .map_err(FromSqlError::Utf8Error)?
                    .to_owned(),
            ),
            ValueRef::Blob(b) => Self::Blob(b.to_vec()),
        })
    }
}

impl<'a> From<&'a str> for ValueRef<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(s.as_bytes())
    }
}

impl<'a> From<&'a [u8]> for ValueRef<'a> {
    fn from(b: &'a [u8]) -> Self {
        Self::Blob(b)
    }
}

impl<'a, T> From<Option<T>> for ValueRef<'a>
where
    T: Into<ValueRef<'a>>,
{
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}
