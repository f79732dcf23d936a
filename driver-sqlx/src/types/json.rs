//! `sqlx::types::Json<T>` (and so `serde_json::Value`) as JSON text, which
//! SQLite's JSON functions read.

use dqlite_protocol::Value;
use serde::{Deserialize, Serialize};
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::{Json, Type};

use super::info;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

impl<T> Type<Dqlite> for Json<T> {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Text)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        matches!(ty.data_type(), DqliteDataType::Text | DqliteDataType::Blob)
    }
}

impl<T: Serialize> Encode<'_, Dqlite> for Json<T> {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Text(serde_json::to_vec(&self.0)?));
        Ok(IsNull::No)
    }
}

impl<'r, T: Deserialize<'r> + 'r> Decode<'r, Dqlite> for Json<T> {
    fn decode(value: DqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Json(serde_json::from_slice(value.bytes()?)?))
    }
}
