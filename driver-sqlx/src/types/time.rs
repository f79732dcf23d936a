//! The time crate's dates and times, as ISO 8601 text; Unix seconds
//! decode too.

use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::info;
use crate::value::Data;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

fn temporal(ty: &DqliteTypeInfo) -> bool {
    matches!(
        ty.data_type(),
        DqliteDataType::Iso8601
            | DqliteDataType::Text
            | DqliteDataType::UnixTime
            | DqliteDataType::Integer
    )
}

fn push(buf: &mut DqliteArgumentBuffer, text: String) -> Result<IsNull, BoxDynError> {
    buf.push(Value::Text(text.into_bytes()));
    Ok(IsNull::No)
}

/// A date and time with an offset, from text or Unix seconds; text
/// without an offset is UTC.
fn offset(value: &DqliteValueRef<'_>) -> Result<OffsetDateTime, BoxDynError> {
    if let Data::Integer(secs) = value.data() {
        return Ok(OffsetDateTime::from_unix_timestamp(*secs)?);
    }
    let text = value.text()?;
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let with_offset = format_description!(
        version = 2,
        "[year]-[month]-[day][first [ ][T]][hour]:[minute]:[second][optional [.[subsecond]]][offset_hour]:[offset_minute]"
    );
    if let Ok(t) = OffsetDateTime::parse(text, with_offset) {
        return Ok(t);
    }
    Ok(primitive(text)?.assume_utc())
}

fn primitive(text: &str) -> Result<PrimitiveDateTime, BoxDynError> {
    let full = format_description!(
        version = 2,
        "[year]-[month]-[day][first [ ][T]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(text, full) {
        return Ok(t);
    }
    let date = format_description!(version = 2, "[year]-[month]-[day]");
    Ok(Date::parse(text, date)?.midnight())
}

impl Type<Dqlite> for Date {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Iso8601)
    }
    fn compatible(ty: &DqliteTypeInfo) -> bool {
        temporal(ty)
    }
}

impl Type<Dqlite> for Time {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Text)
    }
    fn compatible(ty: &DqliteTypeInfo) -> bool {
        temporal(ty)
    }
}

impl Type<Dqlite> for PrimitiveDateTime {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Iso8601)
    }
    fn compatible(ty: &DqliteTypeInfo) -> bool {
        temporal(ty)
    }
}

impl Type<Dqlite> for OffsetDateTime {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Iso8601)
    }
    fn compatible(ty: &DqliteTypeInfo) -> bool {
        temporal(ty)
    }
}

impl Encode<'_, Dqlite> for Date {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(
            buf,
            self.format(format_description!("[year]-[month]-[day]"))?,
        )
    }
}

impl Encode<'_, Dqlite> for Time {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(
            buf,
            self.format(format_description!("[hour]:[minute]:[second].[subsecond]"))?,
        )
    }
}

impl Encode<'_, Dqlite> for PrimitiveDateTime {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(
            buf,
            self.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"
            ))?,
        )
    }
}

impl Encode<'_, Dqlite> for OffsetDateTime {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(
            buf,
            self.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory]:[offset_minute]"
            ))?,
        )
    }
}

impl Decode<'_, Dqlite> for Date {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.data() {
            Data::Text(_) => Ok(primitive(value.text()?)?.date()),
            _ => Ok(offset(&value)?.date()),
        }
    }
}

impl Decode<'_, Dqlite> for Time {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        if let Data::Text(_) = value.data() {
            let text = value.text()?;
            let time = format_description!(
                version = 2,
                "[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
            );
            if let Ok(t) = Time::parse(text, time) {
                return Ok(t);
            }
        }
        Ok(offset(&value)?.time())
    }
}

impl Decode<'_, Dqlite> for PrimitiveDateTime {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.data() {
            Data::Text(_) => primitive(value.text()?),
            _ => {
                let t = offset(&value)?.to_offset(UtcOffset::UTC);
                Ok(PrimitiveDateTime::new(t.date(), t.time()))
            }
        }
    }
}

impl Decode<'_, Dqlite> for OffsetDateTime {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        offset(&value)
    }
}
