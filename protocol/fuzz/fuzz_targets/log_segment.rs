//! The log's segment scan (`dqlite_server::internals::segment::scan_segment`) over
//! arbitrary bytes, and over valid segments then damaged: it never
//! panics, what it reports lies inside the bytes and obeys the index
//! rules, only zeros follow the data it keeps, and a valid segment cut
//! short anywhere reads back as a prefix of its records.
#![no_main]

use dqlite_server::internals::segment::{ScanInput, SegmentScan, append_batch, scan_segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, expected, purged, cut], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let input = ScanInput {
        expected: u64::from(expected),
        purged: (flags & 1 != 0).then_some(u64::from(purged)),
        is_last: flags & 2 != 0,
    };
    if flags & 4 == 0 {
        check(rest, input);
        return;
    }
    // Structured: each pair of bytes is a batch (record count, payload
    // size) of records continuing the log at `expected`.
    let mut segment = Vec::new();
    let mut next = input.expected;
    let mut built = Vec::new();
    for pair in rest.chunks_exact(2).take(64) {
        let count = u64::from(pair[0] % 8) + 1;
        let payload = vec![pair[1]; usize::from(pair[1])];
        let records: Vec<(u64, u64, &[u8])> = (next..next + count)
            .map(|i| (i, u64::from(pair[0]), payload.as_slice()))
            .collect();
        append_batch(&mut segment, &records);
        built.extend(next..next + count);
        next += count;
    }
    let whole = check(&segment, input).expect("a valid segment scans");
    assert_eq!(indexes(&whole), built);
    assert_eq!(whole.torn, None);
    // Cut short (a crash during the last append), then preallocated zeros.
    let at = segment.len() * usize::from(cut) / 255;
    let mut torn = segment[..at].to_vec();
    if flags & 8 != 0 {
        torn.resize(segment.len() + 64, 0);
    }
    let last = ScanInput {
        is_last: true,
        ..input
    };
    let scan = check(&torn, last).expect("a torn tail is not corruption");
    assert!(built.starts_with(&indexes(&scan)));
});

fn indexes(scan: &SegmentScan) -> Vec<u64> {
    scan.records.iter().map(|r| r.index).collect()
}

/// Scans `bytes` and checks what any outcome must satisfy.
fn check(bytes: &[u8], input: ScanInput) -> Option<SegmentScan> {
    let len = bytes.len() as u64;
    let scan = match scan_segment(bytes, input) {
        Ok(scan) => scan,
        Err(corruption) => {
            assert!(corruption.offset <= len);
            return None;
        }
    };
    assert!(scan.end <= len);
    let mut expected = input.expected;
    for record in &scan.records {
        let skipped_purged = input.purged.is_some_and(|p| record.index - 1 <= p);
        assert!(
            record.index == expected || (record.index > expected && skipped_purged),
            "index {} where {expected} is due",
            record.index
        );
        expected = record.index.wrapping_add(1);
        let start = usize::try_from(record.offset).unwrap();
        let end = start + 24 + usize::try_from(record.len).unwrap();
        assert!(record.batch + 24 <= record.offset && end <= bytes.len());
        assert_eq!(bytes[start + 8..start + 16], record.index.to_le_bytes());
        assert_eq!(bytes[start + 16..start + 24], record.term.to_le_bytes());
    }
    let zeros_from = match scan.torn {
        Some(torn) => {
            assert!(input.is_last, "a torn tail outside the last segment");
            assert!(torn.batch <= torn.from && torn.from <= torn.end && torn.end <= len);
            assert_eq!(scan.end, torn.batch);
            let in_batch = scan
                .records
                .iter()
                .filter(|r| r.batch == torn.batch)
                .count();
            assert_eq!(torn.kept, in_batch);
            assert!(
                scan.records[..scan.records.len() - in_batch]
                    .iter()
                    .all(|r| r.batch < torn.batch)
            );
            torn.end
        }
        None => scan.end,
    };
    let zeros_from = usize::try_from(zeros_from).unwrap();
    assert!(bytes[zeros_from..].iter().all(|&b| b == 0));
    Some(scan)
}
