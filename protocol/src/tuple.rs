//! Tuples (§4.2, §4.3): parameter tuples with one type byte per value and a
//! 1-byte (schema 0) or 4-byte (schema 1) count, and row tuples with one
//! 4-bit type nibble per column.

use crate::error::{DecodeError, EncodeError};
use crate::value::{Value, ValueRef, ValueType, row_type};
use crate::wire::{self, BodyWriter, PResult, fail, pad8};

/// A body layout version, carried in the header's schema byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Schema {
    /// The original layout (1-byte parameter count; STMT without tail offset).
    #[default]
    V0,
    /// dqlite ≥ 1.12 layout (4-byte parameter count; STMT with tail offset).
    V1,
}

impl Schema {
    /// The header byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::V0 => 0,
            Self::V1 => 1,
        }
    }

    /// The schema for a header byte, for messages that have two layouts.
    pub(crate) fn from_byte(kind: u8, schema: u8) -> Result<Self, DecodeError> {
        match schema {
            0 => Ok(Self::V0),
            1 => Ok(Self::V1),
            _ => Err(DecodeError::UnsupportedSchema { kind, schema }),
        }
    }
}

/// Largest parameter count of a schema 0 tuple.
pub const MAX_PARAMS_V0: usize = 255;

/// The parameters of EXEC, QUERY, EXEC_SQL and QUERY_SQL.
///
/// The schema decides the width of the count and is also the message's
/// header schema byte. [`Params::new`] picks schema 0 whenever it can, as
/// go-dqlite does, so that old servers understand the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params {
    /// Layout of the tuple.
    pub schema: Schema,
    /// The values, bound to SQL parameters 1, 2, … in order.
    pub values: Vec<Value>,
}

impl Params {
    /// Parameters with the smallest schema that can count them.
    pub fn new(values: Vec<Value>) -> Self {
        let schema = if values.len() > MAX_PARAMS_V0 {
            Schema::V1
        } else {
            Schema::V0
        };
        Self { schema, values }
    }

    /// Whether there are no values (then no tuple is sent at all).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Writes the tuple; nothing at all when there are no values.
    pub(crate) fn encode(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        encode_params(
            self.schema,
            self.values.iter().map(Value::as_ref),
            self.values.len(),
            w,
        )
    }

    /// Reads a tuple that fills the rest of a body; an empty rest means no
    /// parameters.
    pub(crate) fn decode(schema: Schema, body: &[u8]) -> Result<Self, DecodeError> {
        if body.is_empty() {
            return Ok(Self {
                schema,
                values: Vec::new(),
            });
        }
        wire::run(body, |i| decode_params(schema, i)).map(|values| Self { schema, values })
    }
}

/// Writes a parameter tuple from borrowed values (used by clients that do not
/// want to build owned [`Params`]).
pub(crate) fn encode_params<'v>(
    schema: Schema,
    values: impl Iterator<Item = ValueRef<'v>> + Clone,
    count: usize,
    w: &mut BodyWriter<'_>,
) -> Result<(), EncodeError> {
    if count == 0 {
        return Ok(());
    }
    let too_many = |max: u64| EncodeError::TooManyParams {
        count,
        schema: schema.byte(),
        max,
    };
    let start = w.len();
    match schema {
        Schema::V0 => w.u8(u8::try_from(count).map_err(|_| too_many(u64::from(u8::MAX)))?),
        Schema::V1 => w.u32(u32::try_from(count).map_err(|_| too_many(u64::from(u32::MAX)))?),
    }
    for value in values.clone() {
        let ty = value.value_type();
        if !ty.allowed_in_params() {
            return Err(EncodeError::UnixTimeParam);
        }
        w.u8(ty.code());
    }
    let header = w.len() - start;
    w.raw(&[0; 8][..pad8(header) - header]);
    for value in values {
        value.encode(w)?;
    }
    Ok(())
}

fn decode_params(schema: Schema, i: &[u8]) -> PResult<'_, Vec<Value>> {
    let (rest, count, count_len) = match schema {
        Schema::V0 => wire::u8_(i).map(|(r, n)| (r, u64::from(n), 1))?,
        Schema::V1 => wire::u32_(i).map(|(r, n)| (r, u64::from(n), 4))?,
    };
    // Each value needs a type byte and at least one word.
    let count = match wire::bounded_count(count, rest, 9) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let header_len = pad8(count_len + count);
    let types = &rest[..count];
    let mut i = &i[header_len..];
    let mut values = Vec::with_capacity(count);
    for &code in types {
        let Some(ty) = ValueType::from_code(code).filter(|t| t.allowed_in_params()) else {
            return fail(DecodeError::InvalidParamType(code));
        };
        let (rest, value) = ValueRef::decode(ty, i)?;
        values.push(value.to_owned());
        i = rest;
    }
    Ok((i, values))
}

/// Length in bytes of a row header for `columns` columns.
pub(crate) fn row_header_len(columns: usize) -> usize {
    pad8(columns.div_ceil(2))
}

/// Writes one row tuple: the type nibbles, then the values.
pub(crate) fn encode_row<'v>(
    columns: usize,
    values: impl ExactSizeIterator<Item = ValueRef<'v>> + Clone,
    w: &mut BodyWriter<'_>,
) -> Result<(), EncodeError> {
    if values.len() != columns {
        return Err(EncodeError::RowWidth {
            expected: columns,
            got: values.len(),
        });
    }
    if columns == 0 {
        return Err(EncodeError::RowsWithoutColumns);
    }
    let mut pair = 0u8;
    for (index, value) in values.clone().enumerate() {
        let code = value.value_type().code();
        if index % 2 == 0 {
            pair = code;
        } else {
            w.u8(pair | (code << 4));
        }
    }
    if columns % 2 == 1 {
        w.u8(pair);
    }
    let written = columns.div_ceil(2);
    w.raw(&[0; 8][..row_header_len(columns) - written]);
    for value in values {
        value.encode(w)?;
    }
    Ok(())
}

/// Reads one row tuple into `out` (cleared first).
pub(crate) fn decode_row<'a>(
    columns: usize,
    i: &'a [u8],
    out: &mut Vec<ValueRef<'a>>,
) -> PResult<'a, ()> {
    let header_len = row_header_len(columns);
    if i.len() < header_len {
        return fail(DecodeError::Truncated);
    }
    let (header, mut i) = i.split_at(header_len);
    out.clear();
    for column in 0..columns {
        let byte = header[column / 2];
        let code = if column % 2 == 0 {
            byte & 0x0f
        } else {
            byte >> 4
        };
        let ty = match row_type(code) {
            Ok(ty) => ty,
            Err(e) => return fail(e),
        };
        let (rest, value) = ValueRef::decode(ty, i)?;
        out.push(value);
        i = rest;
    }
    Ok((i, ()))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    fn encode(params: &Params) -> Result<Vec<u8>, EncodeError> {
        let mut buf = BytesMut::new();
        params.encode(&mut BodyWriter::new(&mut buf))?;
        Ok(buf.to_vec())
    }

    #[test]
    fn schema_one_header() {
        let params = Params {
            schema: Schema::V1,
            values: vec![Value::Integer(1), Value::Integer(2)],
        };
        let bytes = encode(&params).unwrap();
        assert_eq!(&bytes[..8], &[2, 0, 0, 0, 1, 1, 0, 0]);
        assert_eq!(Params::decode(Schema::V1, &bytes), Ok(params));
    }

    #[test]
    fn schema_choice_and_limits() {
        assert_eq!(Params::new(vec![Value::Null; 255]).schema, Schema::V0);
        assert_eq!(Params::new(vec![Value::Null; 256]).schema, Schema::V1);
        let too_many = Params {
            schema: Schema::V0,
            values: vec![Value::Null; 256],
        };
        assert!(matches!(
            encode(&too_many),
            Err(EncodeError::TooManyParams { count: 256, .. })
        ));
        let unix = Params::new(vec![Value::UnixTime(0)]);
        assert_eq!(encode(&unix), Err(EncodeError::UnixTimeParam));
    }

    #[test]
    fn bad_tuples() {
        // Type 9 (UNIXTIME) and 0 are refused as parameters.
        for code in [0, 7, 9, 12] {
            let bytes = [1, code, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(
                Params::decode(Schema::V0, &bytes),
                Err(DecodeError::InvalidParamType(code))
            );
        }
        // Count larger than the values present.
        let bytes = [2, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Params::decode(Schema::V0, &bytes),
            Err(DecodeError::Truncated)
        );
        // A huge schema-1 count allocates nothing.
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 1, 1, 1];
        assert_eq!(
            Params::decode(Schema::V1, &bytes),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn row_nibbles() {
        let values = [
            ValueRef::Null,
            ValueRef::Integer(1),
            ValueRef::Integer(2),
            ValueRef::Null,
            ValueRef::Float(1.0),
            ValueRef::Float(2.0),
            ValueRef::Null,
        ];
        let mut buf = BytesMut::new();
        encode_row(7, values.iter().copied(), &mut BodyWriter::new(&mut buf)).unwrap();
        assert_eq!(&buf[..8], &[0x15, 0x51, 0x22, 0x05, 0, 0, 0, 0]);
        let mut out = Vec::new();
        wire::run(&buf, |i| decode_row(7, i, &mut out)).unwrap();
        assert_eq!(out, values);
    }
}
