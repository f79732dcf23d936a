//! Text.

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

impl Type<Dqlite> for str {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Text)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        ty.is_text_like()
    }
}

impl Type<Dqlite> for String {
    fn type_info() -> DqliteTypeInfo {
        <str as Type<Dqlite>>::type_info()
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        <str as Type<Dqlite>>::compatible(ty)
    }
}

impl Encode<'_, Dqlite> for &'_ str {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.push(Value::Text(self.as_bytes().to_vec()));
        Ok(IsNull::No)
    }
}

impl Encode<'_, Dqlite> for String {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Dqlite>>::encode(self.as_str(), buf)
    }
}

sqlx_core::forward_encode_impl!(Box<str>, &str, Dqlite);
sqlx_core::forward_encode_impl!(Arc<str>, &str, Dqlite);
sqlx_core::forward_encode_impl!(Rc<str>, &str, Dqlite);
sqlx_core::forward_encode_impl!(Cow<'_, str>, &str, Dqlite);

impl<'r> Decode<'r, Dqlite> for &'r str {
    fn decode(value: DqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        value.text()
    }
}

impl Decode<'_, Dqlite> for String {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        value.text().map(str::to_owned)
    }
}
