//! Unit tests of lazy opening (`lazy_segment.rs`): after a clean restart only the
//! active segment is open, and every path that reaches an older segment (fetch,
//! ListOffsets by timestamp, retention, DeleteRecords, truncation, the cleaner) opens
//! it first and behaves as if it had been open all along. A crash after the first
//! change still means a full recovery.

use std::io::Write;

use bytes::Bytes;

use super::tests::all_bytes;
use super::*;
use crate::log::record::{build, records, NewRecord};
use crate::log::record_batch::{split_batches, Compression};
use crate::log::segment::file_name;

/// A batch of 3 records with keys `k0..k2`, timestamps `ts`, `ts + 1`, `ts + 2`.
fn batch(ts: i64) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..3)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value {ts} {i}"))),
            headers: vec![],
            timestamp: ts + i,
        })
        .collect();
    build(&recs, ts, Compression::None)
}

/// About three batches per segment, no roll by age (the timestamps are from 1970).
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        segment_ms: None,
        index_interval_bytes: 100,
        max_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Batch `i` (from 0) has timestamps `1000 * (i + 1)` and after.
fn fill(log: &PartitionLog, count: i64) {
    for i in 0..count {
        log.append(&batch(1_000 * (i + 1))).unwrap();
    }
}

/// Base offsets of the sealed segments not opened yet.
fn unopened(log: &PartitionLog) -> Vec<i64> {
    log.lock()
        .sealed
        .iter()
        .filter(|s| s.as_open().is_none())
        .map(LazySegment::base_offset)
        .collect()
}

/// 10 batches (30 records) in several segments, closed cleanly: the segments and every
/// stored byte, to compare with after the restart.
fn filled_and_closed(dir: &tempfile::TempDir) -> (Vec<SegmentInfo>, Vec<u8>) {
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 10);
    let seen = (log.segments(), all_bytes(&log));
    log.close().unwrap();
    seen
}

fn marker(dir: &tempfile::TempDir) -> bool {
    dir.path().join(CLEAN_SHUTDOWN_FILE).exists()
}

/// A log of 10 batches (30 records) in several segments, closed cleanly and opened
/// again: every sealed segment is still unopened.
fn restarted(dir: &tempfile::TempDir, config: LogConfig) -> PartitionLog {
    let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    fill(&log, 10);
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), config).unwrap();
    let sealed = log.lock().sealed.len();
    assert!(sealed >= 3, "{sealed} sealed segments");
    assert_eq!(
        unopened(&log).len(),
        sealed,
        "a clean open opens no sealed segment"
    );
    log
}

#[test]
fn a_fetch_opens_only_the_segment_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (segs, bytes) = filled_and_closed(&dir);

    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(log.log_start_offset(), 0);
    let before = unopened(&log);
    assert_eq!(before.len(), segs.len() - 1);

    // Offset 4 lies in the first segment: only it is opened.
    let got = log.read(4, 1).unwrap();
    let h = BatchHeader::parse(&got).unwrap();
    assert!(h.base_offset <= 4 && h.last_offset() >= 4);
    assert_eq!(unopened(&log), before[1..]);
    assert!(marker(&dir), "reading changes nothing: the marker stays");

    // Everything reads back as it was written, and the summaries agree.
    assert_eq!(all_bytes(&log), bytes);
    assert_eq!(log.segments(), segs);
    assert!(unopened(&log).is_empty());
    // The first append removes the marker and works as ever.
    assert_eq!(log.append(&batch(99_000)).unwrap().base_offset, 30);
    assert!(!marker(&dir));
}

#[test]
fn list_offsets_by_timestamp_reaches_unopened_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    // Batch 1 holds offsets 3..6 with timestamps 2000, 2001, 2002.
    assert_eq!(log.offset_for_timestamp(2_001).unwrap(), Some((4, 2_001)));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1_000)));
    assert_eq!(log.offset_for_timestamp(9_500).unwrap(), Some((27, 10_000)));
    assert_eq!(log.offset_for_timestamp(20_000).unwrap(), None);
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    assert_eq!(log.offset_of_max_timestamp().unwrap(), Some((29, 10_002)));
}

#[test]
fn retention_deletes_segments_that_were_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    let active = log.lock().active.base_offset();
    let sealed = unopened(&log);
    // Every sealed segment's records are from 1970: all are past retention.ms.
    log.set_config(LogConfig {
        retention_ms: Some(std::time::Duration::from_secs(3600)),
        ..config()
    });
    assert_eq!(log.apply_retention().unwrap(), sealed.len());
    assert_eq!(log.log_start_offset(), active);
    for base in sealed {
        for ext in ["log", "index", "timeindex"] {
            assert!(!dir.path().join(file_name(base, ext)).exists());
        }
    }
    assert!(!marker(&dir), "a deletion is a change");
    assert!(!log.read(active, 1 << 20).unwrap().is_empty());

    // retention.bytes: the oldest segments go while the rest stay above the limit.
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    let total = log.size();
    log.set_config(LogConfig {
        retention_bytes: Some(total / 2),
        retention_ms: None,
        ..config()
    });
    let deleted = log.apply_retention().unwrap();
    assert!(deleted >= 1);
    assert!(log.size() >= total / 2);
    assert_eq!(log.log_end_offset(), 30);
    let first = log.segments()[0].base_offset;
    assert_eq!(log.log_start_offset(), first);
    assert!(!log.read(first, 1 << 20).unwrap().is_empty());
}

#[test]
fn delete_records_and_truncation_reach_unopened_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    let bases = unopened(&log);
    // DeleteRecords past the second segment's base: the first one goes, unopened.
    assert_eq!(log.delete_records(bases[1] + 1).unwrap(), bases[1] + 1);
    assert!(!dir.path().join(file_name(bases[0], "log")).exists());
    assert_eq!(log.segments()[0].base_offset, bases[1]);

    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    // Truncation into the second segment: it becomes the active one.
    log.truncate_to(bases[1] + 1).unwrap();
    let end = log.log_end_offset();
    assert!(end <= bases[1] + 1 && end >= bases[1], "end {end}");
    assert_eq!(log.segments().len(), 2);
    assert!(!dir.path().join(file_name(bases[2], "log")).exists());
    assert_eq!(log.append(&batch(50_000)).unwrap().base_offset, end);
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), end + 3);
}

#[test]
fn the_cleaner_compacts_segments_that_were_never_opened() {
    let compacted = || LogConfig {
        compact: true,
        retention_deletes: false,
        min_cleanable_dirty_ratio: 0.0,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, compacted());
    let report = log
        .clean()
        .unwrap()
        .expect("a pass over the sealed segments");
    assert!(
        report.stats.records_after < report.stats.records_before,
        "{report:?}"
    );
    // Every key is still readable, with its latest value (batch 9's, in the active
    // segment, or the newest one before it).
    let mut latest = std::collections::BTreeMap::new();
    for b in split_batches(&all_bytes(&log)) {
        for r in records(b).unwrap() {
            latest.insert(r.key.unwrap(), r.value.unwrap());
        }
    }
    assert_eq!(latest.len(), 3);
    assert!(latest
        .values()
        .all(|v| String::from_utf8_lossy(v).starts_with("value 10000")));
    assert!(!marker(&dir), "a swap is a change");
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), compacted()).unwrap();
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn a_crash_after_a_clean_restart() {
    // Before any change: the marker is still there, the next open is clean again.
    let dir = tempfile::tempdir().unwrap();
    let log = restarted(&dir, config());
    let bytes = all_bytes(&log);
    drop(log); // crash
    assert!(marker(&dir));
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(all_bytes(&log), bytes);

    // After an append: a torn tail written by the crash is cut on the next open, and
    // the never-opened segments are scanned from the recovery point as usual.
    log.append(&batch(50_000)).unwrap();
    assert!(!marker(&dir));
    let active = log.lock().active.base_offset();
    drop(log); // crash
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(file_name(active, "log")))
        .unwrap();
    f.write_all(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0]).unwrap(); // half a batch
    drop(f);
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 33);
    assert!(
        unopened(&log).is_empty(),
        "an unclean open opens every segment"
    );
    let mut expected = bytes;
    expected.extend(as_stored(&batch(50_000), 30));
    assert_eq!(all_bytes(&log), expected);
}

#[test]
fn a_sealed_segment_whose_indexes_are_lost_is_rebuilt_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (segs, bytes) = filled_and_closed(&dir);
    let base = segs[1].base_offset;
    std::fs::remove_file(dir.path().join(file_name(base, "index"))).unwrap();
    std::fs::remove_file(dir.path().join(file_name(base, "timeindex"))).unwrap();

    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert!(
        unopened(&log).contains(&base),
        "the open did not look at it"
    );
    assert_eq!(log.offset_for_timestamp(3_000).unwrap(), Some((6, 3_000)));
    assert_eq!(all_bytes(&log), bytes);
    assert_eq!(log.segments(), segs);
    assert!(dir.path().join(file_name(base, "timeindex")).exists());
}
