//! Rust values to SQL parameters.

use std::borrow::Cow;

use super::{Null, Value, ValueRef};
use crate::{Error, Result};

/// A parameter as a [`ToSql`] implementation produces it: borrowed or owned.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToSqlOutput<'a> {
    /// A value borrowed from the Rust value.
    Borrowed(ValueRef<'a>),
    /// A value built for the occasion.
    Owned(Value),
}

impl ToSqlOutput<'_> {
    /// The value to send.
    pub(crate) fn value_ref(&self) -> ValueRef<'_> {
        match self {
            Self::Borrowed(v) => *v,
            Self::Owned(v) => ValueRef::from(v),
        }
    }
}

impl<'a, T: ?Sized> From<&'a T> for ToSqlOutput<'a>
where
    &'a T: Into<ValueRef<'a>>,
{
    fn from(t: &'a T) -> Self {
        Self::Borrowed(t.into())
    }
}

macro_rules! output_from_value {
    ($($t:ty),*) => {$(
        impl From<$t> for ToSqlOutput<'_> {
            fn from(t: $t) -> Self {
                Self::Owned(t.into())
            }
        }
    )*};
}
output_from_value!(
    String,
    Null,
    bool,
    i8,
    i16,
    i32,
    i64,
    isize,
    u8,
    u16,
    u32,
    f32,
    f64,
    Vec<u8>
);

/// Converts a Rust value to an SQL parameter, as `rusqlite::ToSql`.
pub trait ToSql {
    /// The parameter.
    fn to_sql(&self) -> Result<ToSqlOutput<'_>>;
}

impl ToSql for ToSqlOutput<'_> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(self.value_ref()))
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for std::rc::Rc<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for std::sync::Arc<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ToOwned + ?Sized> ToSql for Cow<'_, T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.as_ref().to_sql()
    }
}

macro_rules! to_sql_by_value {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(*self))
            }
        }
    )*};
}
to_sql_by_value!(Null, bool, i8, i16, i32, i64, isize, u8, u16, u32, f32, f64);

macro_rules! to_sql_fallible {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            /// Fails above `i64::MAX`: SQLite integers are signed.
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                i64::try_from(*self)
                    .map(|i| ToSqlOutput::Owned(Value::Integer(i)))
                    .map_err(|e| Error::ToSqlConversionFailure(Box::new(e)))
            }
        }
    )*};
}
to_sql_fallible!(u64, usize);

macro_rules! to_sql_non_zero {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                self.get().to_sql().map(|o| ToSqlOutput::Owned(owned(o)))
            }
        }
    )*};
}
to_sql_non_zero!(
    std::num::NonZeroI8,
    std::num::NonZeroI16,
    std::num::NonZeroI32,
    std::num::NonZeroI64,
    std::num::NonZeroIsize,
    std::num::NonZeroU8,
    std::num::NonZeroU16,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize
);

/// An output of a by-value conversion as an owned value.
fn owned(o: ToSqlOutput<'_>) -> Value {
    match o {
        ToSqlOutput::Owned(v) => v,
        ToSqlOutput::Borrowed(ValueRef::Integer(i)) => Value::Integer(i),
        ToSqlOutput::Borrowed(ValueRef::Real(f)) => Value::Real(f),
        ToSqlOutput::Borrowed(ValueRef::Null) => Value::Null,
        ToSqlOutput::Borrowed(ValueRef::Text(t)) => {
            Value::Text(String::from_utf8_lossy(t).into_owned())
        }
        ToSqlOutput::Borrowed(ValueRef::Blob(b)) => Value::Blob(b.to_vec()),
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_slice()))
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(&self[..]))
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self))
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::from(self)))
    }
}

impl ToSql for ValueRef<'_> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(*self))
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        match self {
            None => Ok(ToSqlOutput::from(Null)),
            Some(v) => v.to_sql(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent<T: ToSql + ?Sized>(v: &T) -> Value {
        owned(v.to_sql().unwrap())
    }

    #[test]
    fn rust_values_become_sql_values() {
        assert_eq!(sent(&true), Value::Integer(1));
        assert_eq!(sent(&7u8), Value::Integer(7));
        assert_eq!(sent(&1.5f32), Value::Real(1.5));
        assert_eq!(sent("héllo"), Value::Text("héllo".into()));
        assert_eq!(sent(&vec![1u8, 2]), Value::Blob(vec![1, 2]));
        assert_eq!(sent(&[3u8; 2]), Value::Blob(vec![3, 3]));
        assert_eq!(sent(&None::<i32>), Value::Null);
        assert_eq!(sent(&Some("x")), Value::Text("x".into()));
        assert_eq!(
            sent(&u64::try_from(i64::MAX).unwrap()),
            Value::Integer(i64::MAX)
        );
        assert!(u64::MAX.to_sql().is_err());
        assert_eq!(
            sent(&std::num::NonZeroU32::new(9).unwrap()),
            Value::Integer(9)
        );
        assert_eq!(sent(&Cow::Borrowed("c")), Value::Text("c".into()));
    }
}
