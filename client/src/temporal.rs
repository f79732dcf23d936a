//! Dates and times as dqlite stores them, for both drivers: the one place
//! that parses and formats dqlite's ISO8601 text and UNIXTIME integers,
//! with the conversions to chrono's types (feature `chrono`) and the time
//! crate's (feature `time`). The drivers only adapt their traits
//! (`ToSql`/`FromSql`, `Encode`/`Decode`) to [`Temporal`].
//!
//! # Reading
//!
//! A value arrives as [`Stored::Text`] (an ISO8601 or TEXT column) or
//! [`Stored::UnixTime`] (an integer of seconds since the epoch, UTC). Text
//! is read in the layouts go-dqlite reads (after one trailing `Z`, meaning
//! UTC, is stripped), and a few more that the drivers have always read:
//!
//! | layout | example |
//! |---|---|
//! | date, time, fraction, offset | `2024-01-02 03:04:05.5+01:00` |
//! | the same with `T` | `2024-01-02T03:04:05.5+01:00`, `2024-01-02T03:04:05Z` |
//! | date, time, fraction | `2024-01-02 03:04:05.123456789` (and with `T`) |
//! | date, time | `2024-01-02 03:04:05` (and with `T`) |
//! | date, hours and minutes | `2024-01-02 03:04` (and with `T`) |
//! | date | `2024-01-02` (midnight) |
//! | also: an offset without colon, or after `HH:MM` | `2024-01-02 03:04:05+0100`, `2024-01-02 03:04+01:00` |
//! | time of day (time types only) | `03:04`, `03:04:05`, `03:04:05.5` |
//!
//! A fraction has 1 to 9 digits. Text without an offset is UTC for the
//! types that carry an offset; the types without one take the date and
//! time as written (an offset in the text is then ignored), and the date
//! or time types take their part of a full date-time.
//!
//! # Writing
//!
//! Values are written in go-dqlite's own layout: `YYYY-MM-DD`,
//! `HH:MM:SS[.fraction]`, `YYYY-MM-DD HH:MM:SS[.fraction]` and, for the
//! types with an offset, `YYYY-MM-DD HH:MM:SS[.fraction]±hh:mm`; the
//! fraction loses its trailing zeros and is left out when zero (as Go's
//! `.999999999`). A date-time in a time zone keeps its own offset:
//! chrono's `DateTime<Local>` is written with the local offset
//! (`2024-01-02 04:04:05+01:00`), not converted to UTC — the same instant,
//! the same text go-dqlite writes for a local `time.Time`, and no
//! information lost; it reads back as the same instant.

use std::fmt::Write as _;

/// A value of a date/time column, as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored<'a> {
    /// ISO8601 or TEXT: the text as stored.
    Text(&'a str),
    /// UNIXTIME or INTEGER: seconds since the Unix epoch.
    UnixTime(i64),
}

/// Why a stored value is not a date or time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemporalError {
    /// The text is in none of the accepted layouts (see the module docs).
    #[error("not a date or time in a layout dqlite uses: {0:?}")]
    Layout(String),
    /// The fields are in a layout, but not a valid date or time.
    #[error("not a valid date or time: {0:?}")]
    Invalid(String),
    /// Unix seconds beyond what the type holds.
    #[error("Unix time {0} out of range")]
    OutOfRange(i64),
}

/// A date/time type the drivers can bind and read.
pub trait Temporal: Sized {
    /// Reads a stored value (see the module docs for the layouts).
    fn from_stored(value: Stored<'_>) -> Result<Self, TemporalError>;
    /// The text to bind (see the module docs for the layout).
    fn to_text(&self) -> String;
}

/// The fields of a date-time text, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Year.
    pub year: i32,
    /// Month, 1-based.
    pub month: u8,
    /// Day of the month, 1-based.
    pub day: u8,
    /// Time of day (midnight for a bare date).
    pub time: TimeParts,
    /// Offset east of UTC in seconds, if the text has one (`Z` is 0).
    pub offset: Option<i32>,
}

/// The fields of a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeParts {
    /// Hours.
    pub hour: u8,
    /// Minutes.
    pub minute: u8,
    /// Seconds.
    pub second: u8,
    /// Nanoseconds.
    pub nanosecond: u32,
}

/// A cursor over the bytes of a text being parsed.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn number(&mut self, digits: usize) -> Option<u32> {
        let field = self.bytes.get(self.at..self.at + digits)?;
        if !field.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += digits;
        Some(field.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    fn two(&mut self) -> Option<u8> {
        self.number(2).and_then(|n| u8::try_from(n).ok())
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// `HH:MM[:SS[.f{1,9}]]`.
    fn time(&mut self) -> Option<TimeParts> {
        let hour = self.two()?;
        if !self.eat(b':') {
            return None;
        }
        let minute = self.two()?;
        let mut time = TimeParts {
            hour,
            minute,
            ..TimeParts::default()
        };
        if self.eat(b':') {
            time.second = self.two()?;
            if self.eat(b'.') {
                let start = self.at;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits = self.at - start;
                if !(1..=9).contains(&digits) {
                    return None;
                }
                self.at = start;
                let n = self.number(digits)?;
                time.nanosecond = n * 10_u32.pow(9 - u32::try_from(digits).ok()?);
            }
        }
        Some(time)
    }

    /// `±hh:mm` or `±hhmm`, in seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.at += 1;
        let hours = i32::from(self.two()?);
        self.eat(b':');
        let minutes = i32::from(self.two()?);
        Some(sign * (hours * 3600 + minutes * 60))
    }
}

/// Parses a date or date-time text (see the module docs).
pub fn parse_date_time(text: &str) -> Result<Parts, TemporalError> {
    let layout = || TemporalError::Layout(text.to_owned());
    let (body, zulu) = match text.strip_suffix('Z') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let mut cursor = Cursor {
        bytes: body.as_bytes(),
        at: 0,
    };
    let year = cursor.number(4).ok_or_else(layout)?;
    let date = cursor.eat(b'-').then(|| cursor.two()).flatten();
    let day = cursor.eat(b'-').then(|| cursor.two()).flatten();
    let (Some(month), Some(day)) = (date, day) else {
        return Err(layout());
    };
    let mut parts = Parts {
        year: i32::try_from(year).map_err(|_| layout())?,
        month,
        day,
        time: TimeParts::default(),
        offset: None,
    };
    if !cursor.done() {
        if !(cursor.eat(b' ') || cursor.eat(b'T')) {
            return Err(layout());
        }
        parts.time = cursor.time().ok_or_else(layout)?;
        if !cursor.done() {
            parts.offset = Some(cursor.offset().ok_or_else(layout)?);
        }
    }
    if !cursor.done() || (zulu && parts.offset.is_some()) {
        return Err(layout());
    }
    if zulu {
        parts.offset = Some(0);
    }
    Ok(parts)
}

/// Parses a time of day: `HH:MM[:SS[.fff]]` alone, or the time of a
/// date-time text (as written).
pub fn parse_time(text: &str) -> Result<TimeParts, TemporalError> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    match cursor.time() {
        Some(time) if cursor.done() => Ok(time),
        _ => parse_date_time(text).map(|parts| parts.time),
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(out: &mut String, year: i32, month: u8, day: u8) {
    let _ = write!(out, "{year:04}-{month:02}-{day:02}");
}

/// `HH:MM:SS[.fraction]`, the fraction without trailing zeros, left out
/// when zero.
pub fn format_time(out: &mut String, time: TimeParts) {
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        time.hour, time.minute, time.second
    );
    if time.nanosecond > 0 {
        let fraction = format!("{:09}", time.nanosecond);
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
}

/// `±hh:mm` for an offset in seconds east of UTC (seconds dropped).
pub fn format_offset(out: &mut String, seconds: i32) {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    let _ = write!(out, "{sign}{:02}:{:02}", minutes / 60, minutes % 60);
}

/// The whole text of a date-time (see the module docs).
pub fn format_date_time(parts: Parts) -> String {
    let mut out = String::with_capacity(35);
    format_date(&mut out, parts.year, parts.month, parts.day);
    out.push(' ');
    format_time(&mut out, parts.time);
    if let Some(offset) = parts.offset {
        format_offset(&mut out, offset);
    }
    out
}

/// The text of a date alone.
#[cfg(any(feature = "chrono", feature = "time"))]
fn date_text(year: i32, month: u8, day: u8) -> String {
    let mut out = String::with_capacity(10);
    format_date(&mut out, year, month, day);
    out
}

/// The text of a time of day alone.
#[cfg(any(feature = "chrono", feature = "time"))]
fn time_text(time: TimeParts) -> String {
    let mut out = String::with_capacity(18);
    format_time(&mut out, time);
    out
}

/// The error for fields in a layout that make no valid date-time.
#[cfg(any(feature = "chrono", feature = "time"))]
fn invalid(parts: Parts) -> TemporalError {
    TemporalError::Invalid(format_date_time(parts))
}

/// The error for fields in a layout that make no valid time of day.
#[cfg(any(feature = "chrono", feature = "time"))]
fn invalid_time(time: TimeParts) -> TemporalError {
    TemporalError::Invalid(time_text(time))
}

/// Implements [`Temporal`] for `$t` from how it reads Unix seconds, how it
/// reads text, and how it is written.
#[cfg(any(feature = "chrono", feature = "time"))]
macro_rules! temporal {
    ($t:ty, unix: $unix:expr, text: $text:expr, write: $write:expr $(,)?) => {
        impl Temporal for $t {
            fn from_stored(value: Stored<'_>) -> Result<Self, TemporalError> {
                match value {
                    Stored::UnixTime(secs) => $unix(secs),
                    Stored::Text(text) => $text(text),
                }
            }

            fn to_text(&self) -> String {
                $write(self)
            }
        }
    };
}

#[cfg(feature = "chrono")]
pub use with_chrono::chrono_text;

#[cfg(feature = "chrono")]
mod with_chrono {
    use chrono::{
        DateTime, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, Offset,
        TimeZone, Timelike, Utc,
    };

    use super::{
        Parts, Stored, Temporal, TemporalError, TimeParts, date_text, format_date_time, invalid,
        invalid_time, parse_date_time, parse_time, time_text,
    };

    /// A field of a valid date or time, which fits in a byte.
    fn byte(n: u32) -> u8 {
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    fn utc(secs: i64) -> Result<DateTime<Utc>, TemporalError> {
        DateTime::from_timestamp(secs, 0).ok_or(TemporalError::OutOfRange(secs))
    }

    fn date(parts: Parts) -> Result<NaiveDate, TemporalError> {
        NaiveDate::from_ymd_opt(parts.year, parts.month.into(), parts.day.into())
            .ok_or_else(|| invalid(parts))
    }

    fn time(parts: TimeParts) -> Result<NaiveTime, TemporalError> {
        NaiveTime::from_hms_nano_opt(
            parts.hour.into(),
            parts.minute.into(),
            parts.second.into(),
            parts.nanosecond,
        )
        .ok_or_else(|| invalid_time(parts))
    }

    fn naive(parts: Parts) -> Result<NaiveDateTime, TemporalError> {
        Ok(date(parts)?.and_time(time(parts.time)?))
    }

    fn time_parts(t: NaiveTime) -> TimeParts {
        TimeParts {
            hour: byte(t.hour()),
            minute: byte(t.minute()),
            second: byte(t.second()),
            nanosecond: t.nanosecond(),
        }
    }

    fn parts(dt: NaiveDateTime, offset: Option<i32>) -> Parts {
        Parts {
            year: dt.year(),
            month: byte(dt.month()),
            day: byte(dt.day()),
            time: time_parts(dt.time()),
            offset,
        }
    }

    /// Text with an offset (none is UTC) as a fixed-offset date-time.
    fn fixed(text: &str) -> Result<DateTime<FixedOffset>, TemporalError> {
        let parts = parse_date_time(text)?;
        let offset =
            FixedOffset::east_opt(parts.offset.unwrap_or(0)).ok_or_else(|| invalid(parts))?;
        offset
            .from_local_datetime(&naive(parts)?)
            .single()
            .ok_or_else(|| invalid(parts))
    }

    /// The text of a chrono date-time in any time zone, with that zone's
    /// offset (the [`Temporal::to_text`] of the three zones chrono has,
    /// for drivers that bind `DateTime<Tz>` of any `Tz`).
    pub fn chrono_text<Tz: TimeZone>(dt: &DateTime<Tz>) -> String {
        let offset = dt.offset().fix().local_minus_utc();
        format_date_time(parts(dt.naive_local(), Some(offset)))
    }

    temporal!(
        NaiveDate,
        unix: |secs| Ok(utc(secs)?.date_naive()),
        text: |text| date(parse_date_time(text)?),
        write: |d: &NaiveDate| date_text(d.year(), byte(d.month()), byte(d.day())),
    );
    temporal!(
        NaiveTime,
        unix: |secs| Ok(utc(secs)?.time()),
        text: |text| time(parse_time(text)?),
        write: |t: &NaiveTime| time_text(time_parts(*t)),
    );
    temporal!(
        NaiveDateTime,
        unix: |secs| Ok(utc(secs)?.naive_utc()),
        text: |text| naive(parse_date_time(text)?),
        write: |dt: &NaiveDateTime| format_date_time(parts(*dt, None)),
    );
    temporal!(
        DateTime<FixedOffset>,
        unix: |secs| Ok(utc(secs)?.fixed_offset()),
        text: fixed,
        write: chrono_text,
    );
    temporal!(
        DateTime<Utc>,
        unix: utc,
        text: |text| Ok(fixed(text)?.with_timezone(&Utc)),
        write: chrono_text,
    );
    // Written with the local offset (see the module docs).
    temporal!(
        DateTime<Local>,
        unix: |secs| Ok(utc(secs)?.with_timezone(&Local)),
        text: |text| Ok(fixed(text)?.with_timezone(&Local)),
        write: chrono_text,
    );
}

#[cfg(feature = "time")]
mod with_time {
    use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

    use super::{
        Parts, Stored, Temporal, TemporalError, TimeParts, date_text, format_date_time, invalid,
        invalid_time, parse_date_time, parse_time, time_text,
    };

    fn utc(secs: i64) -> Result<OffsetDateTime, TemporalError> {
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| TemporalError::OutOfRange(secs))
    }

    fn date(parts: Parts) -> Result<Date, TemporalError> {
        let month = Month::try_from(parts.month).map_err(|_| invalid(parts))?;
        Date::from_calendar_date(parts.year, month, parts.day).map_err(|_| invalid(parts))
    }

    fn time(parts: TimeParts) -> Result<Time, TemporalError> {
        Time::from_hms_nano(parts.hour, parts.minute, parts.second, parts.nanosecond)
            .map_err(|_| invalid_time(parts))
    }

    fn primitive_of(parts: Parts) -> Result<PrimitiveDateTime, TemporalError> {
        Ok(PrimitiveDateTime::new(date(parts)?, time(parts.time)?))
    }

    fn time_parts(t: Time) -> TimeParts {
        TimeParts {
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            nanosecond: t.nanosecond(),
        }
    }

    fn parts(dt: PrimitiveDateTime, offset: Option<i32>) -> Parts {
        Parts {
            year: dt.year(),
            month: dt.month().into(),
            day: dt.day(),
            time: time_parts(dt.time()),
            offset,
        }
    }

    fn primitive(dt: OffsetDateTime) -> PrimitiveDateTime {
        PrimitiveDateTime::new(dt.date(), dt.time())
    }

    /// Text with an offset (none is UTC).
    fn with_offset(text: &str) -> Result<OffsetDateTime, TemporalError> {
        let parts = parse_date_time(text)?;
        let offset =
            UtcOffset::from_whole_seconds(parts.offset.unwrap_or(0)).map_err(|_| invalid(parts))?;
        Ok(primitive_of(parts)?.assume_offset(offset))
    }

    temporal!(
        Date,
        unix: |secs| Ok(utc(secs)?.date()),
        text: |text| date(parse_date_time(text)?),
        write: |d: &Date| date_text(d.year(), d.month().into(), d.day()),
    );
    temporal!(
        Time,
        unix: |secs| Ok(utc(secs)?.time()),
        text: |text| time(parse_time(text)?),
        write: |t: &Time| time_text(time_parts(*t)),
    );
    temporal!(
        PrimitiveDateTime,
        unix: |secs| Ok(primitive(utc(secs)?)),
        text: |text| primitive_of(parse_date_time(text)?),
        write: |dt: &PrimitiveDateTime| format_date_time(parts(*dt, None)),
    );
    temporal!(
        OffsetDateTime,
        unix: utc,
        text: with_offset,
        write: |dt: &OffsetDateTime| {
            format_date_time(parts(primitive(*dt), Some(dt.offset().whole_seconds())))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i32 = 3600;

    /// Every accepted layout, and what it reads as.
    #[test]
    fn every_accepted_layout() {
        let t = |hour, minute, second, nanosecond| TimeParts {
            hour,
            minute,
            second,
            nanosecond,
        };
        let at = |time, offset| Parts {
            year: 2024,
            month: 1,
            day: 2,
            time,
            offset,
        };
        #[rustfmt::skip]
        let table: &[(&str, Parts)] = &[
            // go-dqlite's layouts, in its order.
            ("2024-01-02 03:04:05.5+01:00",         at(t(3, 4, 5, 500_000_000), Some(H))),
            ("2024-01-02 03:04:05.123456789-07:30", at(t(3, 4, 5, 123_456_789), Some(-7 * H - 1800))),
            ("2024-01-02 03:04:05+00:00",           at(t(3, 4, 5, 0), Some(0))),
            ("2024-01-02T03:04:05.5+01:00",         at(t(3, 4, 5, 500_000_000), Some(H))),
            ("2024-01-02T03:04:05+01:00",           at(t(3, 4, 5, 0), Some(H))),
            ("2024-01-02 03:04:05.000001",          at(t(3, 4, 5, 1_000), None)),
            ("2024-01-02T03:04:05.25",              at(t(3, 4, 5, 250_000_000), None)),
            ("2024-01-02 03:04:05",                 at(t(3, 4, 5, 0), None)),
            ("2024-01-02T03:04:05",                 at(t(3, 4, 5, 0), None)),
            ("2024-01-02 03:04",                    at(t(3, 4, 0, 0), None)),
            ("2024-01-02T03:04",                    at(t(3, 4, 0, 0), None)),
            ("2024-01-02",                          at(t(0, 0, 0, 0), None)),
            // A trailing Z is UTC.
            ("2024-01-02T03:04:05Z",                at(t(3, 4, 5, 0), Some(0))),
            ("2024-01-02 03:04:05.5Z",              at(t(3, 4, 5, 500_000_000), Some(0))),
            ("2024-01-02Z",                         at(t(0, 0, 0, 0), Some(0))),
            // The drivers' extras: an offset without colon, or after minutes.
            ("2024-01-02 03:04:05+0100",            at(t(3, 4, 5, 0), Some(H))),
            ("2024-01-02 03:04+01:00",              at(t(3, 4, 0, 0), Some(H))),
        ];
        for (text, parts) in table {
            assert_eq!(parse_date_time(text).as_ref(), Ok(parts), "{text}");
        }
        for bad in [
            "",
            "2024",
            "2024-1-2",
            "24-01-02",
            "2024-01-02 ",
            "2024-01-02 3:04",
            "2024-01-02 03",
            "2024-01-02 03:04:5",
            "2024-01-02 03:04:05.",
            "2024-01-02 03:04:05.1234567890",
            "2024-01-02 03:04:05 +01:00",
            "2024-01-02 03:04:05+01:00Z",
            "2024-01-02x03:04",
            "2024-01-02 03:04:05+1",
            "03:04",
        ] {
            assert!(parse_date_time(bad).is_err(), "{bad:?}");
        }
        // Time-of-day layouts, and the time of a date-time.
        #[rustfmt::skip]
        let times: &[(&str, TimeParts)] = &[
            ("03:04",                       t(3, 4, 0, 0)),
            ("03:04:05",                    t(3, 4, 5, 0)),
            ("03:04:05.5",                  t(3, 4, 5, 500_000_000)),
            ("2024-01-02 03:04:05.5+01:00", t(3, 4, 5, 500_000_000)),
        ];
        for (text, time) in times {
            assert_eq!(parse_time(text).as_ref(), Ok(time), "{text}");
        }
        assert!(parse_time("3:04").is_err());
    }

    #[test]
    fn writing_is_go_dqlite_layout() {
        let time = TimeParts {
            hour: 3,
            minute: 4,
            second: 5,
            nanosecond: 500_000_000,
        };
        let parts = Parts {
            year: 2024,
            month: 1,
            day: 2,
            time,
            offset: Some(H),
        };
        assert_eq!(format_date_time(parts), "2024-01-02 03:04:05.5+01:00");
        let whole = Parts {
            time: TimeParts {
                nanosecond: 0,
                ..time
            },
            offset: Some(-(5 * H + 1800)),
            ..parts
        };
        assert_eq!(format_date_time(whole), "2024-01-02 03:04:05-05:30");
        let naive = Parts {
            offset: None,
            ..parts
        };
        assert_eq!(format_date_time(naive), "2024-01-02 03:04:05.5");
        assert_eq!(parse_date_time(&format_date_time(parts)), Ok(parts));
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn chrono_types() {
        use chrono::{
            DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
        };
        let date = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let dt = date.and_hms_milli_opt(3, 4, 5, 500).unwrap();
        assert_eq!(dt.to_text(), "2024-01-02 03:04:05.5");
        assert_eq!(date.to_text(), "2024-01-02");
        assert_eq!(dt.time().to_text(), "03:04:05.5");
        assert_eq!(
            NaiveDateTime::from_stored(Stored::Text(&dt.to_text())),
            Ok(dt)
        );
        // A bare date is midnight.
        assert_eq!(
            NaiveDateTime::from_stored(Stored::Text("2024-01-02")),
            Ok(date.and_hms_opt(0, 0, 0).unwrap())
        );
        let plus_one = FixedOffset::east_opt(3600).unwrap();
        let fixed = plus_one.from_local_datetime(&dt).unwrap();
        assert_eq!(fixed.to_text(), "2024-01-02 03:04:05.5+01:00");
        assert_eq!(
            DateTime::<FixedOffset>::from_stored(Stored::Text(&fixed.to_text())),
            Ok(fixed)
        );
        let utc = Utc.from_utc_datetime(&dt);
        assert_eq!(utc.to_text(), "2024-01-02 03:04:05.5+00:00");
        assert_eq!(
            DateTime::<Utc>::from_stored(Stored::Text("2024-01-02 04:04:05.5+01:00")),
            Ok(utc)
        );
        assert_eq!(
            DateTime::<Utc>::from_stored(Stored::Text("2024-01-02T03:04:05.5Z")),
            Ok(utc)
        );
        // Local keeps its offset, and reads back as the same instant.
        let local = utc.with_timezone(&Local);
        let text = local.to_text();
        assert!(
            text.starts_with(&local.naive_local().date().to_text()),
            "{text}"
        );
        assert_eq!(
            DateTime::<Local>::from_stored(Stored::Text(&text)),
            Ok(local)
        );
        // UNIXTIME.
        let unix = DateTime::<Utc>::from_stored(Stored::UnixTime(1_700_000_000)).unwrap();
        assert_eq!(unix.timestamp(), 1_700_000_000);
        assert_eq!(
            NaiveDate::from_stored(Stored::UnixTime(0)),
            Ok(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        );
        assert_eq!(
            DateTime::<Utc>::from_stored(Stored::UnixTime(i64::MAX)),
            Err(TemporalError::OutOfRange(i64::MAX))
        );
        // Parts of a date-time, as written.
        assert_eq!(
            NaiveDate::from_stored(Stored::Text("2024-01-02 23:00:00-05:00")),
            Ok(date)
        );
        assert_eq!(
            NaiveTime::from_stored(Stored::Text("23:56")),
            Ok(NaiveTime::from_hms_opt(23, 56, 0).unwrap())
        );
        assert!(matches!(
            NaiveDate::from_stored(Stored::Text("2024-02-30")),
            Err(TemporalError::Invalid(_))
        ));
    }

    #[cfg(feature = "time")]
    #[test]
    fn time_types() {
        use time::macros::{date, datetime, time};
        use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};
        let dt = datetime!(2024-01-02 03:04:05.5 +01:00);
        assert_eq!(dt.to_text(), "2024-01-02 03:04:05.5+01:00");
        assert_eq!(
            OffsetDateTime::from_stored(Stored::Text(&dt.to_text())),
            Ok(dt)
        );
        assert_eq!(
            OffsetDateTime::from_stored(Stored::Text("2024-05-06T07:08:09Z")),
            Ok(datetime!(2024-05-06 07:08:09 UTC))
        );
        assert_eq!(
            OffsetDateTime::from_stored(Stored::Text("2024-05-06 07:08")),
            Ok(datetime!(2024-05-06 07:08 UTC))
        );
        let naive = datetime!(2024-01-02 03:04:05);
        assert_eq!(naive.to_text(), "2024-01-02 03:04:05");
        assert_eq!(
            PrimitiveDateTime::from_stored(Stored::Text("2024-01-02")),
            Ok(datetime!(2024-01-02 00:00))
        );
        assert_eq!(date!(2024 - 05 - 06).to_text(), "2024-05-06");
        assert_eq!(
            Date::from_stored(Stored::Text("2024-05-06 07:08:09")),
            Ok(date!(2024 - 05 - 06))
        );
        assert_eq!(time!(23:56).to_text(), "23:56:00");
        assert_eq!(Time::from_stored(Stored::Text("23:56")), Ok(time!(23:56)));
        assert_eq!(
            OffsetDateTime::from_stored(Stored::UnixTime(1_700_000_000))
                .map(|t| t.unix_timestamp()),
            Ok(1_700_000_000)
        );
    }
}
