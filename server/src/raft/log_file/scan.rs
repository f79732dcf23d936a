//! Reading a segment back on open: which records are intact, where the
//! data ends, and whether a torn last batch must be cut. A pure function
//! over the segment's bytes; [`LogFile`](super::LogFile) does the I/O and
//! the repair it decides.
//!
//! The rules:
//! - Batches are read from the start, each where [`batch_start`] places it;
//!   a header of zeros ends the data.
//! - Records must continue the log: each index is the next one, or a later
//!   one when every index skipped is purged (a follower that installed a
//!   snapshot ahead of its log went on after it; later purges move the
//!   purge point on while the segment still holds the jump).
//! - Only the last batch of the last segment can be unsynced. If that batch
//!   is damaged (bad header, bad checksum, short, out of sequence) and only
//!   zeros follow it, it is a torn append: the scan reports it as
//!   [`TornTail`], keeping its records that read back intact. Damage
//!   anywhere else is [`Corruption`] of acknowledged data.

use super::format::{
    BATCH_HEADER, RECORD_HEADER, batch_start, is_zero, parse_batch_header, parse_record,
};

/// What the scan of one segment needs besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanInput {
    /// Index the segment's first record must have (the log's last index
    /// plus one, or the segment's start index for the first segment).
    pub expected: u64,
    /// The last purged index, if any: jumps over purged indexes are accepted.
    pub purged: Option<u64>,
    /// Whether this is the log's last segment, the only one that may end
    /// with a torn batch.
    pub is_last: bool,
}

/// One intact record found by the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedRecord {
    /// Log index.
    pub index: u64,
    /// Term of the entry.
    pub term: u64,
    /// Offset of the header of the record's batch.
    pub batch: u64,
    /// Offset of the record's header.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
}

/// A torn last batch, to be cut back to its intact records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Offset of the torn batch's header.
    pub batch: u64,
    /// Offset of its first record that is not kept (the batch's offset
    /// when no header was read).
    pub from: u64,
    /// End of the damaged bytes: zeros only after it.
    pub end: u64,
    /// Records of the torn batch that read back intact and are kept.
    pub kept: usize,
    /// What is wrong with the batch.
    pub reason: &'static str,
}

/// What a segment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The intact records, in order (those of a torn batch included).
    pub records: Vec<ScannedRecord>,
    /// End of the intact batches: after the last one (where the zero
    /// header that ends the data was read, if one was), or the torn
    /// batch's offset. A repair of the torn batch moves it to
    /// [`TornTail::from`] when it keeps records.
    pub end: u64,
    /// The torn last batch, if there is one.
    pub torn: Option<TornTail>,
}

/// Acknowledged data that does not read back as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct Corruption {
    /// Byte offset of the bad batch or record.
    pub offset: u64,
    /// What is wrong.
    pub reason: &'static str,
}

/// Scans a segment's bytes (file length included: a preallocated segment
/// is mostly zeros) under the rules of the module.
pub fn scan_segment(bytes: &[u8], input: ScanInput) -> Result<SegmentScan, Corruption> {
    let ScanInput {
        mut expected,
        purged,
        is_last,
    } = input;
    let corrupt = |offset: usize, reason| Corruption {
        offset: offset as u64,
        reason,
    };
    let mut found = Vec::new();
    let mut offset = 0usize;
    // (batch, first record not kept, end of the damage, reason)
    let mut cut = None;
    while let Some(at) = batch_start(offset as u64, bytes.len() as u64) {
        // At most `bytes.len()`, so it fits.
        let at = usize::try_from(at).unwrap_or(bytes.len());
        let header = &bytes[at..at + BATCH_HEADER];
        if header.iter().all(|&b| b == 0) {
            // The end of the data. Only an interrupted batch (one whose
            // header sector was not written) leaves anything after it.
            if !is_zero(&bytes[at..]) {
                if !is_last {
                    return Err(corrupt(at, "data after the end of a full segment"));
                }
                cut = Some((at, at, bytes.len(), "a torn batch without its header"));
            }
            offset = at;
            break;
        }
        let (count, len) = match parse_batch_header(header) {
            Ok(parsed) => parsed,
            // A header torn in the middle (possible if a sector is not
            // written atomically) with nothing after it.
            Err(reason) if is_last && is_zero(&bytes[at + BATCH_HEADER..]) => {
                cut = Some((at, at, at + BATCH_HEADER, reason));
                offset = at;
                break;
            }
            Err(reason) => return Err(corrupt(at, reason)),
        };
        let end = (at + BATCH_HEADER).saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        let mut record_at = at + BATCH_HEADER;
        let mut records = 0u32;
        let mut bad = None;
        while record_at < end.min(bytes.len()) {
            match parse_record(&bytes[record_at..end.min(bytes.len())]) {
                Ok((index, _, _)) if !follows(expected, index, purged) => {
                    bad = Some("index out of sequence");
                    break;
                }
                Ok((index, term, len)) => {
                    found.push(ScannedRecord {
                        index,
                        term,
                        batch: at as u64,
                        offset: record_at as u64,
                        len,
                    });
                    // Wraps only for index u64::MAX, as a release build
                    // always did; then no later record follows.
                    expected = index.wrapping_add(1);
                    records += 1;
                    record_at += RECORD_HEADER + len as usize;
                }
                Err(reason) => {
                    bad = Some(reason);
                    break;
                }
            }
        }
        if bad.is_none() && (end > bytes.len() || records != count) {
            bad = Some("batch shorter than its header says");
        }
        if let Some(reason) = bad {
            // Only the last batch of the last segment can be unsynced.
            if !is_last || !is_zero(&bytes[end.min(bytes.len())..]) {
                return Err(corrupt(record_at, reason));
            }
            cut = Some((at, record_at, end.min(bytes.len()), reason));
            offset = at;
            break;
        }
        offset = end;
    }
    if cut.is_none() && !is_zero(&bytes[offset..]) {
        // Fewer bytes than a batch header after the last batch.
        if !is_last {
            return Err(corrupt(offset, "data after the end of a full segment"));
        }
        cut = Some((offset, offset, bytes.len(), "a torn batch header"));
    }
    let torn = cut.map(|(batch, from, end, reason)| TornTail {
        batch: batch as u64,
        from: from as u64,
        end: end as u64,
        kept: found.iter().filter(|r| r.batch == batch as u64).count(),
        reason,
    });
    Ok(SegmentScan {
        records: found,
        end: offset as u64,
        torn,
    })
}

/// Whether a record with index `index` may come where `expected` is due:
/// the next index, or a later one when every index skipped is purged (a
/// follower that installed a snapshot ahead of its log goes on after it).
fn follows(expected: u64, index: u64, purged: Option<u64>) -> bool {
    index == expected || (index > expected && purged.is_some_and(|p| index - 1 <= p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::log_file::format::{append_batch, batch_header, encode_record};

    fn payload(index: u64) -> Vec<u8> {
        format!("entry {index}").into_bytes()
    }

    /// A segment of `batches`, each a list of indexes, all at term 1.
    fn segment(batches: &[&[u64]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for batch in batches {
            let payloads: Vec<(u64, Vec<u8>)> = batch.iter().map(|&i| (i, payload(i))).collect();
            let records: Vec<(u64, u64, &[u8])> = payloads
                .iter()
                .map(|(i, p)| (*i, 1, p.as_slice()))
                .collect();
            append_batch(&mut bytes, &records);
        }
        bytes
    }

    /// Zeros up to 4 KiB, as in a preallocated file.
    fn preallocated(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.resize(4096, 0);
        bytes
    }

    /// Offset of the record with `index` in `bytes`, found by its encoding.
    fn record_offset(bytes: &[u8], index: u64) -> usize {
        let mut record = Vec::new();
        encode_record(&mut record, index, 1, &payload(index));
        bytes
            .windows(record.len())
            .position(|w| w == record.as_slice())
            .unwrap()
    }

    /// Flips a payload byte of the record with `index`.
    fn damage_record(mut bytes: Vec<u8>, index: u64) -> Vec<u8> {
        let at = record_offset(&bytes, index);
        bytes[at + 24] ^= 0x55;
        bytes
    }

    fn input(expected: u64, purged: Option<u64>, is_last: bool) -> ScanInput {
        ScanInput {
            expected,
            purged,
            is_last,
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        /// The indexes read, and `(kept, reason)` of a torn tail.
        Ok(Vec<u64>, Option<(usize, &'static str)>),
        /// Corruption, with its reason.
        Corrupt(&'static str),
    }

    fn outcome(result: Result<SegmentScan, Corruption>) -> Want {
        match result {
            Ok(scan) => Want::Ok(
                scan.records.iter().map(|r| r.index).collect(),
                scan.torn.map(|t| (t.kept, t.reason)),
            ),
            Err(e) => Want::Corrupt(e.reason),
        }
    }

    #[test]
    fn segments_scan_as_the_rules_say() {
        let clean = segment(&[&[1, 2], &[3], &[4, 5]]);
        let header_missing = {
            let mut bytes = segment(&[&[1, 2], &[3]]);
            let at = record_offset(&bytes, 3) - 24;
            bytes[at..at + 24].fill(0);
            preallocated(bytes)
        };
        let header_torn = {
            let mut bytes = segment(&[&[1, 2]]);
            let len = bytes.len() as u64;
            let at = usize::try_from(batch_start(len, u64::MAX).unwrap()).unwrap();
            bytes.resize(at, 0);
            bytes.extend_from_slice(&batch_header(1, 40)[..8]);
            preallocated(bytes)
        };
        let header_short = {
            let mut bytes = segment(&[&[1, 2]]);
            bytes.extend_from_slice(&[0xff; 10]);
            bytes
        };
        let count_too_high = |then: &[&[u64]]| {
            let mut bytes = segment(&[&[1, 2]]);
            let mut body = Vec::new();
            for i in [3, 4] {
                encode_record(&mut body, i, 1, &payload(i));
            }
            let at = usize::try_from(batch_start(bytes.len() as u64, u64::MAX).unwrap()).unwrap();
            bytes.resize(at, 0);
            bytes.extend_from_slice(&batch_header(3, body.len() as u64));
            bytes.extend_from_slice(&body);
            for batch in then {
                let next = segment(&[batch]);
                let at =
                    usize::try_from(batch_start(bytes.len() as u64, u64::MAX).unwrap()).unwrap();
                bytes.resize(at, 0);
                bytes.extend_from_slice(&next);
            }
            preallocated(bytes)
        };
        let cut_short = clean[..clean.len() - 3].to_vec();
        let jump = segment(&[&[1, 2], &[10, 11]]);

        let cases: Vec<(&str, Vec<u8>, ScanInput, Want)> = vec![
            (
                "empty file",
                vec![],
                input(1, None, true),
                Want::Ok(vec![], None),
            ),
            (
                "preallocated, no data",
                vec![0; 4096],
                input(1, None, false),
                Want::Ok(vec![], None),
            ),
            (
                "clean, exact length",
                clean.clone(),
                input(1, None, false),
                Want::Ok(vec![1, 2, 3, 4, 5], None),
            ),
            (
                "clean, zeroed preallocated tail",
                preallocated(clean.clone()),
                input(1, None, false),
                Want::Ok(vec![1, 2, 3, 4, 5], None),
            ),
            (
                "clean, last segment",
                preallocated(clean.clone()),
                input(1, None, true),
                Want::Ok(vec![1, 2, 3, 4, 5], None),
            ),
            // Torn tails: only in the last segment, with zeros after.
            (
                "torn tail: file cut mid-record",
                cut_short.clone(),
                input(1, None, true),
                Want::Ok(vec![1, 2, 3, 4], Some((1, "truncated record"))),
            ),
            (
                "torn tail in a full segment",
                cut_short,
                input(1, None, false),
                Want::Corrupt("truncated record"),
            ),
            (
                "torn tail: record zeroed in a preallocated file",
                preallocated(clean[..clean.len() - 3].to_vec()),
                input(1, None, true),
                Want::Ok(vec![1, 2, 3, 4], Some((1, "checksum mismatch"))),
            ),
            (
                "torn batch header, zeros after",
                header_torn.clone(),
                input(1, None, true),
                Want::Ok(vec![1, 2], Some((0, "batch header checksum mismatch"))),
            ),
            (
                "torn batch header in a full segment",
                header_torn,
                input(1, None, false),
                Want::Corrupt("batch header checksum mismatch"),
            ),
            (
                "records without their header",
                header_missing.clone(),
                input(1, None, true),
                Want::Ok(vec![1, 2], Some((0, "a torn batch without its header"))),
            ),
            (
                "records without their header in a full segment",
                header_missing,
                input(1, None, false),
                Want::Corrupt("data after the end of a full segment"),
            ),
            (
                "less than a header after the data",
                header_short.clone(),
                input(1, None, true),
                Want::Ok(vec![1, 2], Some((0, "a torn batch header"))),
            ),
            (
                "less than a header in a full segment",
                header_short,
                input(1, None, false),
                Want::Corrupt("data after the end of a full segment"),
            ),
            // Checksums: the middle is acknowledged, the end may be torn.
            (
                "bad checksum in the middle",
                damage_record(preallocated(clean.clone()), 3),
                input(1, None, true),
                Want::Corrupt("checksum mismatch"),
            ),
            (
                "bad checksum in the last batch",
                damage_record(preallocated(clean.clone()), 5),
                input(1, None, true),
                Want::Ok(vec![1, 2, 3, 4], Some((1, "checksum mismatch"))),
            ),
            (
                "bad checksum in the first record of the last batch",
                damage_record(preallocated(clean.clone()), 4),
                input(1, None, true),
                Want::Ok(vec![1, 2, 3], Some((0, "checksum mismatch"))),
            ),
            (
                "bad checksum at the end of a full segment",
                damage_record(preallocated(clean.clone()), 5),
                input(1, None, false),
                Want::Corrupt("checksum mismatch"),
            ),
            (
                "fewer records than the header says, at the end",
                count_too_high(&[]),
                input(1, None, true),
                Want::Ok(
                    vec![1, 2, 3, 4],
                    Some((2, "batch shorter than its header says")),
                ),
            ),
            (
                "fewer records than the header says, in the middle",
                count_too_high(&[&[5]]),
                input(1, None, true),
                Want::Corrupt("batch shorter than its header says"),
            ),
            // Index rules.
            (
                "first index is not the one expected",
                segment(&[&[2, 3]]),
                input(1, None, false),
                Want::Corrupt("index out of sequence"),
            ),
            (
                "continues the previous segment",
                segment(&[&[7, 8]]),
                input(7, None, false),
                Want::Ok(vec![7, 8], None),
            ),
            (
                "jump over purged indexes",
                jump.clone(),
                input(1, Some(9), false),
                Want::Ok(vec![1, 2, 10, 11], None),
            ),
            (
                "jump over indexes purged later",
                jump.clone(),
                input(1, Some(50), false),
                Want::Ok(vec![1, 2, 10, 11], None),
            ),
            (
                "jump past the purge point",
                jump.clone(),
                input(1, Some(8), false),
                Want::Corrupt("index out of sequence"),
            ),
            (
                "jump without a purge",
                jump.clone(),
                input(1, None, false),
                Want::Corrupt("index out of sequence"),
            ),
            (
                "jump past the purge point in the last batch",
                preallocated(jump),
                input(1, Some(8), true),
                Want::Ok(vec![1, 2], Some((0, "index out of sequence"))),
            ),
            (
                "jump inside a batch over purged indexes",
                segment(&[&[1, 2, 10]]),
                input(1, Some(9), false),
                Want::Ok(vec![1, 2, 10], None),
            ),
            (
                "first record jumps over purged indexes",
                segment(&[&[10, 11]]),
                input(3, Some(9), false),
                Want::Ok(vec![10, 11], None),
            ),
            (
                "index going back, even when purged",
                segment(&[&[1, 2], &[2]]),
                input(1, Some(5), false),
                Want::Corrupt("index out of sequence"),
            ),
            (
                "repeated index",
                segment(&[&[1, 1]]),
                input(1, None, false),
                Want::Corrupt("index out of sequence"),
            ),
        ];
        for (name, bytes, input, want) in cases {
            assert_eq!(outcome(scan_segment(&bytes, input)), want, "{name}");
        }
    }

    #[test]
    fn extents_and_cut_points_are_where_the_bytes_are() {
        let clean = segment(&[&[1, 2], &[3]]);
        let scan = scan_segment(&preallocated(clean.clone()), input(1, None, true)).unwrap();
        // The data ends where the zero header was read: the next batch's place.
        assert_eq!(scan.end, clean.len().next_multiple_of(8) as u64);
        assert_eq!(scan.torn, None);
        let second = (record_offset(&clean, 3) - 24) as u64;
        let want: Vec<(u64, u64, u64, u32)> = vec![
            (1, 0, 24, 7),
            (2, 0, record_offset(&clean, 2) as u64, 7),
            (3, second, second + 24, 7),
        ];
        let got: Vec<(u64, u64, u64, u32)> = scan
            .records
            .iter()
            .map(|r| (r.index, r.batch, r.offset, r.len))
            .collect();
        assert_eq!(got, want);

        // A torn last batch: the data ends where it starts, the cut starts
        // at its first bad record and covers the damage.
        let torn = preallocated(damage_record(segment(&[&[1], &[2, 3]]), 3));
        let scan = scan_segment(&torn, input(1, None, true)).unwrap();
        let batch = (record_offset(&torn, 2) - 24) as u64;
        let bad = record_offset(&torn, 2) as u64 + 24 + 7;
        assert_eq!(scan.end, batch);
        assert_eq!(
            scan.torn,
            Some(TornTail {
                batch,
                from: bad,
                end: bad + 24 + 7,
                kept: 1,
                reason: "checksum mismatch",
            })
        );

        // Corruption names the offset of the bad record.
        let bytes = damage_record(preallocated(segment(&[&[1], &[2], &[3]])), 2);
        let err = scan_segment(&bytes, input(1, None, true)).unwrap_err();
        assert_eq!(err.offset, record_offset(&segment(&[&[1], &[2]]), 2) as u64);
    }
}
