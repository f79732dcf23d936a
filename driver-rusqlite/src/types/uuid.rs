//! `uuid::Uuid` (feature `uuid`): written as a 16-byte blob, as rusqlite
//! does; read from such a blob or from hyphenated text.

use uuid::Uuid;

use super::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use crate::Result;

impl ToSql for Uuid {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Blob(self.as_bytes().to_vec())))
    }
}

impl FromSql for Uuid {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(_) => Uuid::parse_str(value.as_str()?).map_err(FromSqlError::other),
            _ => <[u8; 16]>::column_result(value).map(Uuid::from_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_and_text() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let ToSqlOutput::Owned(Value::Blob(b)) = id.to_sql().unwrap() else {
            panic!("not a blob");
        };
        assert_eq!(Uuid::column_result(ValueRef::Blob(&b)).unwrap(), id);
        let text = id.to_string();
        assert_eq!(
            Uuid::column_result(ValueRef::Text(text.as_bytes())).unwrap(),
            id
        );
        assert!(Uuid::column_result(ValueRef::Blob(&[1, 2])).is_err());
    }
}
