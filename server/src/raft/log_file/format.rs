//! The on-disk layout of a segment: batch headers, records, and where a
//! batch may start. Pure functions over bytes; no I/O.
//!
//! A segment holds batches of consecutive records. A batch is what one
//! append wrote before one `fdatasync`:
//!
//! | bytes | batch header |
//! |---|---|
//! | 4 | magic `DQLB`, u32 LE `0x424c_5144` |
//! | 4 | number of records, u32 LE |
//! | 8 | bytes of records that follow, u64 LE |
//! | 4 | CRC-32 of the 16 bytes above, u32 LE |
//! | 4 | zero |
//!
//! followed by the records:
//!
//! | bytes | record |
//! |---|---|
//! | 4 | payload length, u32 LE |
//! | 4 | CRC-32 of the next 16 bytes and the payload, u32 LE |
//! | 8 | index, u64 LE |
//! | 8 | term, u64 LE |
//! | n | payload |
//!
//! Batches start at multiples of 8 and their header never crosses a
//! 512-byte sector boundary, so a crash leaves a header either written or
//! not. A header of zeros marks the end of a segment's data.

/// Largest payload accepted (a Raft entry of WAL frames can be large).
pub const MAX_PAYLOAD: usize = 1024 * 1024 * 1024;

pub(super) const BATCH_HEADER: usize = 24;
const BATCH_MAGIC: u32 = 0x424c_5144;
pub(super) const RECORD_HEADER: usize = 24;
pub(super) const SECTOR: u64 = 512;

/// Where a batch written at or after `offset` starts: the next multiple of
/// 8 whose header stays inside one sector. `None` if no header fits
/// before `end`.
pub(super) fn batch_start(offset: u64, end: u64) -> Option<u64> {
    let mut at = offset.next_multiple_of(8);
    if at % SECTOR > SECTOR - BATCH_HEADER as u64 {
        at = at.next_multiple_of(SECTOR);
    }
    (at.checked_add(BATCH_HEADER as u64)? <= end).then_some(at)
}

pub(super) fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

pub(super) fn batch_header(count: u32, len: u64) -> [u8; BATCH_HEADER] {
    let mut header = [0u8; BATCH_HEADER];
    header[0..4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&count.to_le_bytes());
    header[8..16].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&header[..16]);
    header[16..20].copy_from_slice(&crc.to_le_bytes());
    header
}

/// `(record count, body length)` of a batch header.
pub(super) fn parse_batch_header(header: &[u8]) -> Result<(u32, u64), &'static str> {
    let word4 = |at: usize| {
        header
            .get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    if word4(0) != BATCH_MAGIC {
        return Err("bad batch header");
    }
    if crc32fast::hash(&header[..16]) != word4(16) {
        return Err("batch header checksum mismatch");
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[8..16]);
    Ok((word4(4), u64::from_le_bytes(len)))
}

pub(super) fn encode_record(out: &mut Vec<u8>, index: u64, term: u64, payload: &[u8]) {
    let start = out.len();
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&term.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Validates the record at the start of `bytes`: `(index, term, payload length)`.
pub(super) fn parse_record(bytes: &[u8]) -> Result<(u64, u64, u32), &'static str> {
    let Some(header) = bytes.first_chunk::<RECORD_HEADER>() else {
        return Err("truncated record header");
    };
    let word4 = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let word8 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let len = word4(0);
    let end = RECORD_HEADER + len as usize;
    if len as usize > MAX_PAYLOAD || bytes.len() < end {
        return Err("truncated record");
    }
    if crc32fast::hash(&bytes[8..end]) != word4(4) {
        return Err("checksum mismatch");
    }
    Ok((word8(8), word8(16), len))
}

/// Appends one batch of `records` (`(index, term, payload)`) to a segment
/// image, where [`LogFile::write`](super::LogFile::write) would place it:
/// zero padding up to [`batch_start`], the header, the records. For tests
/// and the fuzz target, which build segments in memory.
pub(crate) fn append_batch(segment: &mut Vec<u8>, records: &[(u64, u64, &[u8])]) {
    let at = batch_start(segment.len() as u64, u64::MAX).unwrap_or(segment.len() as u64);
    segment.resize(usize::try_from(at).unwrap_or(segment.len()), 0);
    let mut body = Vec::new();
    for &(index, term, payload) in records {
        encode_record(&mut body, index, term, payload);
    }
    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    segment.extend_from_slice(&batch_header(count, body.len() as u64));
    segment.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_headers_never_cross_a_sector() {
        for offset in 0..2048u64 {
            let at = batch_start(offset, u64::MAX).unwrap();
            assert!(at >= offset && at.is_multiple_of(8) && at - offset < SECTOR);
            assert_eq!(at / SECTOR, (at + BATCH_HEADER as u64 - 1) / SECTOR);
        }
        assert_eq!(batch_start(1000, 1010), None);
    }

    #[test]
    fn records_read_back_and_damage_is_named() {
        let mut out = Vec::new();
        encode_record(&mut out, 7, 3, b"payload");
        assert_eq!(parse_record(&out), Ok((7, 3, 7)));
        assert_eq!(
            parse_record(&out[..RECORD_HEADER - 1]),
            Err("truncated record header")
        );
        assert_eq!(parse_record(&out[..out.len() - 1]), Err("truncated record"));
        out[RECORD_HEADER] ^= 1;
        assert_eq!(parse_record(&out), Err("checksum mismatch"));

        let header = batch_header(2, 64);
        assert_eq!(parse_batch_header(&header), Ok((2, 64)));
        let mut bad = header;
        bad[8] ^= 1;
        assert_eq!(
            parse_batch_header(&bad),
            Err("batch header checksum mismatch")
        );
        bad[0] ^= 1;
        assert_eq!(parse_batch_header(&bad), Err("bad batch header"));
    }
}
