//! Bytes, as BLOB.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;

use super::info;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

impl Type<Dqlite> for [u8] {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Blob)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        matches!(ty.data_type(), DqliteDataType::Blob | DqliteDataType::Text)
    }
}

impl Type<Dqlite> for Vec<u8> {
    fn type_info() -> DqliteTypeInfo {
        <[u8] as Type<Dqlite>>::type_info()
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        <[u8] as Type<Dqlite>>::compatible(ty)
    }
}

impl Encode<'_, Dqlite> for &'_ [u8] {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Blob(self.to_vec()));
        Ok(IsNull::No)
    }
}

impl Encode<'_, Dqlite> for Vec<u8> {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&[u8] as Encode<Dqlite>>::encode(self.as_slice(), buf)
    }
}

sqlx_core::forward_encode_impl!(Box<[u8]>, &[u8], Dqlite);
sqlx_core::forward_encode_impl!(Arc<[u8]>, &[u8], Dqlite);
sqlx_core::forward_encode_impl!(Rc<[u8]>, &[u8], Dqlite);
sqlx_core::forward_encode_impl!(Cow<'_, [u8]>, &[u8], Dqlite);

impl<'r> Decode<'r, Dqlite> for &'r [u8] {
    fn decode(value: DqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        value.bytes()
    }
}

impl Decode<'_, Dqlite> for Vec<u8> {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        value.bytes().map(<[u8]>::to_vec)
    }
}
