//! The log file against a real directory: reopen, torn tails, corruption,
//! truncation, purge and metadata.

use std::fs;

use super::*;

fn payload(i: u64) -> Vec<u8> {
    format!("entry {i} ")
        .repeat(usize::try_from(i % 7).unwrap() + 1)
        .into_bytes()
}

fn fill(log: &mut LogFile, range: std::ops::RangeInclusive<u64>, term: u64) {
    let payloads: Vec<(u64, Vec<u8>)> = range.map(|i| (i, payload(i))).collect();
    log.append(payloads.iter().map(|(i, p)| (*i, term, p.as_slice())))
        .unwrap();
}

fn indexes(log: &LogFile) -> Vec<u64> {
    log.read(..).unwrap().iter().map(|r| r.index).collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(SEGMENT_PREFIX)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    fill(&mut log, 1..=100, 3);
    drop(log);
    let log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    assert!(segments(dir.path()).len() > 3, "several segments");
    assert_eq!((log.first_index(), log.last_index()), (Some(1), Some(100)));
    assert_eq!(log.term(50), Some(3));
    let records = log.read(40..=42).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[1],
        Record {
            index: 41,
            term: 3,
            payload: payload(41)
        }
    );
}

#[test]
fn appends_must_be_consecutive() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill(&mut log, 5..=6, 1);
    let err = log.append([(8, 1, &b"x"[..])]).unwrap_err();
    assert!(matches!(
        err,
        LogError::NotConsecutive {
            last: Some(6),
            got: 8
        }
    ));
}

#[test]
fn a_torn_last_record_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill(&mut log, 1..=10, 1);
    drop(log);
    let segment = segments(dir.path()).pop().unwrap();
    let full = fs::read(&segment).unwrap();
    // Half of an eleventh record, as a crash during its append leaves it.
    let record = encode_record(11, 1, b"never acknowledged");
    let mut torn = full.clone();
    torn.extend_from_slice(&record[..record.len() / 2]);
    fs::write(&segment, &torn).unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(log.last_index(), Some(10));
    assert_eq!(fs::read(&segment).unwrap(), full, "tail removed on disk");
    fill(&mut log, 11..=11, 2);
    assert_eq!(indexes(&log), (1..=11).collect::<Vec<_>>());

    // A zero-filled tail (file grown, data never written) is torn too.
    drop(log);
    let mut zeros = fs::read(&segment).unwrap();
    zeros.extend_from_slice(&[0; 100]);
    fs::write(&segment, &zeros).unwrap();
    assert_eq!(LogFile::open(dir.path()).unwrap().last_index(), Some(11));
}

#[test]
fn corruption_before_the_tail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    fill(&mut log, 1..=60, 1);
    drop(log);
    let files = segments(dir.path());
    // A flipped byte inside the first record of an older segment, and in
    // the middle of the last segment: both are acknowledged data.
    for (file, at) in [
        (&files[0], RECORD_HEADER + 2),
        (files.last().unwrap(), RECORD_HEADER + 2),
    ] {
        let original = fs::read(file).unwrap();
        let mut bad = original.clone();
        bad[at] ^= 0x40;
        fs::write(file, &bad).unwrap();
        let err = LogFile::open_with_segment_size(dir.path(), 1024).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
        fs::write(file, &original).unwrap();
    }
    assert_eq!(
        LogFile::open_with_segment_size(dir.path(), 1024)
            .unwrap()
            .last_index(),
        Some(60)
    );
}

#[test]
fn truncation_removes_the_tail_durably() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    fill(&mut log, 1..=80, 1);
    let before = segments(dir.path()).len();
    log.truncate_after(Some(20)).unwrap();
    assert!(segments(dir.path()).len() < before);
    fill(&mut log, 21..=25, 2);
    drop(log);
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    assert_eq!(indexes(&log), (1..=25).collect::<Vec<_>>());
    assert_eq!((log.term(20), log.term(21)), (Some(1), Some(2)));
    log.truncate_after(None).unwrap();
    assert_eq!(log.last_index(), None);
    assert!(segments(dir.path()).is_empty());
    fill(&mut log, 1..=2, 3);
    assert_eq!(indexes(&log), [1, 2]);
}

#[test]
fn purged_records_stay_purged() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    fill(&mut log, 1..=80, 1);
    let before = segments(dir.path()).len();
    log.purge_through(30).unwrap();
    assert!(
        segments(dir.path()).len() < before,
        "whole segments deleted"
    );
    assert_eq!(log.first_index(), Some(31));
    drop(log);
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    assert_eq!(log.purged(), Some(30));
    assert_eq!(indexes(&log), (31..=80).collect::<Vec<_>>());
    // Purging everything keeps the log appendable after the purge point.
    log.purge_through(80).unwrap();
    assert_eq!(log.last_index(), None);
    fill(&mut log, 81..=82, 2);
    drop(log);
    let log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    assert_eq!(indexes(&log), [81, 82]);
}

#[test]
fn metadata_is_replaced_atomically_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(log.meta("vote"), None);
    log.set_meta("vote", b"term 3 for node 1").unwrap();
    log.set_meta("committed", b"").unwrap();
    drop(log);
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(log.meta("vote"), Some(&b"term 3 for node 1"[..]));
    assert_eq!(log.meta("committed"), Some(&b""[..]));
    drop(log);
    let path = dir.path().join(META);
    let mut bytes = fs::read(&path).unwrap();
    bytes[2] ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(
        LogFile::open(dir.path()),
        Err(LogError::Corrupt { .. })
    ));
}
