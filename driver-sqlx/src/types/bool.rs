//! `bool` as SQLite stores it: the integers 0 and 1.

use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;

use super::info;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

impl Type<Dqlite> for bool {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Boolean)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        matches!(
            ty.data_type(),
            DqliteDataType::Boolean | DqliteDataType::Integer
        )
    }
}

impl Encode<'_, Dqlite> for bool {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Integer(i64::from(*self)));
        Ok(IsNull::No)
    }
}

impl Decode<'_, Dqlite> for bool {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(value.int()? != 0)
    }
}
