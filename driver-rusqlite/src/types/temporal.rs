//! chrono's and the time crate's date and time types (features `chrono`
//! and `time`): `ToSql`/`FromSql` adapted to `dqlite_client::temporal`,
//! which owns the layouts read and written (the same for sqlx-dqlite).
//!
//! Written as text in go-dqlite's layout (`2024-01-02 03:04:05.5+01:00`;
//! `DateTime<Local>` keeps its local offset). Read from text in any layout
//! go-dqlite reads (a space or `T` between date and time, optional
//! seconds, fraction and offset, a trailing `Z`, a bare date) and from an
//! integer of Unix seconds (dqlite's UNIXTIME).

use dqlite_client::temporal::{Stored, Temporal, TemporalError};

use super::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use crate::Result;

/// Reads a date/time type from text or Unix seconds.
fn read<T: Temporal>(value: ValueRef<'_>) -> FromSqlResult<T> {
    let stored = match value {
        ValueRef::Integer(secs) => Stored::UnixTime(secs),
        other => Stored::Text(other.as_str()?),
    };
    T::from_stored(stored).map_err(|e| match e {
        TemporalError::OutOfRange(secs) => FromSqlError::OutOfRange(secs),
        other => FromSqlError::other(other),
    })
}

macro_rules! temporal {
    ($($t:ty),+ $(,)?) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(Temporal::to_text(self)))
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                read(value)
            }
        }
    )+};
}

#[cfg(feature = "chrono")]
temporal!(
    chrono::NaiveDate,
    chrono::NaiveTime,
    chrono::NaiveDateTime,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Local>,
    chrono::DateTime<chrono::FixedOffset>,
);

#[cfg(feature = "time")]
temporal!(
    time::Date,
    time::Time,
    time::PrimitiveDateTime,
    time::OffsetDateTime,
);

#[cfg(all(test, feature = "chrono"))]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

    use super::*;
    use crate::types::Value;

    #[test]
    fn adapts_the_client_conversions() {
        let dt = NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_milli_opt(3, 4, 5, 500)
            .unwrap();
        let ToSqlOutput::Owned(Value::Text(text)) = dt.to_sql().unwrap() else {
            panic!("not text");
        };
        assert_eq!(text, "2024-01-02 03:04:05.5");
        assert_eq!(
            NaiveDateTime::column_result(ValueRef::Text(text.as_bytes())).unwrap(),
            dt
        );
        // A bare date reads as midnight (it did not before).
        assert_eq!(
            NaiveDateTime::column_result(ValueRef::Text(b"2024-01-02")).unwrap(),
            dt.date().and_time(NaiveTime::MIN)
        );
        assert!(matches!(
            NaiveDateTime::column_result(ValueRef::Integer(i64::MAX)),
            Err(FromSqlError::OutOfRange(i64::MAX))
        ));
        assert!(matches!(
            NaiveDate::column_result(ValueRef::Real(1.5)),
            Err(FromSqlError::InvalidType)
        ));
    }
}
