//! Interoperation with rusqlite's own types (feature `rusqlite`), so that
//! code mixing both crates compiles: rusqlite values convert into ours, and
//! any `rusqlite::ToSql` binds here through [`RusqliteParam`].

use crate::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use crate::{Error, Result};

impl From<rusqlite::types::Value> for Value {
    fn from(v: rusqlite::types::Value) -> Self {
        use rusqlite::types::Value as R;
        match v {
            R::Null => Self::Null,
            R::Integer(i) => Self::Integer(i),
            R::Real(f) => Self::Real(f),
            R::Text(t) => Self::Text(t),
            R::Blob(b) => Self::Blob(b),
        }
    }
}

impl From<Value> for rusqlite::types::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Integer(i) => Self::Integer(i),
            Value::Real(f) => Self::Real(f),
            Value::Text(t) => Self::Text(t),
            Value::Blob(b) => Self::Blob(b),
        }
    }
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    fn from(v: rusqlite::types::ValueRef<'a>) -> Self {
        use rusqlite::types::ValueRef as R;
        match v {
            R::Null => Self::Null,
            R::Integer(i) => Self::Integer(i),
            R::Real(f) => Self::Real(f),
            R::Text(t) => Self::Text(t),
            R::Blob(b) => Self::Blob(b),
        }
    }
}

impl<'a> From<ValueRef<'a>> for rusqlite::types::ValueRef<'a> {
    fn from(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Integer(i),
            ValueRef::Real(f) => Self::Real(f),
            ValueRef::Text(t) => Self::Text(t),
            ValueRef::Blob(b) => Self::Blob(b),
        }
    }
}

impl ToSql for rusqlite::types::Value {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::from(
            rusqlite::types::ValueRef::from(self),
        )))
    }
}

impl FromSql for rusqlite::types::Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Value::try_from(value).map(Into::into)
    }
}

/// Binds any `rusqlite::ToSql` value here: `params![RusqliteParam(&v)]`.
#[derive(Debug, Clone, Copy)]
pub struct RusqliteParam<T>(pub T);

impl<T: rusqlite::ToSql> ToSql for RusqliteParam<T> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput as R;
        let output = self
            .0
            .to_sql()
            .map_err(|e| Error::ToSqlConversionFailure(Box::new(e)))?;
        match output {
            R::Borrowed(v) => Ok(ToSqlOutput::Borrowed(v.into())),
            R::Owned(v) => Ok(ToSqlOutput::Owned(v.into())),
            other => Err(Error::ToSqlConversionFailure(
                format!("rusqlite parameter {other:?} has no dqlite equivalent").into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rusqlite_values_bind() {
        let v = rusqlite::types::Value::Text("x".into());
        assert_eq!(
            RusqliteParam(&v).to_sql().unwrap().value_ref(),
            ValueRef::Text(b"x")
        );
        assert_eq!(
            RusqliteParam(42i64).to_sql().unwrap().value_ref(),
            ValueRef::Integer(42)
        );
        assert_eq!(
            Value::from(rusqlite::types::Value::Real(1.5)),
            Value::Real(1.5)
        );
        assert_eq!(
            rusqlite::types::Value::column_result(ValueRef::Blob(&[1])).unwrap(),
            rusqlite::types::Value::Blob(vec![1])
        );
    }
}
