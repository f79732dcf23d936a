//! Values (§4.1): the type codes and their encodings, owned and borrowed.

use std::fmt;

use crate::error::DecodeError;
use crate::wire::{self, BodyWriter, PResult};

/// A value's type code on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueType {
    /// 64-bit signed integer.
    Integer = 1,
    /// 64-bit IEEE-754 float.
    Float = 2,
    /// NUL-terminated text.
    Text = 3,
    /// Length-prefixed bytes.
    Blob = 4,
    /// SQL NULL (one zero word).
    Null = 5,
    /// Seconds since the Unix epoch; only in results.
    UnixTime = 9,
    /// Date/time text; bound as TEXT.
    Iso8601 = 10,
    /// Boolean word; any non-zero value is true.
    Boolean = 11,
}

impl ValueType {
    /// The type for a code, if the code is defined.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Integer,
            2 => Self::Float,
            3 => Self::Text,
            4 => Self::Blob,
            5 => Self::Null,
            9 => Self::UnixTime,
            10 => Self::Iso8601,
            11 => Self::Boolean,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether dqlite accepts this type in a parameter tuple (all but UNIXTIME).
    pub fn allowed_in_params(self) -> bool {
        self != Self::UnixTime
    }
}

/// An owned value.
///
/// Text is kept as bytes: SQLite does not guarantee UTF-8 and the wire does
/// not check it, so decoding and re-encoding never alters a value. Floats
/// compare by bit pattern, so NaN equals itself and `-0.0` differs from `0.0`.
#[derive(Clone)]
pub enum Value {
    /// INTEGER (1).
    Integer(i64),
    /// FLOAT (2).
    Float(f64),
    /// TEXT (3); may not contain NUL.
    Text(Vec<u8>),
    /// BLOB (4).
    Blob(Vec<u8>),
    /// NULL (5).
    Null,
    /// UNIXTIME (9).
    UnixTime(i64),
    /// ISO8601 (10); may not contain NUL.
    Iso8601(Vec<u8>),
    /// BOOLEAN (11), the raw word (results carry the stored integer as is).
    Boolean(u64),
}

/// A value borrowing its bytes from a message body or from the caller.
#[derive(Clone, Copy)]
pub enum ValueRef<'a> {
    /// INTEGER (1).
    Integer(i64),
    /// FLOAT (2).
    Float(f64),
    /// TEXT (3).
    Text(&'a [u8]),
    /// BLOB (4).
    Blob(&'a [u8]),
    /// NULL (5).
    Null,
    /// UNIXTIME (9).
    UnixTime(i64),
    /// ISO8601 (10).
    Iso8601(&'a [u8]),
    /// BOOLEAN (11).
    Boolean(u64),
}

impl Value {
    /// Borrows this value.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Self::Integer(v) => ValueRef::Integer(*v),
            Self::Float(v) => ValueRef::Float(*v),
            Self::Text(v) => ValueRef::Text(v),
            Self::Blob(v) => ValueRef::Blob(v),
            Self::Null => ValueRef::Null,
            Self::UnixTime(v) => ValueRef::UnixTime(*v),
            Self::Iso8601(v) => ValueRef::Iso8601(v),
            Self::Boolean(v) => ValueRef::Boolean(*v),
        }
    }

    /// The value's type code.
    pub fn value_type(&self) -> ValueType {
        self.as_ref().value_type()
    }
}

impl ValueRef<'_> {
    /// Copies the borrowed bytes into an owned value.
    pub fn to_owned(self) -> Value {
        match self {
            Self::Integer(v) => Value::Integer(v),
            Self::Float(v) => Value::Float(v),
            Self::Text(v) => Value::Text(v.to_vec()),
            Self::Blob(v) => Value::Blob(v.to_vec()),
            Self::Null => Value::Null,
            Self::UnixTime(v) => Value::UnixTime(v),
            Self::Iso8601(v) => Value::Iso8601(v.to_vec()),
            Self::Boolean(v) => Value::Boolean(v),
        }
    }

    /// The value's type code.
    pub fn value_type(self) -> ValueType {
        match self {
            Self::Integer(_) => ValueType::Integer,
            Self::Float(_) => ValueType::Float,
            Self::Text(_) => ValueType::Text,
            Self::Blob(_) => ValueType::Blob,
            Self::Null => ValueType::Null,
            Self::UnixTime(_) => ValueType::UnixTime,
            Self::Iso8601(_) => ValueType::Iso8601,
            Self::Boolean(_) => ValueType::Boolean,
        }
    }

    /// Writes the value's encoding (not its type code).
    pub(crate) fn encode(self, w: &mut BodyWriter<'_>) -> Result<(), crate::error::EncodeError> {
        match self {
            Self::Integer(v) | Self::UnixTime(v) => w.i64(v),
            Self::Float(v) => w.f64(v),
            Self::Text(v) | Self::Iso8601(v) => w.text(v)?,
            Self::Blob(v) => w.blob(v),
            Self::Null => w.u64(0),
            Self::Boolean(v) => w.u64(v),
        }
        Ok(())
    }

    /// Reads one value of the given type.
    pub(crate) fn decode(ty: ValueType, i: &[u8]) -> PResult<'_, ValueRef<'_>> {
        Ok(match ty {
            ValueType::Integer => wire::i64_(i).map(|(i, v)| (i, ValueRef::Integer(v)))?,
            ValueType::Float => wire::f64_(i).map(|(i, v)| (i, ValueRef::Float(v)))?,
            ValueType::Text => wire::text(i).map(|(i, v)| (i, ValueRef::Text(v)))?,
            ValueType::Blob => wire::blob(i).map(|(i, v)| (i, ValueRef::Blob(v)))?,
            // The NULL word's content is ignored.
            ValueType::Null => wire::u64_(i).map(|(i, _)| (i, ValueRef::Null))?,
            ValueType::UnixTime => wire::i64_(i).map(|(i, v)| (i, ValueRef::UnixTime(v)))?,
            ValueType::Iso8601 => wire::text(i).map(|(i, v)| (i, ValueRef::Iso8601(v)))?,
            ValueType::Boolean => wire::u64_(i).map(|(i, v)| (i, ValueRef::Boolean(v)))?,
        })
    }
}

/// Maps an unknown row type code to its error.
pub(crate) fn row_type(code: u8) -> Result<ValueType, DecodeError> {
    ValueType::from_code(code).ok_or(DecodeError::InvalidValueType(code))
}

impl PartialEq for ValueRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Self::Integer(a), Self::Integer(b)) | (Self::UnixTime(a), Self::UnixTime(b)) => a == b,
            (Self::Float(a), Self::Float(b)) => a.to_bits() == b.to_bits(),
            (Self::Text(a), Self::Text(b))
            | (Self::Blob(a), Self::Blob(b))
            | (Self::Iso8601(a), Self::Iso8601(b)) => a == b,
            (Self::Null, Self::Null) => true,
            (Self::Boolean(a), Self::Boolean(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ValueRef<'_> {}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Value {}

impl fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Integer(v) => f.debug_tuple("Integer").field(&v).finish(),
            Self::Float(v) => f.debug_tuple("Float").field(&v).finish(),
            Self::Text(v) => f
                .debug_tuple("Text")
                .field(&String::from_utf8_lossy(v))
                .finish(),
            Self::Blob(v) if v.len() > 64 => write!(f, "Blob({} bytes)", v.len()),
            Self::Blob(v) => f.debug_tuple("Blob").field(&v).finish(),
            Self::Null => f.write_str("Null"),
            Self::UnixTime(v) => f.debug_tuple("UnixTime").field(&v).finish(),
            Self::Iso8601(v) => f
                .debug_tuple("Iso8601")
                .field(&String::from_utf8_lossy(v))
                .finish(),
            Self::Boolean(v) => f.debug_tuple("Boolean").field(&v).finish(),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Boolean(u64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v.into_bytes())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Self::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        for code in 0..=255u8 {
            if let Some(ty) = ValueType::from_code(code) {
                assert_eq!(ty.code(), code);
            }
        }
        assert_eq!(ValueType::from_code(6), None);
        assert!(!ValueType::UnixTime.allowed_in_params());
    }

    #[test]
    fn floats_compare_by_bits() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Integer(1), Value::UnixTime(1));
    }
}
