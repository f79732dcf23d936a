//! SQL values to Rust values.

use std::error::Error as StdError;
use std::fmt;

use super::{Value, ValueRef};

/// Why a value could not be converted, as `rusqlite::types::FromSqlError`.
#[derive(Debug)]
#[non_exhaustive]
pub enum FromSqlError {
    /// The value's type does not fit the Rust type.
    InvalidType,
    /// The integer does not fit the Rust integer type.
    OutOfRange(i64),
    /// Text is not UTF-8.
    Utf8Error(std::str::Utf8Error),
    /// A blob of the wrong size for a fixed-size type.
    InvalidBlobSize {
        /// The size the type needs.
        expected_size: usize,
        /// The blob's size.
        blob_size: usize,
    },
    /// Any other conversion failure.
    Other(Box<dyn StdError + Send + Sync + 'static>),
}

impl FromSqlError {
    /// Wraps another error.
    pub fn other<E: StdError + Send + Sync + 'static>(error: E) -> Self {
        Self::Other(Box::new(error))
    }
}

impl PartialEq for FromSqlError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::InvalidType, Self::InvalidType) => true,
            (Self::OutOfRange(a), Self::OutOfRange(b)) => a == b,
            (Self::Utf8Error(a), Self::Utf8Error(b)) => a == b,
            (
                Self::InvalidBlobSize {
                    expected_size: a,
                    blob_size: b,
                },
                Self::InvalidBlobSize {
                    expected_size: c,
                    blob_size: d,
                },
            ) => a == c && b == d,
            _ => false,
        }
    }
}

impl fmt::Display for FromSqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidType => f.write_str("invalid type"),
            Self::OutOfRange(i) => write!(f, "value {i} out of range"),
            Self::Utf8Error(e) => e.fmt(f),
            Self::InvalidBlobSize {
                expected_size,
                blob_size,
            } => write!(
                f,
                "cannot read a {expected_size}-byte value from a {blob_size}-byte blob"
            ),
            Self::Other(e) => e.fmt(f),
        }
    }
}

impl StdError for FromSqlError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Utf8Error(e) => Some(e),
            Self::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

/// The result of a [`FromSql`] conversion.
pub type FromSqlResult<T> = Result<T, FromSqlError>;

/// Converts an SQL value to a Rust value, as `rusqlite::types::FromSql`.
pub trait FromSql: Sized {
    /// The conversion.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self>;
}

impl FromSql for i64 {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64()
    }
}

macro_rules! from_sql_integer {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let i = value.as_i64()?;
                <$t>::try_from(i).map_err(|_| FromSqlError::OutOfRange(i))
            }
        }
    )*};
}
from_sql_integer!(i8, i16, i32, isize, u8, u16, u32, u64, usize);

macro_rules! from_sql_non_zero {
    ($($nz:ty => $t:ty),*) => {$(
        impl FromSql for $nz {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                <$nz>::new(<$t>::column_result(value)?).ok_or(FromSqlError::OutOfRange(0))
            }
        }
    )*};
}
from_sql_non_zero!(
    std::num::NonZeroI8 => i8,
    std::num::NonZeroI16 => i16,
    std::num::NonZeroI32 => i32,
    std::num::NonZeroI64 => i64,
    std::num::NonZeroIsize => isize,
    std::num::NonZeroU8 => u8,
    std::num::NonZeroU16 => u16,
    std::num::NonZeroU32 => u32,
    std::num::NonZeroU64 => u64,
    std::num::NonZeroUsize => usize
);

impl FromSql for f64 {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            // SQLite converts the same way (to the nearest double).
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(i) => Ok(i as f64),
            ValueRef::Real(f) => Ok(f),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl FromSql for f32 {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        // Narrowing a double to a float rounds, as `as` does in rusqlite.
        #[allow(clippy::cast_possible_truncation)]
        f64::column_result(value).map(|f| f as f32)
    }
}

impl FromSql for bool {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(|i| i != 0)
    }
}

impl FromSql for String {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(ToOwned::to_owned)
    }
}

impl FromSql for Box<str> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(Into::into)
    }
}

impl FromSql for std::rc::Rc<str> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(Into::into)
    }
}

impl FromSql for std::sync::Arc<str> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(Into::into)
    }
}

impl FromSql for Vec<u8> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_blob().map(<[u8]>::to_vec)
    }
}

impl FromSql for Box<[u8]> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_blob().map(Into::into)
    }
}

impl<const N: usize> FromSql for [u8; N] {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let blob = value.as_blob()?;
        blob.try_into().map_err(|_| FromSqlError::InvalidBlobSize {
            expected_size: N,
            blob_size: blob.len(),
        })
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(None),
            _ => T::column_result(value).map(Some),
        }
    }
}

impl FromSql for Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Value::try_from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_rusqlite() {
        assert_eq!(i32::column_result(ValueRef::Integer(7)), Ok(7));
        assert_eq!(
            u8::column_result(ValueRef::Integer(300)),
            Err(FromSqlError::OutOfRange(300))
        );
        assert_eq!(
            i64::column_result(ValueRef::Text(b"1")),
            Err(FromSqlError::InvalidType)
        );
        assert_eq!(f64::column_result(ValueRef::Integer(2)), Ok(2.0));
        assert_eq!(bool::column_result(ValueRef::Integer(7)), Ok(true));
        assert_eq!(
            String::column_result(ValueRef::Text(b"h\xc3\xa9")),
            Ok("hé".into())
        );
        assert!(matches!(
            String::column_result(ValueRef::Text(b"\xff")),
            Err(FromSqlError::Utf8Error(_))
        ));
        assert_eq!(Option::<i64>::column_result(ValueRef::Null), Ok(None));
        assert_eq!(
            <[u8; 2]>::column_result(ValueRef::Blob(&[1, 2, 3])),
            Err(FromSqlError::InvalidBlobSize {
                expected_size: 2,
                blob_size: 3
            })
        );
        assert_eq!(
            Value::column_result(ValueRef::Real(0.5)).unwrap(),
            Value::Real(0.5)
        );
    }
}
