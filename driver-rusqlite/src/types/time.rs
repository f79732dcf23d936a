//! The time crate's date and time types (feature `time`), in the same text
//! layouts as the chrono ones; date-times also read Unix seconds.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use crate::{Error, Result};

const DATE: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");
const TIME_OUT: &[BorrowedFormatItem<'_>] =
    format_description!("[hour]:[minute]:[second].[subsecond]");
const TIME_IN: &[BorrowedFormatItem<'_>] =
    format_description!("[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]");
const DATE_TIME_OUT: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
const DATE_TIME_IN: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day][first [ ][T]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
);
const OFFSET_OUT: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory]:[offset_minute]"
);
const OFFSET_IN: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day][first [ ][T]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]][offset_hour sign:mandatory]:[offset_minute]"
);

fn format_err(e: time::error::Format) -> Error {
    Error::ToSqlConversionFailure(Box::new(e))
}

impl ToSql for Date {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.format(DATE).map(ToSqlOutput::from).map_err(format_err)
    }
}

impl FromSql for Date {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        Date::parse(s, DATE)
            .or_else(|e| {
                PrimitiveDateTime::parse(s, DATE_TIME_IN)
                    .map(|dt| dt.date())
                    .map_err(|_| e)
            })
            .map_err(FromSqlError::other)
    }
}

impl ToSql for Time {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.format(TIME_OUT)
            .map(ToSqlOutput::from)
            .map_err(format_err)
    }
}

impl FromSql for Time {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Time::parse(value.as_str()?, TIME_IN).map_err(FromSqlError::other)
    }
}

impl ToSql for PrimitiveDateTime {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.format(DATE_TIME_OUT)
            .map(ToSqlOutput::from)
            .map_err(format_err)
    }
}

impl FromSql for PrimitiveDateTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        if let ValueRef::Integer(secs) = value {
            return OffsetDateTime::from_unix_timestamp(secs)
                .map(|dt| PrimitiveDateTime::new(dt.date(), dt.time()))
                .map_err(|_| FromSqlError::OutOfRange(secs));
        }
        PrimitiveDateTime::parse(value.as_str()?, DATE_TIME_IN).map_err(FromSqlError::other)
    }
}

impl ToSql for OffsetDateTime {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        self.format(OFFSET_OUT)
            .map(ToSqlOutput::from)
            .map_err(format_err)
    }
}

impl FromSql for OffsetDateTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        if let ValueRef::Integer(secs) = value {
            return OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|_| FromSqlError::OutOfRange(secs));
        }
        let s = value.as_str()?;
        let s = s.strip_suffix('Z').unwrap_or(s);
        OffsetDateTime::parse(s, OFFSET_IN)
            .or_else(|e| {
                PrimitiveDateTime::parse(s, DATE_TIME_IN)
                    .map(|dt| dt.assume_offset(UtcOffset::UTC))
                    .map_err(|_| e)
            })
            .map_err(FromSqlError::other)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::types::Value;

    #[test]
    fn round_trips_and_dqlite_layouts() {
        let dt = datetime!(2024-01-02 03:04:05.5 +01:00);
        let ToSqlOutput::Owned(Value::Text(s)) = dt.to_sql().unwrap() else {
            panic!("not text");
        };
        assert_eq!(s, "2024-01-02 03:04:05.5+01:00");
        assert_eq!(
            OffsetDateTime::column_result(ValueRef::Text(s.as_bytes())).unwrap(),
            dt
        );
        let unix = OffsetDateTime::column_result(ValueRef::Integer(1_700_000_000)).unwrap();
        assert_eq!(unix.unix_timestamp(), 1_700_000_000);
        let z = OffsetDateTime::column_result(ValueRef::Text(b"2024-05-06T07:08:09Z")).unwrap();
        assert_eq!(z, datetime!(2024-05-06 07:08:09 UTC));
        let d = Date::column_result(ValueRef::Text(b"2024-05-06")).unwrap();
        assert_eq!(d, time::macros::date!(2024 - 05 - 06));
        let t = Time::column_result(ValueRef::Text(b"23:56")).unwrap();
        assert_eq!(t, time::macros::time!(23:56));
    }
}
