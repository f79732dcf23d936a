//! chrono's dates and times, as ISO 8601 text (what SQLite's date
//! functions read and write); Unix seconds decode too.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;

use super::info;
use crate::value::Data;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

/// Whether a column of this type can hold a date or time.
pub(crate) fn temporal(ty: &DqliteTypeInfo) -> bool {
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

/// Date and time with an offset, from text in the forms SQLite and
/// dqlite produce, or from Unix seconds.
fn fixed(value: &DqliteValueRef<'_>) -> Result<DateTime<FixedOffset>, BoxDynError> {
    if let Data::Integer(secs) = value.data() {
        return DateTime::from_timestamp(*secs, 0)
            .map(|t| t.fixed_offset())
            .ok_or_else(|| format!("Unix time {secs} out of range").into());
    }
    let text = value.text()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t);
    }
    for format in ["%F %T%.f%:z", "%F %T%.f%#z", "%FT%T%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t);
        }
    }
    naive(text).map(|t| t.and_utc().fixed_offset())
}

/// Date and time without an offset (an offset, if given, is dropped).
fn naive(text: &str) -> Result<NaiveDateTime, BoxDynError> {
    for format in ["%F %T%.f", "%FT%T%.f", "%F %R", "%FT%R"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%F") {
        return Ok(d.and_time(NaiveTime::MIN));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_local())
        .map_err(|_| format!("not a date and time: {text:?}").into())
}

macro_rules! temporal_type {
    ($t:ty, $info:expr) => {
        impl Type<Dqlite> for $t {
            fn type_info() -> DqliteTypeInfo {
                info($info)
            }

            fn compatible(ty: &DqliteTypeInfo) -> bool {
                temporal(ty)
            }
        }
    };
}

temporal_type!(NaiveDate, DqliteDataType::Iso8601);
temporal_type!(NaiveTime, DqliteDataType::Text);
temporal_type!(NaiveDateTime, DqliteDataType::Iso8601);

impl<Tz: TimeZone> Type<Dqlite> for DateTime<Tz> {
    fn type_info() -> DqliteTypeInfo {
        info(DqliteDataType::Iso8601)
    }

    fn compatible(ty: &DqliteTypeInfo) -> bool {
        temporal(ty)
    }
}

impl Encode<'_, Dqlite> for NaiveDate {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(buf, self.format("%F").to_string())
    }
}

impl Encode<'_, Dqlite> for NaiveTime {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(buf, self.format("%T%.f").to_string())
    }
}

impl Encode<'_, Dqlite> for NaiveDateTime {
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(buf, self.format("%F %T%.f").to_string())
    }
}

impl<Tz: TimeZone> Encode<'_, Dqlite> for DateTime<Tz>
where
    Tz::Offset: std::fmt::Display,
{
    fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
        push(buf, self.format("%F %T%.f%:z").to_string())
    }
}

impl Decode<'_, Dqlite> for NaiveDate {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        if let Data::Text(_) = value.data()
            && let Ok(d) = NaiveDate::parse_from_str(value.text()?, "%F")
        {
            return Ok(d);
        }
        Ok(fixed(&value)?.date_naive())
    }
}

impl Decode<'_, Dqlite> for NaiveTime {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        if let Data::Text(_) = value.data() {
            let text = value.text()?;
            for format in ["%T%.f", "%R"] {
                if let Ok(t) = NaiveTime::parse_from_str(text, format) {
                    return Ok(t);
                }
            }
        }
        Ok(fixed(&value)?.time())
    }
}

impl Decode<'_, Dqlite> for NaiveDateTime {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.data() {
            Data::Text(_) => naive(value.text()?),
            _ => Ok(fixed(&value)?.naive_utc()),
        }
    }
}

impl Decode<'_, Dqlite> for DateTime<FixedOffset> {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        fixed(&value)
    }
}

impl Decode<'_, Dqlite> for DateTime<Utc> {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(fixed(&value)?.with_timezone(&Utc))
    }
}

impl Decode<'_, Dqlite> for DateTime<Local> {
    fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(fixed(&value)?.with_timezone(&Local))
    }
}
