//! Primitive encodings (§3 of the spec): little-endian integers, floats,
//! NUL-terminated padded text and length-prefixed padded blobs.
//!
//! Decoding uses nom's *complete* parsers over an exact body slice, so
//! "not enough input" always means a malformed body, never "wait for more".
//! Padding bytes are skipped without being looked at; padding written is
//! always zero.

use bytes::{BufMut, BytesMut};
use nom::error::{ErrorKind, ParseError};
use nom::number::complete::{le_i64, le_u8, le_u32, le_u64};
use nom::{IResult, Parser};

use crate::error::{DecodeError, EncodeError};

/// Size of a word, the unit of message bodies and padding.
pub const WORD: usize = 8;

/// Rounds `n` up to a whole number of words.
pub(crate) fn pad8(n: usize) -> usize {
    n.next_multiple_of(WORD)
}

/// nom error type carrying one of our decode errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError(pub(crate) DecodeError);

impl<I> ParseError<I> for WireError {
    fn from_error_kind(_input: I, _kind: ErrorKind) -> Self {
        // The primitives used here fail only when input runs out.
        Self(DecodeError::Truncated)
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of a parser over a body slice.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, WireError>;

/// Fails a parser with a specific decode error.
pub(crate) fn fail<'a, T>(error: DecodeError) -> PResult<'a, T> {
    Err(nom::Err::Error(WireError(error)))
}

/// Runs a parser to completion and turns its error into a [`DecodeError`].
/// Whatever input the parser leaves over is ignored, as dqlite does with
/// trailing bytes after the last field.
pub(crate) fn run<'a, T>(
    input: &'a [u8],
    mut parser: impl Parser<&'a [u8], Output = T, Error = WireError>,
) -> Result<T, DecodeError> {
    match parser.parse_complete(input) {
        Ok((_, value)) => Ok(value),
        Err(nom::Err::Error(WireError(e)) | nom::Err::Failure(WireError(e))) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(DecodeError::Truncated),
    }
}

pub(crate) fn u8_(i: &[u8]) -> PResult<'_, u8> {
    le_u8(i)
}

pub(crate) fn u32_(i: &[u8]) -> PResult<'_, u32> {
    le_u32(i)
}

pub(crate) fn u64_(i: &[u8]) -> PResult<'_, u64> {
    le_u64(i)
}

pub(crate) fn i64_(i: &[u8]) -> PResult<'_, i64> {
    le_i64(i)
}

/// A float is its IEEE-754 bit pattern, so NaN payloads survive.
pub(crate) fn f64_(i: &[u8]) -> PResult<'_, f64> {
    le_u64(i).map(|(i, bits)| (i, f64::from_bits(bits)))
}

/// Bytes up to the first NUL, then skips the NUL and padding to a word.
pub(crate) fn text(i: &[u8]) -> PResult<'_, &[u8]> {
    let Some(len) = i.iter().position(|&b| b == 0) else {
        return fail(DecodeError::UnterminatedText);
    };
    let padded = pad8(len + 1);
    if padded > i.len() {
        return fail(DecodeError::Truncated);
    }
    Ok((&i[padded..], &i[..len]))
}

/// Text that must be UTF-8 (SQL, names, addresses, messages).
pub(crate) fn string(i: &[u8]) -> PResult<'_, String> {
    let (rest, bytes) = text(i)?;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((rest, s.to_owned())),
        Err(_) => fail(DecodeError::InvalidUtf8),
    }
}

/// A u64 length, that many bytes, and padding to a word.
pub(crate) fn blob(i: &[u8]) -> PResult<'_, &[u8]> {
    let (i, len) = u64_(i)?;
    match usize::try_from(len) {
        // Bound by the input first: padding a huge length would overflow.
        Ok(len) if len <= i.len() && pad8(len) <= i.len() => Ok((&i[pad8(len)..], &i[..len])),
        _ => fail(DecodeError::Truncated),
    }
}

/// A count read from the wire, accepted only if `min_size` bytes per item
/// could still follow; guards every allocation sized by input.
pub(crate) fn bounded_count(
    count: u64,
    rest: &[u8],
    min_size: usize,
) -> Result<usize, DecodeError> {
    usize::try_from(count)
        .ok()
        .filter(|&n| {
            n.checked_mul(min_size)
                .is_some_and(|bytes| bytes <= rest.len())
        })
        .ok_or(DecodeError::Truncated)
}

/// Writes body fields into a message buffer. Created by
/// [`write_message`](crate::frame::write_message), which owns the header.
pub(crate) struct BodyWriter<'a> {
    buf: &'a mut BytesMut,
    start: usize,
}

impl<'a> BodyWriter<'a> {
    pub(crate) fn new(buf: &'a mut BytesMut) -> Self {
        let start = buf.len();
        Self { buf, start }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.put_u32_le(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.put_u64_le(v);
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.put_i64_le(v);
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.buf.put_u64_le(v.to_bits());
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
    }

    /// Text with its NUL terminator and zero padding.
    pub(crate) fn text(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        if bytes.contains(&0) {
            return Err(EncodeError::InteriorNul);
        }
        self.buf.put_slice(bytes);
        self.buf.put_bytes(0, pad8(bytes.len() + 1) - bytes.len());
        Ok(())
    }

    /// Blob with its length word and zero padding.
    pub(crate) fn blob(&mut self, bytes: &[u8]) {
        self.buf.put_u64_le(len_u64(bytes.len()));
        self.buf.put_slice(bytes);
        self.buf.put_bytes(0, pad8(bytes.len()) - bytes.len());
    }

    /// Zero bytes up to the next word boundary of the body.
    pub(crate) fn pad(&mut self) {
        let len = self.len();
        self.buf.put_bytes(0, pad8(len) - len);
    }

    /// Bytes written to the body so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// A length as the u64 the wire carries. `usize` is at most 64 bits on every
/// platform Rust supports, so this cannot fail.
pub(crate) fn len_u64(len: usize) -> u64 {
    u64::try_from(len).expect("usize fits in u64")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(f: impl FnOnce(&mut BodyWriter<'_>)) -> Vec<u8> {
        let mut buf = BytesMut::new();
        f(&mut BodyWriter::new(&mut buf));
        buf.to_vec()
    }

    #[test]
    fn text_padding() {
        assert_eq!(write(|w| w.text(b"").unwrap()), [0; 8]);
        let volatile = write(|w| w.text(b"volatile").unwrap());
        assert_eq!(volatile.len(), 16);
        assert_eq!(run(&volatile, text), Ok(&b"volatile"[..]));
        assert_eq!(
            write(|w| w.text(b"ab").unwrap()),
            [b'a', b'b', 0, 0, 0, 0, 0, 0]
        );
        let mut buf = BytesMut::new();
        assert_eq!(
            BodyWriter::new(&mut buf).text(b"a\0b"),
            Err(EncodeError::InteriorNul)
        );
    }

    #[test]
    fn text_decoding_skips_padding_blindly() {
        let garbage = [b'h', b'i', 0, 0xde, 0xad, 0xbe, 0xef, 0x99, 7];
        let (rest, s) = text(&garbage).unwrap();
        assert_eq!((s, rest), (&b"hi"[..], &[7][..]));
        assert_eq!(run(b"abc", text), Err(DecodeError::UnterminatedText));
        // Terminated but the padding is cut off.
        assert_eq!(run(b"abc\0", text), Err(DecodeError::Truncated));
    }

    #[test]
    fn blobs() {
        let bytes = write(|w| w.blob(&[1, 2, 3]));
        assert_eq!(bytes, [3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0]);
        assert_eq!(run(&bytes, blob), Ok(&[1, 2, 3][..]));
        assert_eq!(write(|w| w.blob(&[])), [0; 8]);
        // A length far beyond the input is a decode error, not an allocation.
        assert_eq!(run(&[0xff; 16], blob), Err(DecodeError::Truncated));
    }

    #[test]
    fn floats_keep_their_bits() {
        let nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let bytes = write(|w| w.f64(nan));
        assert_eq!(run(&bytes, f64_).unwrap().to_bits(), nan.to_bits());
    }

    #[test]
    fn bounded_counts() {
        assert_eq!(bounded_count(2, &[0; 16], 8), Ok(2));
        assert_eq!(bounded_count(3, &[0; 16], 8), Err(DecodeError::Truncated));
        assert_eq!(
            bounded_count(u64::MAX, &[0; 16], 8),
            Err(DecodeError::Truncated)
        );
    }
}
