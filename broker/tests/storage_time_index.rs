//! The `.timeindex` of each segment, on real files (`log/time_index.rs`): which entries
//! appends write, the last entry a sealed segment gets, ListOffsets by timestamp
//! through it (checked against a brute-force search over every record), and its
//! rebuild when it is lost, damaged or from a data dir that predates it.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use minikafka_broker::config::LogConfig;
use minikafka_broker::log::record::{build, records, NewRecord};
use minikafka_broker::log::record_batch::{
    check_frame, set_max_timestamp, split_batches, BatchHeader, Compression,
};
use minikafka_broker::log::recovery::CLEAN_SHUTDOWN_FILE;
use minikafka_broker::log::segment::file_name;
use minikafka_broker::log::time_index::{parse_time_entries, TimeEntry};
use minikafka_broker::log::PartitionLog;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_500,
        index_interval_bytes: 200,
        max_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Record timestamps, batch by batch: mostly rising, with a few that go back in time
/// (a producer's clock, or records sent late), as real logs have.
fn timestamps() -> Vec<Vec<i64>> {
    (0..30i64)
        .map(|i| {
            let base = 1_000_000 + i * 1_000;
            let skew = if i % 7 == 3 { -5_500 } else { 0 };
            vec![base + skew, base + 10 + skew, base + 5 + skew]
        })
        .collect()
}

fn fill(log: &PartitionLog) {
    for ts in timestamps() {
        let recs: Vec<NewRecord> = ts
            .iter()
            .map(|&t| NewRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from(vec![b'v'; 60])),
                headers: vec![],
                timestamp: t,
            })
            .collect();
        log.append(&build(&recs, ts[0], Compression::None)).unwrap();
    }
}

/// Every (offset, timestamp) of the log, read back through fetch.
fn all_records(log: &PartitionLog) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let chunk = log.read(off, 1 << 20).unwrap();
        for b in split_batches(&chunk) {
            out.extend(records(b).unwrap().iter().map(|r| (r.offset, r.timestamp)));
            off = BatchHeader::parse(b).unwrap().last_offset() + 1;
        }
    }
    out
}

/// What ListOffsets by timestamp must answer: the first record at or after `ts`.
fn brute_force(all: &[(i64, i64)], ts: i64) -> Option<(i64, i64)> {
    all.iter().copied().find(|&(_, t)| t >= ts)
}

fn time_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "timeindex"))
        .collect();
    files.sort();
    files
}

fn entries(path: &Path) -> Vec<TimeEntry> {
    parse_time_entries(&std::fs::read(path).unwrap())
}

/// Checks every lookup between the smallest and largest timestamps against brute force.
fn check_lookups(log: &PartitionLog) {
    let all = all_records(log);
    let lo = all.iter().map(|r| r.1).min().unwrap() - 2;
    let hi = all.iter().map(|r| r.1).max().unwrap() + 2;
    for ts in (lo..=hi).step_by(97).chain([lo, hi, -1, 0]) {
        assert_eq!(
            log.offset_for_timestamp(ts).unwrap(),
            brute_force(&all, ts),
            "timestamp {ts}"
        );
    }
}

/// A producer that states a wrong maxTimestamp (Sarama 1.22 writes -1, with a CRC that
/// matches) gets its batch stored with its records' largest timestamp and a new CRC,
/// as Kafka's LogValidator does, so the time index, ListOffsets by time and retention
/// see its records; the records and their timestamps are stored as sent.
#[test]
fn a_wrong_max_timestamp_is_stored_as_the_records_give_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    let recs: Vec<NewRecord> = [5_000i64, 7_000, 6_000]
        .iter()
        .map(|&t| NewRecord {
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: vec![],
            timestamp: t,
        })
        .collect();
    for stated in [-1, 1_000_000, 7_000] {
        let mut sent = build(&recs, 5_000, Compression::None).to_vec();
        set_max_timestamp(&mut sent, stated);
        assert_eq!(BatchHeader::parse(&sent).unwrap().max_timestamp, stated);
        let at = log.append(&sent).unwrap().base_offset;
        let stored = log.read(at, 1).unwrap();
        let h = check_frame(&stored).unwrap(); // the CRC is valid
        assert_eq!(h.max_timestamp, 7_000, "stated {stated}");
        let times: Vec<i64> = records(&stored)
            .unwrap()
            .iter()
            .map(|r| r.timestamp)
            .collect();
        assert_eq!(times, [5_000, 7_000, 6_000]);
    }
    assert_eq!(log.offset_for_timestamp(6_500).unwrap(), Some((1, 7_000)));
    assert_eq!(log.offset_for_timestamp(7_001).unwrap(), None);
    // A clean close leaves the time index's last entry at the segment's largest
    // timestamp (with -1 stored, it had none, and the next start rebuilt the indexes).
    log.close().unwrap();
    let last = entries(&time_files(dir.path())[0]).last().copied();
    assert_eq!(last.map(|e| e.timestamp), Some(7_000));
}

/// After DeleteRecords, a lookup by time answers from the log start offset on, as Kafka
/// does (`LogSegment.findOffsetByTimestamp(ts, logStartOffset)`): never an offset below
/// it, which a client would seek to and get OFFSET_OUT_OF_RANGE; the records of a batch
/// below the start do not count, and later batches are searched when they do not.
#[test]
fn lookups_start_at_the_log_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log);
    let all = all_records(&log);
    let lo = all.iter().map(|r| r.1).min().unwrap() - 2;
    let hi = all.iter().map(|r| r.1).max().unwrap() + 2;
    let end = log.log_end_offset();
    // Mid-batch, on a batch boundary, across segments (some deleted whole), the end.
    for start in [1, 4, 10, 31, 50, end - 1, end] {
        log.delete_records(start).unwrap();
        assert_eq!(log.log_start_offset(), start);
        let kept: Vec<(i64, i64)> = all.iter().copied().filter(|&(o, _)| o >= start).collect();
        for ts in (lo..=hi).step_by(97).chain([lo, hi, -1, 0]) {
            assert_eq!(
                log.offset_for_timestamp(ts).unwrap(),
                brute_force(&kept, ts),
                "timestamp {ts}, log start {start}"
            );
        }
    }
    assert_eq!(
        log.offset_for_timestamp(0).unwrap(),
        None,
        "nothing is left"
    );
}

#[test]
fn entries_follow_the_largest_timestamp_and_sealed_segments_end_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log);
    let segments = log.segments();
    assert!(segments.len() >= 3, "the test needs rolls: {segments:?}");
    check_lookups(&log);
    log.close().unwrap();
    let all = all_records(&log);
    drop(log);

    let files = time_files(dir.path());
    assert_eq!(files.len(), segments.len());
    for (seg, file) in segments.iter().zip(&files) {
        let es = entries(file);
        // Trimmed on seal: exactly its entries, 12 bytes each.
        assert_eq!(
            std::fs::metadata(file).unwrap().len() as usize,
            es.len() * 12
        );
        assert!(!es.is_empty(), "{}", file.display());
        for w in es.windows(2) {
            assert!(w[0].timestamp < w[1].timestamp && w[0].relative_offset < w[1].relative_offset);
        }
        // Each entry: the largest timestamp up to (the batch of) its offset.
        for e in &es {
            let offset = seg.base_offset + i64::from(e.relative_offset);
            let max_so_far = all
                .iter()
                .filter(|(o, _)| (seg.base_offset..seg.next_offset).contains(o))
                .filter(|(o, _)| *o <= offset)
                .map(|r| r.1)
                .max()
                .unwrap();
            assert_eq!(e.timestamp, max_so_far, "entry {e:?} of {}", file.display());
        }
        // The last entry is the segment's largest timestamp.
        let max = all
            .iter()
            .filter(|(o, _)| (seg.base_offset..seg.next_offset).contains(o))
            .map(|r| r.1)
            .max()
            .unwrap();
        assert_eq!(es.last().unwrap().timestamp, max, "{}", file.display());
    }

    // A clean reopen reads them as they are.
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check_lookups(&log);
    drop(log);
}

#[test]
fn a_lost_or_damaged_time_index_is_rebuilt_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log);
    log.close().unwrap();
    drop(log);
    let files = time_files(dir.path());
    let want: Vec<Vec<TimeEntry>> = files.iter().map(|f| entries(f)).collect();

    // Clean shutdown, but the time indexes are gone (a data dir from before them) or
    // damaged: the open rebuilds them from the log.
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::write(&files[1], [0xffu8; 36]).unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check_lookups(&log);
    log.close().unwrap();
    drop(log);
    let got: Vec<Vec<TimeEntry>> = files.iter().map(|f| entries(f)).collect();
    assert_eq!(got, want);

    // A crash (no clean-shutdown marker) with the active segment's time index cut:
    // recovery rebuilds it too.
    std::fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).unwrap_or(());
    let active = files.last().unwrap();
    std::fs::write(active, []).unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check_lookups(&log);
    log.close().unwrap();
    drop(log);
    assert_eq!(entries(active), *want.last().unwrap());
}

#[test]
fn truncation_drops_the_entries_past_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log);
    let end = log.log_end_offset();
    log.truncate_to(end / 2).unwrap();
    let active = *log.segments().last().unwrap();
    check_lookups(&log);
    log.close().unwrap();
    drop(log);
    let file = dir.path().join(file_name(active.base_offset, "timeindex"));
    for e in entries(&file) {
        let offset = active.base_offset + i64::from(e.relative_offset);
        assert!(offset < active.next_offset, "{e:?} points past the end");
    }
    // And a reopen still answers every lookup right.
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check_lookups(&log);
    drop(log);
}
