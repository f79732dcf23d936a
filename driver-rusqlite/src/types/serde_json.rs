//! `serde_json::Value` (feature `serde_json`): numbers and NULL as
//! themselves, everything else as JSON text; read back from JSON text or
//! blob, numbers and NULL.

use serde_json::{Number, Value as Json};

use super::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use crate::{Error, Result};

impl ToSql for Json {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        match self {
            Json::Null => Ok(ToSqlOutput::Owned(Value::Null)),
            Json::Number(n) if n.is_i64() => Ok(ToSqlOutput::Owned(
                n.as_i64().map_or(Value::Null, Value::Integer),
            )),
            Json::Number(n) if n.is_f64() => Ok(ToSqlOutput::Owned(
                n.as_f64().map_or(Value::Null, Value::Real),
            )),
            other => serde_json::to_string(other)
                .map(|s| ToSqlOutput::Owned(Value::Text(s)))
                .map_err(|e| Error::ToSqlConversionFailure(Box::new(e))),
        }
    }
}

impl FromSql for Json {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(b) | ValueRef::Blob(b) => {
                serde_json::from_slice(b).map_err(FromSqlError::other)
            }
            ValueRef::Integer(i) => Ok(Json::Number(Number::from(i))),
            ValueRef::Real(f) => Number::from_f64(f)
                .map(Json::Number)
                .ok_or(FromSqlError::InvalidType),
            ValueRef::Null => Ok(Json::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values() {
        let doc = serde_json::json!({"a": [1, 2], "b": "x"});
        let ToSqlOutput::Owned(Value::Text(s)) = doc.to_sql().unwrap() else {
            panic!("not text");
        };
        assert_eq!(
            Json::column_result(ValueRef::Text(s.as_bytes())).unwrap(),
            doc
        );
        assert_eq!(
            serde_json::json!(5).to_sql().unwrap(),
            ToSqlOutput::Owned(Value::Integer(5))
        );
        assert_eq!(Json::column_result(ValueRef::Null).unwrap(), Json::Null);
    }
}
