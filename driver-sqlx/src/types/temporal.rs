//! chrono's and the time crate's dates and times (features `chrono` and
//! `time`): `Type`/`Encode`/`Decode` adapted to `dqlite_client::temporal`,
//! which owns the layouts read and written (the same for dqlite-rusqlite).
//!
//! Encoded as text in go-dqlite's layout (`2024-01-02 03:04:05.5+01:00`; a
//! `DateTime<Tz>` keeps its zone's offset, `Local` included). Decoded from
//! ISO8601 or TEXT in any layout go-dqlite reads, and from UNIXTIME or
//! INTEGER Unix seconds.

use dqlite_client::temporal::{Stored, Temporal};
use dqlite_protocol::Value;
use sqlx_core::decode::Decode;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::BoxDynError;
use sqlx_core::types::Type;

use super::info;
use crate::value::Data;
use crate::{Dqlite, DqliteArgumentBuffer, DqliteDataType, DqliteTypeInfo, DqliteValueRef};

/// Whether a column of this type can hold a date or time.
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

/// Decodes a date/time type from text or Unix seconds.
fn decode<T: Temporal>(value: &DqliteValueRef<'_>) -> Result<T, BoxDynError> {
    let stored = match value.data() {
        Data::Integer(secs) => Stored::UnixTime(*secs),
        _ => Stored::Text(value.text()?),
    };
    Ok(T::from_stored(stored)?)
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

macro_rules! temporal_codec {
    ($($t:ty),+ $(,)?) => {$(
        impl Decode<'_, Dqlite> for $t {
            fn decode(value: DqliteValueRef<'_>) -> Result<Self, BoxDynError> {
                decode(&value)
            }
        }
    )+};
    (encode $($t:ty),+ $(,)?) => {$(
        impl Encode<'_, Dqlite> for $t {
            fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
                push(buf, Temporal::to_text(self))
            }
        }
    )+};
}

#[cfg(feature = "chrono")]
mod with_chrono {
    use chrono::{
        DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    };

    use super::*;

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

    temporal_codec!(encode NaiveDate, NaiveTime, NaiveDateTime);
    temporal_codec!(
        NaiveDate,
        NaiveTime,
        NaiveDateTime,
        DateTime<Utc>,
        DateTime<Local>,
        DateTime<FixedOffset>,
    );

    /// Any zone, with its own offset.
    impl<Tz: TimeZone> Encode<'_, Dqlite> for DateTime<Tz> {
        fn encode_by_ref(&self, buf: &mut DqliteArgumentBuffer) -> Result<IsNull, BoxDynError> {
            push(buf, dqlite_client::temporal::chrono_text(self))
        }
    }
}

#[cfg(feature = "time")]
mod with_time {
    use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

    use super::*;

    temporal_type!(Date, DqliteDataType::Iso8601);
    temporal_type!(Time, DqliteDataType::Text);
    temporal_type!(PrimitiveDateTime, DqliteDataType::Iso8601);
    temporal_type!(OffsetDateTime, DqliteDataType::Iso8601);

    temporal_codec!(encode Date, Time, PrimitiveDateTime, OffsetDateTime);
    temporal_codec!(Date, Time, PrimitiveDateTime, OffsetDateTime);
}
