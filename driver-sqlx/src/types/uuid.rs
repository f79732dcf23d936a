//! `uuid::Uuid` as a 16-byte blob; hyphenated text decodes too.

use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;
use uuid::Uuid;

use super::info;
use crate::value::Data;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

impl Type<Dqlite> for Uuid {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Blob)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        matches!(ty.data_type(), DqliteDataType::Blob | DqliteDataType::Text)
    }
}

impl Encode<'_, Dqlite> for Uuid {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Blob(self.as_bytes().to_vec()));
        Ok(IsNull::No)
    }
}

impl Decode<'_, Dqlite> for Uuid {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.data() {
            Data::Text(_) => Ok(Uuid::parse_str(value.text()?)?),
            _ => Ok(Uuid::from_slice(value.bytes()?)?),
        }
    }
}
