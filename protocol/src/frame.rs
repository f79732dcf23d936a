//! Framing: the 8-byte message header and the "is a whole message here?"
//! check that runs before anything is allocated or parsed.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::wire;
pub use crate::wire::WORD;

/// Size of a message header.
pub const HEADER_LEN: usize = 8;

/// Default maximum body size accepted by [`FrameLimits::default`]: 64 MiB.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024 * 1024;

/// The header that precedes every message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Body length in 8-byte words.
    pub words: u32,
    /// Request or response type code.
    pub kind: u8,
    /// Schema version of the body (called "flags" or "revision" in older code).
    pub schema: u8,
    /// Unused; written as 0 and never checked on input.
    pub extra: u16,
}

impl Header {
    /// Parses a header from its 8 bytes.
    pub fn parse(bytes: [u8; HEADER_LEN]) -> Self {
        let [w0, w1, w2, w3, kind, schema, e0, e1] = bytes;
        Self {
            words: u32::from_le_bytes([w0, w1, w2, w3]),
            kind,
            schema,
            extra: u16::from_le_bytes([e0, e1]),
        }
    }

    /// The header's 8 bytes.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let [w0, w1, w2, w3] = self.words.to_le_bytes();
        let [e0, e1] = self.extra.to_le_bytes();
        [w0, w1, w2, w3, self.kind, self.schema, e0, e1]
    }

    /// Body length in bytes, as a 64-bit value that cannot overflow.
    pub fn body_len(self) -> u64 {
        u64::from(self.words) * 8
    }
}

/// Limits applied while framing untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest body accepted, in bytes. Checked before any allocation.
    pub max_body: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl FrameLimits {
    /// Looks at the start of `buf` and says whether it holds a whole message.
    ///
    /// Returns `Ok(None)` when more bytes are needed, the header and the total
    /// message length (header included) when a whole message is present, and
    /// an error for a header that announces an empty or oversized body. The
    /// size check happens on the header alone, so a caller that reserves
    /// `total - buf.len()` bytes after `Ok(None)` never reserves more than the
    /// limit allows.
    pub fn check(&self, buf: &[u8]) -> Result<Option<(Header, usize)>, DecodeError> {
        let Some(header) = self.check_header(buf)? else {
            return Ok(None);
        };
        let total = self.total_len(header)?;
        Ok((buf.len() >= total).then_some((header, total)))
    }

    /// Parses and validates just the header at the start of `buf`.
    pub fn check_header(&self, buf: &[u8]) -> Result<Option<Header>, DecodeError> {
        let Some(bytes) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = Header::parse(*bytes);
        self.total_len(header)?;
        Ok(Some(header))
    }

    /// Total message length (header plus body) of a header, checked against the limit.
    pub fn total_len(&self, header: Header) -> Result<usize, DecodeError> {
        if header.words == 0 {
            return Err(DecodeError::EmptyFrame);
        }
        let size = header.body_len();
        match usize::try_from(size) {
            Ok(body) if body <= self.max_body => Ok(HEADER_LEN + body),
            _ => Err(DecodeError::FrameTooLarge {
                size,
                max: self.max_body,
            }),
        }
    }

    /// Splits one whole message off the front of `buf`, if there is one.
    ///
    /// When more bytes are needed this reserves room for the rest of the
    /// message (never more than the limit) and returns `Ok(None)`.
    pub fn split_frame(&self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(header) = self.check_header(buf)? else {
            buf.reserve(HEADER_LEN - buf.len());
            return Ok(None);
        };
        let total = self.total_len(header)?;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mut message = buf.split_to(total);
        message.advance(HEADER_LEN);
        Ok(Some(Frame {
            header,
            body: message.freeze(),
        }))
    }
}

/// One whole message: its header and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header as received.
    pub header: Header,
    /// Exactly `header.words * 8` bytes.
    pub body: Bytes,
}

impl Frame {
    /// Splits a complete message held in `bytes` (header and body, nothing
    /// more) into a frame. Used for messages that are already framed, such as
    /// fixtures; streams should use [`FrameLimits::split_frame`].
    pub fn from_message(bytes: &[u8], limits: &FrameLimits) -> Result<Self, DecodeError> {
        match limits.check(bytes)? {
            Some((header, total)) if total == bytes.len() => Ok(Self {
                header,
                body: Bytes::copy_from_slice(&bytes[HEADER_LEN..]),
            }),
            Some((_, total)) => Err(DecodeError::TrailingBytes(bytes.len() - total)),
            None => Err(DecodeError::Truncated),
        }
    }
}

/// Writes a message with the given type and schema into `buf`: header,
/// the body produced by `body`, zero padding up to a word, and the word
/// count patched into the header at the end. On error `buf` is restored.
pub(crate) fn write_message(
    buf: &mut BytesMut,
    kind: u8,
    schema: u8,
    body: impl FnOnce(&mut wire::BodyWriter<'_>) -> Result<(), crate::error::EncodeError>,
) -> Result<(), crate::error::EncodeError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER_LEN]);
    let result = {
        let mut writer = wire::BodyWriter::new(buf);
        body(&mut writer).map(|()| writer.pad())
    };
    let words = result.and_then(|()| {
        let bytes = buf.len() - start - HEADER_LEN;
        u32::try_from(bytes / WORD).map_err(|_| crate::error::EncodeError::FrameTooLarge { bytes })
    });
    match words {
        Ok(words) => {
            let header = Header {
                words,
                kind,
                schema,
                extra: 0,
            };
            buf[start..start + HEADER_LEN].copy_from_slice(&header.to_bytes());
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let bytes = [0x03, 0, 0, 0, 0x01, 0x05, 0x34, 0x12];
        let h = Header::parse(bytes);
        assert_eq!(
            h,
            Header {
                words: 3,
                kind: 1,
                schema: 5,
                extra: 0x1234
            }
        );
        assert_eq!(h.to_bytes(), bytes);
    }

    #[test]
    fn empty_and_oversized_frames_are_errors() {
        let limits = FrameLimits { max_body: 16 };
        assert_eq!(
            limits.check(&[0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::EmptyFrame)
        );
        assert_eq!(
            limits.check(&[3, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::FrameTooLarge { size: 24, max: 16 })
        );
        // The largest header possible is refused before anything is reserved.
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][..]);
        assert!(FrameLimits::default().split_frame(&mut buf).is_err());
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn split_frame_waits_for_the_whole_body() {
        let limits = FrameLimits::default();
        let mut buf = BytesMut::from(&[1, 0, 0, 0, 8, 0, 0, 0, 0, 0][..]);
        assert_eq!(limits.split_frame(&mut buf), Ok(None));
        buf.extend_from_slice(&[0; 6]);
        buf.extend_from_slice(&[0xaa]);
        let frame = limits.split_frame(&mut buf).unwrap().unwrap();
        assert_eq!(frame.header.kind, 8);
        assert_eq!(&frame.body[..], &[0; 8]);
        assert_eq!(&buf[..], &[0xaa]);
    }
}
