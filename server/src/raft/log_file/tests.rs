//! The log file against a real directory: reopen, torn tails, corruption,
//! truncation, purge and metadata.

use std::fs;

use super::*;

fn payload(i: u64) -> Vec<u8> {
    format!("entry {i} ")
        .repeat(usize::try_from(i % 7).unwrap() + 1)
        .into_bytes()
}

/// Appends `range` one record per batch.
fn fill(log: &mut LogFile, range: std::ops::RangeInclusive<u64>, term: u64) {
    for i in range {
        log.append([(i, term, payload(i).as_slice())]).unwrap();
    }
}

/// Appends `range` as one batch.
fn fill_batch(log: &mut LogFile, range: std::ops::RangeInclusive<u64>, term: u64) {
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

/// Offset just past the data of a segment file: the end of its last
/// non-zero byte.
fn data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
}

/// The bytes one batch of `records` takes (header and records).
fn batch_bytes(records: &[(u64, u64, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (index, term, payload) in records {
        encode_record(&mut body, *index, *term, payload);
    }
    let mut batch = batch_header(u32::try_from(records.len()).unwrap(), body.len() as u64).to_vec();
    batch.extend_from_slice(&body);
    batch
}

#[test]
fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    fill(&mut log, 1..=60, 3);
    fill_batch(&mut log, 61..=100, 3);
    drop(log);
    let log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    assert!(segments(dir.path()).len() > 3, "several segments");
    assert_eq!((log.first_index(), log.last_index()), (Some(1), Some(100)));
    assert_eq!(log.term(50), Some(3));
    for range in [40..=42, 70..=72] {
        let records = log.read(range.clone()).unwrap();
        assert_eq!(records.len(), 3);
        let middle = range.start() + 1;
        assert_eq!(
            records[1],
            Record {
                index: middle,
                term: 3,
                payload: payload(middle)
            }
        );
    }
}

#[test]
fn segments_are_preallocated_with_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 4096).unwrap();
    fill(&mut log, 1..=200, 1);
    let files = segments(dir.path());
    assert!(files.len() > 2);
    for file in &files {
        let bytes = fs::read(file).unwrap();
        assert!(
            bytes.len() >= 4096,
            "{} is {} bytes",
            file.display(),
            bytes.len()
        );
    }
    assert_eq!(indexes(&log), (1..=200).collect::<Vec<_>>());
    drop(log);
    let log = LogFile::open_with_segment_size(dir.path(), 4096).unwrap();
    assert_eq!(indexes(&log), (1..=200).collect::<Vec<_>>());
}

#[test]
fn appends_must_be_consecutive() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill(&mut log, 5..=6, 1);
    for records in [
        vec![(8, 1, &b"x"[..])],
        vec![(7, 1, &b"x"[..]), (9, 1, &b"y"[..])],
    ] {
        let err = log.append(records).unwrap_err();
        assert!(
            matches!(err, LogError::NotConsecutive { got: 8 | 9, .. }),
            "{err}"
        );
    }
    assert_eq!(indexes(&log), [5, 6], "a refused batch writes nothing");
}

/// A log of records 1..=10 in the last segment, as bytes: the data, and
/// the file's full content.
fn ten_records(dir: &Path) -> (PathBuf, usize, Vec<u8>) {
    let mut log = LogFile::open(dir).unwrap();
    fill(&mut log, 1..=10, 1);
    drop(log);
    let segment = segments(dir).pop().unwrap();
    let full = fs::read(&segment).unwrap();
    (segment, data_end(&full), full)
}

#[test]
fn a_torn_last_batch_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, end, full) = ten_records(dir.path());
    let at = usize::try_from(batch_start(end as u64, u64::MAX).unwrap()).unwrap();
    let batch = batch_bytes(&[(11, 1, b"never acknowledged"), (12, 1, b"nor this")]);
    // Half of an eleventh batch, as a crash during its append leaves it;
    // then the same batch with its header sector lost but later bytes
    // written; then only a few bytes of it.
    let mut half = full.clone();
    half[at..at + batch.len() / 2].copy_from_slice(&batch[..batch.len() / 2]);
    let mut headless = full.clone();
    headless[at + BATCH_HEADER + 4..at + batch.len()].copy_from_slice(&batch[BATCH_HEADER + 4..]);
    let mut stub = full.clone();
    stub[at..at + 5].copy_from_slice(&batch[..5]);
    for torn in [half, headless, stub] {
        fs::write(&segment, &torn).unwrap();
        let mut log = LogFile::open(dir.path()).unwrap();
        assert_eq!(log.last_index(), Some(10));
        assert_eq!(fs::read(&segment).unwrap(), full, "tail zeroed on disk");
        fill(&mut log, 11..=11, 2);
        assert_eq!(indexes(&log), (1..=11).collect::<Vec<_>>());
        drop(log);
        fs::write(&segment, &full).unwrap();
    }
}

#[test]
fn the_intact_records_of_a_torn_batch_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, end, full) = ten_records(dir.path());
    let at = usize::try_from(batch_start(end as u64, u64::MAX).unwrap()).unwrap();
    let long = vec![7u8; 3000];
    let batch = batch_bytes(&[(11, 1, b"first"), (12, 1, &long), (13, 1, b"third")]);
    let mut torn = full.clone();
    torn[at..at + batch.len()].copy_from_slice(&batch);
    // The page holding the middle of record 12 never reached the disk.
    for b in &mut torn[at + 2000..at + 2500] {
        *b = 0;
    }
    fs::write(&segment, &torn).unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(log.last_index(), Some(11));
    fill(&mut log, 12..=12, 2);
    drop(log);
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), (1..=12).collect::<Vec<_>>());
    assert_eq!(log.read(11..=11).unwrap()[0].payload, b"first");
    assert_eq!(log.term(12), Some(2));
}

#[test]
fn read_only_reads_what_open_keeps_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, end, full) = ten_records(dir.path());
    let at = usize::try_from(batch_start(end as u64, u64::MAX).unwrap()).unwrap();
    let long = vec![7u8; 3000];
    let batch = batch_bytes(&[(11, 3, b"first"), (12, 3, &long), (13, 3, b"third")]);
    let mut torn = full.clone();
    torn[at..at + batch.len()].copy_from_slice(&batch);
    for b in &mut torn[at + 2000..at + 2500] {
        *b = 0;
    }
    fs::write(&segment, &torn).unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files = listing(dir.path());

    let mut log = LogFile::open_read_only(dir.path()).unwrap();
    assert_eq!(log.last_index(), Some(11));
    assert_eq!(log.term(11), Some(3));
    assert_eq!(log.read(11..=11).unwrap()[0].payload, b"first");
    assert!(matches!(
        log.append([(12, 3, b"x".as_slice())]),
        Err(LogError::ReadOnly(_))
    ));
    assert!(matches!(
        log.truncate_after(Some(5)),
        Err(LogError::ReadOnly(_))
    ));
    assert!(matches!(log.purge_through(5), Err(LogError::ReadOnly(_))));
    assert!(matches!(
        log.set_meta("k", b"v"),
        Err(LogError::ReadOnly(_))
    ));
    drop(log);
    assert_eq!(
        fs::read(&segment).unwrap(),
        torn,
        "the torn tail is left alone"
    );
    assert_eq!(listing(dir.path()), files, "no spare segment, no new file");

    // Opening for writing keeps the same records.
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), (1..=11).collect::<Vec<_>>());

    // A missing directory is an error, not an empty log.
    assert!(matches!(
        LogFile::open_read_only(dir.path().join("absent")),
        Err(LogError::Io { .. })
    ));
}

#[test]
fn corruption_before_the_tail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open_with_segment_size(dir.path(), 1024).unwrap();
    fill(&mut log, 1..=60, 1);
    drop(log);
    let files = segments(dir.path());
    let first_record = BATCH_HEADER + RECORD_HEADER + 2;
    // A flipped byte inside the first record of an older segment, in the
    // first batch of the last segment (acknowledged: later batches follow),
    // and in a batch header.
    for (file, at) in [
        (&files[0], first_record),
        (files.last().unwrap(), first_record),
        (&files[1], 9),
    ] {
        let original = fs::read(file).unwrap();
        let mut bad = original.clone();
        bad[at] ^= 0x40;
        fs::write(file, &bad).unwrap();
        let err = LogFile::open_with_segment_size(dir.path(), 1024).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
        fs::write(file, &original).unwrap();
    }
    // Bytes after the end of an older segment's data.
    let original = fs::read(&files[0]).unwrap();
    let mut bad = original.clone();
    let end = data_end(&bad);
    bad.resize(end + 600, 0);
    bad[end + 300] = 1;
    fs::write(&files[0], &bad).unwrap();
    let err = LogFile::open_with_segment_size(dir.path(), 1024).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    fs::write(&files[0], &original).unwrap();
    assert_eq!(
        LogFile::open_with_segment_size(dir.path(), 1024)
            .unwrap()
            .last_index(),
        Some(60)
    );
}

#[test]
fn truncation_inside_a_batch_keeps_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill_batch(&mut log, 1..=10, 1);
    fill_batch(&mut log, 11..=20, 1);
    log.truncate_after(Some(15)).unwrap();
    fill_batch(&mut log, 16..=18, 2);
    drop(log);
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), (1..=18).collect::<Vec<_>>());
    assert_eq!((log.term(15), log.term(16)), (Some(1), Some(2)));
    drop(log);

    // A crash after zeroing the cut records but before the batch header
    // was shortened: opening finishes the cut.
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let cut = LogFile::open(dir.path()).unwrap().index[&17].offset;
    let cut = usize::try_from(cut).unwrap();
    let end = data_end(&bytes);
    for b in &mut bytes[cut..end] {
        *b = 0;
    }
    fs::write(&segment, &bytes).unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(log.last_index(), Some(16));
    fill(&mut log, 17..=17, 3);
    drop(log);
    assert_eq!(
        indexes(&LogFile::open(dir.path()).unwrap()),
        (1..=17).collect::<Vec<_>>()
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
    let reopened = LogFile::open(dir.path()).map(|l| indexes(&l));
    assert!(
        matches!(reopened, Err(LogError::Corrupt { .. })),
        "{reopened:?}"
    );
}

#[test]
fn the_log_goes_on_after_a_purge_past_its_end() {
    // A follower installs a snapshot ahead of its log: everything is
    // purged, and appends resume after the snapshot's last index.
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill(&mut log, 1..=20, 1);
    log.purge_through(23).unwrap();
    assert_eq!(indexes(&log), Vec::<u64>::new());
    fill(&mut log, 24..=25, 2);
    drop(log);
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), [24, 25]);
    fill(&mut log, 26..=26, 2);
    drop(log);
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), [24, 25, 26]);
    assert_eq!(log.term(24), Some(2));
}

#[test]
fn a_jump_stays_readable_after_later_purges() {
    // The fixture of issue 14: a follower's segment jumps past a snapshot
    // it installed (20 -> 24); a later snapshot moves the purge point to
    // 27, inside the records after the jump, while the segment (the
    // newest, so kept) still holds the jump. Reopening must accept it.
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill(&mut log, 1..=20, 1);
    log.purge_through(23).unwrap();
    fill(&mut log, 24..=30, 2);
    log.purge_through(27).unwrap();
    drop(log);
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), [28, 29, 30]);
    fill(&mut log, 31..=31, 2);
    drop(log);
    let log = LogFile::open_read_only(dir.path()).unwrap();
    assert_eq!(indexes(&log), [28, 29, 30, 31]);
}

#[test]
fn a_gap_not_explained_by_a_purge_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    fill(&mut log, 1..=20, 1);
    log.purge_through(10).unwrap();
    drop(log);
    // Records 24 and 25 written right after 20, as if 21..23 were lost.
    let mut log = LogFile::open(dir.path()).unwrap();
    log.purge_through(23).unwrap();
    fill(&mut log, 24..=25, 1);
    drop(log);
    let mut meta_only = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&meta_only), [24, 25]);
    // Without the purge record, the same bytes are refused.
    meta_only.set_meta(PURGED, &10u64.to_le_bytes()).unwrap();
    drop(meta_only);
    let reopened = LogFile::open(dir.path()).map(|l| indexes(&l));
    assert!(
        matches!(reopened, Err(LogError::Corrupt { .. })),
        "{reopened:?}"
    );
}

#[test]
fn a_spare_segment_that_cannot_be_written_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    let spare = dir.path().join(SPARE);
    std::os::unix::fs::symlink("/dev/full", &spare).unwrap();
    let prepared = prepare_spare(spare.clone(), 64 * 1024).join().unwrap();
    let e = prepared.expect_err("/dev/full is full");
    assert_eq!(e.raw_os_error(), Some(28), "{e}");
    // Nothing is left to take the room the log needs.
    assert!(fs::symlink_metadata(&spare).is_err());
}

#[test]
fn io_errors_keep_their_kind_and_name_the_file() {
    let e = io::Error::from(LogError::Io {
        path: PathBuf::from("/data/raft-log/meta"),
        source: io::Error::from(io::ErrorKind::StorageFull),
    });
    assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    assert!(e.to_string().contains("/data/raft-log/meta"), "{e}");
}
