//! Integers of every width SQLite's 64-bit INTEGER holds.

use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;

use super::info;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Type<Dqlite> for $t {
            fn type_info() -> DqliteTypeInfo {
                info(DqliteDataType::Integer)
            }

            fn compatible(ty: &DqliteTypeInfo) -> bool {
                ty.is_integer_like()
            }
        }

        impl Encode<'_, Dqlite> for $t {
            fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
                buf.push(Value::Integer(i64::try_from(*self)?));
                Ok(IsNull::No)
            }
        }

        impl Decode<'_, Dqlite> for $t {
            fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
                Ok(<$t>::try_from(value.int()?)?)
            }
        }
    )*};
}

integer!(i8, i16, i32, u8, u16, u32, u64);

impl Type<Dqlite> for i64 {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Integer)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        ty.is_integer_like()
    }
}

impl Encode<'_, Dqlite> for i64 {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Integer(*self));
        Ok(IsNull::No)
    }
}

impl Decode<'_, Dqlite> for i64 {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        value.int()
    }
}
