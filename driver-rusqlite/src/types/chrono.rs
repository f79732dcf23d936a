//! chrono's date and time types (feature `chrono`).
//!
//! Written as text in the layouts SQLite's date functions read
//! (`YYYY-MM-DD`, `HH:MM:SS.fff`, `YYYY-MM-DD HH:MM:SS.fff[+hh:mm]`).
//! Read from text with a space or a `T` between date and time, with or
//! without fraction and offset (a trailing `Z` is UTC), and, for the
//! date-time types, from an integer of Unix seconds (dqlite's UNIXTIME).

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use crate::Result;

const DATE: &str = "%Y-%m-%d";
const TIME: &str = "%H:%M:%S%.f";
const DATE_TIME: &str = "%Y-%m-%d %H:%M:%S%.f";
const DATE_TIME_OFFSET: &str = "%Y-%m-%d %H:%M:%S%.f%:z";

impl ToSql for NaiveDate {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.format(DATE).to_string()))
    }
}

impl FromSql for NaiveDate {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        match NaiveDate::parse_from_str(s, DATE) {
            Ok(d) => Ok(d),
            // A DATE column may hold a full date-time.
            Err(e) => naive_date_time(s)
                .map(|dt| dt.date())
                .map_err(|_| FromSqlError::other(e)),
        }
    }
}

impl ToSql for NaiveTime {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.format(TIME).to_string()))
    }
}

impl FromSql for NaiveTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        let layout = if s.len() == 5 { "%H:%M" } else { TIME };
        NaiveTime::parse_from_str(s, layout).map_err(FromSqlError::other)
    }
}

/// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.fff]]`.
fn naive_date_time(s: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    let normalized;
    let s = if s.as_bytes().get(10) == Some(&b'T') {
        normalized = s.replacen('T', " ", 1);
        normalized.as_str()
    } else {
        s
    };
    NaiveDateTime::parse_from_str(s, DATE_TIME)
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
}

impl ToSql for NaiveDateTime {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.format(DATE_TIME).to_string()))
    }
}

impl FromSql for NaiveDateTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        if let ValueRef::Integer(secs) = value {
            return DateTime::from_timestamp(secs, 0)
                .map(|dt| dt.naive_utc())
                .ok_or(FromSqlError::OutOfRange(secs));
        }
        naive_date_time(value.as_str()?).map_err(FromSqlError::other)
    }
}

impl ToSql for DateTime<Utc> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.format(DATE_TIME_OFFSET).to_string()))
    }
}

impl ToSql for DateTime<Local> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        let utc = self.with_timezone(&Utc);
        Ok(ToSqlOutput::from(utc.format(DATE_TIME_OFFSET).to_string()))
    }
}

impl ToSql for DateTime<FixedOffset> {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.format(DATE_TIME_OFFSET).to_string()))
    }
}

/// Parses a date-time with an offset (`+hh:mm`, `+hhmm` or `Z`).
fn with_offset(s: &str) -> Option<DateTime<FixedOffset>> {
    let normalized = if s.as_bytes().get(10) == Some(&b'T') {
        s.replacen('T', " ", 1)
    } else {
        s.to_owned()
    };
    let normalized = match normalized.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => normalized,
    };
    DateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M:%S%.f%#z")
        .or_else(|_| DateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M%#z"))
        .ok()
}

impl FromSql for DateTime<FixedOffset> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        if let ValueRef::Integer(secs) = value {
            return DateTime::from_timestamp(secs, 0)
                .map(|dt| dt.fixed_offset())
                .ok_or(FromSqlError::OutOfRange(secs));
        }
        let s = value.as_str()?;
        if let Some(dt) = with_offset(s) {
            return Ok(dt);
        }
        naive_date_time(s)
            .map(|dt| dt.and_utc().fixed_offset())
            .map_err(FromSqlError::other)
    }
}

impl FromSql for DateTime<Utc> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        DateTime::<FixedOffset>::column_result(value).map(|dt| dt.with_timezone(&Utc))
    }
}

impl FromSql for DateTime<Local> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        DateTime::<FixedOffset>::column_result(value).map(|dt| dt.with_timezone(&Local))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::types::Value;

    fn text<T: ToSql>(v: &T) -> String {
        match v.to_sql().unwrap() {
            ToSqlOutput::Owned(Value::Text(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trips_and_dqlite_layouts() {
        let dt = NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_milli_opt(3, 4, 5, 500)
            .unwrap();
        assert_eq!(text(&dt), "2024-01-02 03:04:05.500");
        let back = NaiveDateTime::column_result(ValueRef::Text(text(&dt).as_bytes())).unwrap();
        assert_eq!(back, dt);
        // go-dqlite's layout, with an offset.
        let go =
            DateTime::<Utc>::column_result(ValueRef::Text(b"2024-01-02 03:04:05.5+01:00")).unwrap();
        assert_eq!(
            go,
            Utc.with_ymd_and_hms(2024, 1, 2, 2, 4, 5).unwrap()
                + chrono::Duration::milliseconds(500)
        );
        // UNIXTIME arrives as an integer.
        let unix = DateTime::<Utc>::column_result(ValueRef::Integer(1_700_000_000)).unwrap();
        assert_eq!(unix.timestamp(), 1_700_000_000);
        let t = DateTime::<Utc>::column_result(ValueRef::Text(b"2024-05-06T07:08:09Z")).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap());
        let d = NaiveDate::column_result(ValueRef::Text(b"2024-05-06 07:08:09")).unwrap();
        assert_eq!(d, NaiveDate::from_ymd_opt(2024, 5, 6).unwrap());
        let time = NaiveTime::column_result(ValueRef::Text(b"23:56")).unwrap();
        assert_eq!(text(&time), "23:56:00");
    }
}
