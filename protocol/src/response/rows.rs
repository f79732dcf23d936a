//! ROWS (7): result batches, readable and writable one row at a time.
//!
//! A result set is one or more ROWS messages. Each repeats the column count
//! and names, carries zero or more rows, and ends with a marker word: PART
//! (more messages follow, unasked) or DONE. [`RowsReader`] walks one
//! message's rows without copying them, so a client never holds more than
//! one message; [`RowsWriter`] appends rows to a message under construction
//! so a server can cut batches at any size it likes.

use bytes::BytesMut;

use super::body::{Body, ResponseContext};
use crate::codes::ResponseType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::{HEADER_LEN, Header, WORD};
use crate::tuple::{decode_row, encode_row};
use crate::value::{Value, ValueRef};
use crate::wire::{self, BodyWriter};

/// PART marker: more ROWS messages follow for the same request.
pub const PART_MARKER: u64 = 0xeeee_eeee_eeee_eeee;

/// DONE marker: the result set is complete.
pub const DONE_MARKER: u64 = 0xffff_ffff_ffff_ffff;

/// How a ROWS message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowsEnd {
    /// More messages follow.
    Part,
    /// The result set is complete.
    Done,
}

impl RowsEnd {
    /// The marker word.
    pub fn marker(self) -> u64 {
        match self {
            Self::Part => PART_MARKER,
            Self::Done => DONE_MARKER,
        }
    }

    fn from_word(word: &[u8; WORD]) -> Option<Self> {
        match u64::from_le_bytes(*word) {
            PART_MARKER => Some(Self::Part),
            DONE_MARKER => Some(Self::Done),
            _ => None,
        }
    }
}

/// One ROWS message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// The rows of this message, each with one value per column.
    pub rows: Vec<Vec<Value>>,
    /// How the message ends.
    pub end: RowsEnd,
}

impl Body for Rows {
    const TYPE: ResponseType = ResponseType::Rows;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        if self.end == RowsEnd::Part && self.rows.is_empty() {
            return Err(EncodeError::EmptyPart);
        }
        w.u64(wire::len_u64(self.columns.len()));
        for name in &self.columns {
            w.text(name.as_bytes())?;
        }
        for row in &self.rows {
            encode_row(self.columns.len(), row.iter().map(Value::as_ref), w)?;
        }
        w.u64(self.end.marker());
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        let mut reader = RowsReader::new(body)?;
        let columns = reader.columns().iter().map(|c| (*c).to_owned()).collect();
        let mut rows = Vec::new();
        for row in &mut reader {
            rows.push(row?.into_iter().map(ValueRef::to_owned).collect());
        }
        let end = reader.end().ok_or(DecodeError::MissingRowsEnd)?;
        Ok(Self { columns, rows, end })
    }
}

/// Reads the rows of one ROWS message body lazily, borrowing from it.
///
/// It is an iterator of rows; after it returns `None`, [`end`](Self::end)
/// tells whether more messages follow. A decode error ends the iteration.
#[derive(Debug, Clone)]
pub struct RowsReader<'a> {
    columns: Vec<&'a str>,
    rest: &'a [u8],
    end: Option<RowsEnd>,
    failed: bool,
}

impl<'a> RowsReader<'a> {
    /// Reads the column count and names at the start of a ROWS body.
    pub fn new(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (rest, columns) = wire::run(body, |i| {
            let (mut i, count) = wire::u64_(i)?;
            let count = match wire::bounded_count(count, i, WORD) {
                Ok(n) => n,
                Err(e) => return wire::fail(e),
            };
            let mut columns = Vec::with_capacity(count);
            for _ in 0..count {
                let (rest, name) = wire::text(i)?;
                let Ok(name) = std::str::from_utf8(name) else {
                    return wire::fail(DecodeError::InvalidUtf8);
                };
                columns.push(name);
                i = rest;
            }
            Ok((i, (i, columns)))
        })?;
        Ok(Self {
            columns,
            rest,
            end: None,
            failed: false,
        })
    }

    /// Column names.
    pub fn columns(&self) -> &[&'a str] {
        &self.columns
    }

    /// The marker, once every row has been read; `None` before that or
    /// after an error.
    pub fn end(&self) -> Option<RowsEnd> {
        self.end
    }

    /// Reads the next row into `out` (cleared first). Returns `Ok(false)` at
    /// the end marker. Reusing `out` avoids one allocation per row.
    pub fn next_into(&mut self, out: &mut Vec<ValueRef<'a>>) -> Result<bool, DecodeError> {
        if self.end.is_some() || self.failed {
            return Ok(false);
        }
        let result = self.step(out);
        self.failed = result.is_err();
        result
    }

    fn step(&mut self, out: &mut Vec<ValueRef<'a>>) -> Result<bool, DecodeError> {
        let Some(word) = self.rest.first_chunk::<WORD>() else {
            return Err(DecodeError::MissingRowsEnd);
        };
        if let Some(end) = RowsEnd::from_word(word) {
            self.end = Some(end);
            return Ok(false);
        }
        if self.columns.is_empty() {
            // A zero-column row is zero bytes: only a marker may follow.
            return Err(DecodeError::MissingRowsEnd);
        }
        let columns = self.columns.len();
        let (rest, ()) = wire::run(self.rest, |i| {
            let (rest, ()) = decode_row(columns, i, out)?;
            Ok((rest, (rest, ())))
        })?;
        self.rest = rest;
        Ok(true)
    }
}

impl<'a> Iterator for RowsReader<'a> {
    type Item = Result<Vec<ValueRef<'a>>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = Vec::with_capacity(self.columns.len());
        match self.next_into(&mut row) {
            Ok(true) => Some(Ok(row)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Builds one ROWS message in a buffer, row by row.
///
/// [`begin`](Self::begin) writes the header placeholder, column count and
/// names; [`push_row`](Self::push_row) appends a row (a failed push leaves
/// the message as it was); [`finish`](Self::finish) writes the marker and
/// the header. A writer dropped without `finish` removes its partial message
/// from the buffer, so a half-built batch can never be sent.
#[derive(Debug)]
pub struct RowsWriter<'b> {
    buf: &'b mut BytesMut,
    start: usize,
    columns: usize,
    rows: usize,
    finished: bool,
}

impl<'b> RowsWriter<'b> {
    /// Starts a message with the given column names.
    pub fn begin<S: AsRef<str>>(buf: &'b mut BytesMut, columns: &[S]) -> Result<Self, EncodeError> {
        let start = buf.len();
        buf.extend_from_slice(&[0; HEADER_LEN]);
        let writer = Self {
            buf,
            start,
            columns: columns.len(),
            rows: 0,
            finished: false,
        };
        let mut w = BodyWriter::new(writer.buf);
        w.u64(wire::len_u64(columns.len()));
        for name in columns {
            w.text(name.as_ref().as_bytes())?;
        }
        Ok(writer)
    }

    /// Appends one row; it must have one value per column.
    pub fn push_row<'v, I>(&mut self, values: I) -> Result<(), EncodeError>
    where
        I: IntoIterator<Item = ValueRef<'v>>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let row_start = self.buf.len();
        let result = encode_row(
            self.columns,
            values.into_iter(),
            &mut BodyWriter::new(self.buf),
        );
        match result {
            Ok(()) => {
                self.rows += 1;
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(row_start);
                Err(e)
            }
        }
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Size of the message so far, header included, without the marker.
    pub fn message_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Ends the message with `end` and writes its header. A PART message
    /// must carry at least one row, or a reader could be sent empty batches
    /// forever (a defect of the C server this crate refuses to reproduce).
    pub fn finish(mut self, end: RowsEnd) -> Result<(), EncodeError> {
        if end == RowsEnd::Part && self.rows == 0 {
            return Err(EncodeError::EmptyPart);
        }
        self.buf.extend_from_slice(&end.marker().to_le_bytes());
        let bytes = self.buf.len() - self.start - HEADER_LEN;
        let words =
            u32::try_from(bytes / WORD).map_err(|_| EncodeError::FrameTooLarge { bytes })?;
        let header = Header {
            words,
            kind: ResponseType::Rows.code(),
            schema: 0,
            extra: 0,
        };
        self.buf[self.start..self.start + HEADER_LEN].copy_from_slice(&header.to_bytes());
        self.finished = true;
        Ok(())
    }
}

impl Drop for RowsWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.buf.truncate(self.start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_writer_leaves_no_trace() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        {
            let mut w = RowsWriter::begin(&mut buf, &["a"]).unwrap();
            w.push_row([ValueRef::Integer(1)]).unwrap();
        }
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn failed_push_keeps_earlier_rows() {
        let mut buf = BytesMut::new();
        let mut w = RowsWriter::begin(&mut buf, &["a"]).unwrap();
        w.push_row([ValueRef::Integer(1)]).unwrap();
        let len = w.message_len();
        assert_eq!(
            w.push_row([ValueRef::Text(b"a\0b")]),
            Err(EncodeError::InteriorNul)
        );
        assert_eq!(
            w.push_row([ValueRef::Null, ValueRef::Null]),
            Err(EncodeError::RowWidth {
                expected: 1,
                got: 2
            })
        );
        assert_eq!(w.message_len(), len);
        w.finish(RowsEnd::Done).unwrap();
        let frame = crate::Frame::from_message(&buf, &Default::default()).unwrap();
        let mut reader = RowsReader::new(&frame.body).unwrap();
        assert_eq!(reader.next().unwrap().unwrap(), vec![ValueRef::Integer(1)]);
        assert!(reader.next().is_none());
        assert_eq!(reader.end(), Some(RowsEnd::Done));
    }

    #[test]
    fn empty_part_is_refused() {
        let mut buf = BytesMut::new();
        let w = RowsWriter::begin(&mut buf, &["a"]).unwrap();
        assert_eq!(w.finish(RowsEnd::Part), Err(EncodeError::EmptyPart));
        assert!(buf.is_empty());
    }

    #[test]
    fn zero_columns_need_a_marker() {
        // count 0, then garbage instead of a marker.
        let body = [0u8; 16];
        let mut reader = RowsReader::new(&body).unwrap();
        assert_eq!(reader.next(), Some(Err(DecodeError::MissingRowsEnd)));
        assert_eq!(reader.next(), None);
        // count 0, DONE.
        let mut body = vec![0u8; 8];
        body.extend_from_slice(&DONE_MARKER.to_le_bytes());
        let mut reader = RowsReader::new(&body).unwrap();
        assert_eq!(reader.next(), None);
        assert_eq!(reader.end(), Some(RowsEnd::Done));
    }
}
