//! `f32` and `f64` as SQLite's 64-bit REAL.

use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;

use super::info;
use crate::value::Data;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

fn compatible(ty: &DqliteTypeInfo) -> bool {
    matches!(
        ty.data_type(),
        DqliteDataType::Float | DqliteDataType::Integer
    )
}

fn real(value: &DqliteValueRef<'_>) -> Result<f64, BoxDynError> {
    match value.data() {
        Data::Float(f) => Ok(*f),
        // SQLite hands out integral values of REAL columns as integers.
        #[allow(clippy::cast_precision_loss, reason = "SQLite converts the same way")]
        Data::Integer(i) => Ok(*i as f64),
        _ => Err(value.mismatch("a number")),
    }
}

impl Type<Dqlite> for f64 {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Float)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        compatible(ty)
    }
}

impl Encode<'_, Dqlite> for f64 {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Float(*self));
        Ok(IsNull::No)
    }
}

impl Decode<'_, Dqlite> for f64 {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        real(&value)
    }
}

impl Type<Dqlite> for f32 {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Float)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        compatible(ty)
    }
}

impl Encode<'_, Dqlite> for f32 {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Float(f64::from(*self)));
        Ok(IsNull::No)
    }
}

impl Decode<'_, Dqlite> for f32 {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        // An f32 stored as REAL comes back exactly; others are rounded.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "narrowing a float is the point"
        )]
        Ok(real(&value)? as f32)
    }
}
