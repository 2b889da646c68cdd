//! Unit tests of the partition log on real files: offsets, reads, rolls, reopen and the
//! crash cases recovery must handle (torn tail, garbage, zeroed or deleted index, bad CRC).

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::config::FsyncPolicy;
use crate::log::record::{build, records, NewRecord};
use crate::log::record_batch::{split_batches, Compression};
use crate::log::segment::file_name;

fn batch(n: usize, value_len: usize, ts: i64) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..n)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![b'v'; value_len])),
            headers: vec![],
            timestamp: ts + i as i64,
        })
        .collect();
    build(&recs, ts, Compression::None)
}

fn small(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        max_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Appends `count` batches of 3 records; returns each stored batch.
fn fill(log: &PartitionLog, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let b = batch(3, 40, 1_000 + i as i64);
            let info = log.append(&b).unwrap();
            as_stored(&b, info.base_offset)
        })
        .collect()
}

/// Every stored byte of `log`, read batch by batch from its start (shared with `lazy_tests`).
pub(super) fn all_bytes(log: &PartitionLog) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let chunk = log.read(off, 1 << 20).unwrap();
        let last = split_batches(&chunk).last().unwrap();
        off = BatchHeader::parse(last).unwrap().last_offset() + 1;
        out.extend_from_slice(&chunk);
    }
    out
}

#[test]
fn offsets_are_dense_and_reads_return_the_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let b = batch(5, 10, 100);
    let info = log.append(&b).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.position),
        (0, 4, 0)
    );
    let info = log.append(&batch(2, 10, 100)).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (5, 6));
    assert_eq!(log.log_end_offset(), 7);
    // Offset 3 is inside the first batch: the whole first batch comes back first.
    let got = log.read(3, 1).unwrap();
    assert_eq!(got, as_stored(&b, 0));
    assert_ne!(
        got, b,
        "the caller's bytes are not the stored ones (leader epoch)"
    );
    assert_eq!(records(&got).unwrap()[3].offset, 3);
    assert!(log.read(7, 100).unwrap().is_empty());
    assert!(matches!(
        log.read(8, 100),
        Err(LogError::OffsetOutOfRange {
            offset: 8,
            log_start: 0,
            log_end: 7
        })
    ));
}

#[test]
fn rejects_a_bad_batch_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    let mut b = batch(2, 10, 1);
    let n = b.len();
    b[n - 1] ^= 1;
    assert!(matches!(log.append(&b), Err(LogError::InvalidBatch(_))));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size(), 0);
}

#[test]
fn rolls_segments_and_reopens_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    let stored = fill(&log, 40);
    let segs = log.segments();
    assert!(segs.len() > 3, "{segs:?}");
    for w in segs.windows(2) {
        assert_eq!(w[0].next_offset, w[1].base_offset);
        assert!(w[0].size <= 2_000);
    }
    assert!(segs.iter().any(|s| s.index_entries > 0));
    let before = all_bytes(&log);
    assert_eq!(before, stored.concat());
    log.close().unwrap();
    drop(log);
    // Rolled segments have trimmed indexes.
    let ix = dir.path().join(file_name(0, "index"));
    assert_eq!(
        std::fs::metadata(&ix).unwrap().len() as usize,
        segs[0].index_entries * 8
    );
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    assert_eq!(log.segments(), segs);
    assert_eq!(all_bytes(&log), before);
    // Reads change nothing: the marker stays until the first append.
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let info = log.append(&batch(1, 1, 1)).unwrap();
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    assert_eq!(info.base_offset, 120);
}

#[test]
fn clean_start_does_not_scan() {
    let dir = tempfile::tempdir().unwrap();
    // No roll by age: the batches' timestamps are from 1970.
    let config = || LogConfig {
        segment_ms: None,
        ..small(1 << 20)
    };
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    fill(&log, 3);
    log.close().unwrap();
    drop(log);
    // Damage a record byte of the last batch (CRC now bad, framing intact).
    let path = dir.path().join(file_name(0, "log"));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 9, "a clean open must not CRC-scan");
    drop(log); // a crash before any change: the marker is still there
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 9, "still a clean open");
    fill(&log, 1); // the first change removes the marker
    drop(log); // crash
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.log_end_offset(),
        6,
        "an unclean open scans and cuts the bad batch (and the one after it)"
    );
}

fn crash_case(
    damage: impl FnOnce(&std::path::Path, &[Vec<u8>]),
) -> (PartitionLog, Vec<Vec<u8>>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    let stored = fill(&log, 20);
    drop(log); // crash: no clean-shutdown marker
    damage(dir.path(), &stored);
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    (log, stored, dir)
}

#[test]
fn crash_truncated_mid_batch_keeps_the_whole_batches() {
    let (log, stored, _d) = crash_case(|dir, stored| {
        let cut = stored[..15].concat().len() + 30;
        let f = OpenOptions::new()
            .write(true)
            .open(dir.join(file_name(0, "log")))
            .unwrap();
        f.set_len(cut as u64).unwrap();
    });
    assert_eq!(log.log_end_offset(), 45);
    assert_eq!(all_bytes(&log), stored[..15].concat());
    // Appends continue right after the cut.
    assert_eq!(log.append(&batch(1, 1, 1)).unwrap().base_offset, 45);
}

#[test]
fn crash_garbage_tail_is_cut() {
    let (log, stored, _d) = crash_case(|dir, _| {
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(file_name(0, "log")))
            .unwrap();
        f.write_all(&[0xAB; 300]).unwrap();
    });
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(all_bytes(&log), stored.concat());
}

#[test]
fn crash_zeroed_tail_is_cut() {
    let (log, stored, _d) = crash_case(|dir, _| {
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(file_name(0, "log")))
            .unwrap();
        f.write_all(&[0; 4096]).unwrap();
    });
    assert_eq!(all_bytes(&log), stored.concat());
}

#[test]
fn crash_bad_crc_in_the_middle_cuts_there() {
    let (log, stored, _d) = crash_case(|dir, stored| {
        let path = dir.join(file_name(0, "log"));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = stored[..7].concat().len() + 70;
        bytes[at] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
    });
    assert_eq!(log.log_end_offset(), 21);
    assert_eq!(all_bytes(&log), stored[..7].concat());
}

/// Found by the `recovery` fuzz target (`fuzz/regressions/recovery/`): a batch whose
/// base offset is 2^32 past the segment's base has relative offset 0 in a u32 index
/// entry. The scan took it, the rebuilt index refused the entry, and the partition did
/// not open at all. Now it is damage like any other: the cut is there.
#[test]
fn crash_batch_offsets_past_a_u32_from_the_base_are_cut() {
    let (log, stored, _d) = crash_case(|dir, stored| {
        let path = dir.join(file_name(0, "log"));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = stored[..7].concat().len();
        // baseOffset is outside the CRC: the batch still checks.
        bytes[at..at + 8].copy_from_slice(&(1i64 << 32).to_be_bytes());
        std::fs::write(&path, bytes).unwrap();
    });
    assert_eq!(log.log_end_offset(), 21);
    assert_eq!(all_bytes(&log), stored[..7].concat());
    assert_eq!(log.append(&batch(1, 1, 1)).unwrap().base_offset, 21);
}

#[test]
fn deleted_or_zeroed_index_is_rebuilt() {
    for zero in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
        let stored = fill(&log, 30);
        let entries = log.segments()[0].index_entries;
        assert!(entries > 2);
        log.close().unwrap();
        drop(log);
        let ix = dir.path().join(file_name(0, "index"));
        if zero {
            // Keep the first entry, zero the rest: an index "shorter than expected".
            let mut bytes = std::fs::read(&ix).unwrap();
            bytes[8..].fill(0);
            std::fs::write(&ix, bytes).unwrap();
        } else {
            std::fs::remove_file(&ix).unwrap();
        }
        let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
        assert_eq!(log.segments()[0].index_entries, entries, "zero={zero}");
        assert_eq!(all_bytes(&log), stored.concat());
        for off in 0..90 {
            let got = log.read(off, 1).unwrap();
            assert_eq!(got, stored[off as usize / 3], "offset {off}");
        }
    }
}

#[test]
fn crash_in_a_later_segment_keeps_earlier_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    let stored = fill(&log, 40);
    let segs = log.segments();
    drop(log);
    let last = segs.last().unwrap();
    let path = dir.path().join(file_name(last.base_offset, "log"));
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(last.size - 1).unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    assert_eq!(log.log_end_offset(), last.next_offset - 3);
    assert_eq!(all_bytes(&log), stored[..39].concat());
}

#[test]
fn corrupt_early_segment_deletes_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    fill(&log, 40);
    let segs = log.segments();
    drop(log);
    // No recovery point: every segment is scanned; damage the second segment.
    std::fs::remove_file(dir.path().join(recovery::RECOVERY_POINT_FILE)).unwrap();
    let path = dir.path().join(file_name(segs[1].base_offset, "log"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    let now = log.segments();
    assert_eq!(now.len(), 2);
    assert!(log.log_end_offset() < segs[1].next_offset);
    assert!(!dir
        .path()
        .join(file_name(segs[2].base_offset, "log"))
        .exists());
}

#[test]
fn retention_by_bytes_keeps_the_active_segment_and_moves_start_forward() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(2_000);
    cfg.retention_bytes = Some(1);
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    fill(&log, 40);
    let segs = log.segments();
    let deleted = log.apply_retention().unwrap();
    assert_eq!(deleted, segs.len() - 1);
    let active = *segs.last().unwrap();
    assert_eq!(log.segments(), vec![active]);
    assert_eq!(log.log_start_offset(), active.base_offset);
    assert!(matches!(
        log.read(0, 10),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.apply_retention().unwrap(), 0);
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    assert_eq!(log.log_start_offset(), active.base_offset);
}

#[test]
fn retention_by_time_uses_record_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(600);
    cfg.retention_ms = Some(Duration::from_secs(3600));
    let log = PartitionLog::open(dir.path(), cfg).unwrap();
    let now = now_ms();
    // Two old batches (each its own segment), then two fresh ones.
    for ts in [now - 10_000_000, now - 9_000_000, now, now] {
        log.append(&batch(3, 100, ts)).unwrap();
    }
    assert_eq!(log.segments().len(), 4);
    assert_eq!(log.apply_retention().unwrap(), 2);
    assert_eq!(log.log_start_offset(), 6);
}

#[test]
fn truncate_to_drops_the_batch_holding_the_offset_and_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    let stored = fill(&log, 40);
    log.truncate_to(31).unwrap(); // inside batch 10 (offsets 30..=32)
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(all_bytes(&log), stored[..10].concat());
    assert_eq!(log.append(&batch(1, 1, 1)).unwrap().base_offset, 30);
    log.truncate_to(1000).unwrap();
    assert_eq!(log.log_end_offset(), 31);
    drop(log);
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    assert_eq!(log.log_end_offset(), 31);
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(600)).unwrap();
    for ts in [100, 200, 300] {
        log.append(&batch(3, 100, ts)).unwrap(); // records ts, ts+1, ts+2
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(201).unwrap(), Some((4, 201)));
    assert_eq!(log.offset_for_timestamp(203).unwrap(), Some((6, 300)));
    assert_eq!(log.offset_for_timestamp(303).unwrap(), None);
}

#[test]
fn offset_of_max_timestamp_finds_the_first_record_with_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(600)).unwrap();
    assert_eq!(log.offset_of_max_timestamp().unwrap(), None, "empty log");
    // Records 0–2 at 100..102, 3–5 at 900..902 (the largest, 902, is offset 5), then
    // later segments that only reach 500..502 and 902 again (a tie: the first wins).
    for ts in [100, 900, 500, 500, 900] {
        log.append(&batch(3, 100, ts)).unwrap();
    }
    assert!(log.segments().len() > 1, "the max is in an older segment");
    assert_eq!(log.offset_of_max_timestamp().unwrap(), Some((5, 902)));
    // Still after a reopen, when the sealed segments' time indexes answer.
    drop(log);
    let log = PartitionLog::open(dir.path(), small(600)).unwrap();
    assert_eq!(log.offset_of_max_timestamp().unwrap(), Some((5, 902)));
}

#[test]
fn fsync_always_with_concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(1 << 20);
    cfg.fsync = FsyncPolicy::Always;
    let log = Arc::new(PartitionLog::open(dir.path(), cfg).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    log.append(&batch(2, 10, 1)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.log_end_offset(), 200);
    assert!(log.commit.sync_count() <= 100);
    assert!(log.commit.sync_count() >= 1);
}

#[test]
fn append_after_close_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    fill(&log, 2);
    log.close().unwrap();
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    fill(&log, 1);
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    drop(log);
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    assert_eq!(log.log_end_offset(), 9);
}

#[test]
fn append_takes_several_batches_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    let (a, b) = (batch(2, 5, 1), batch(3, 5, 2));
    let both = [a.clone(), b.clone()].concat();
    let info = log.append(&both).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 4, 5)
    );
    assert_eq!(log.read(2, 1).unwrap(), &as_stored(&both, 0)[a.len()..]);
    // A bad second batch rejects the set: nothing is written.
    let mut bad = [a.clone(), b.clone()].concat();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(log.append(&bad).is_err());
    let partial = [a.clone(), b[..20].to_vec()].concat();
    assert!(log.append(&partial).is_err());
    assert!(log.append(&[]).is_err());
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn stale_index_entry_is_rebuilt_on_a_clean_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    let stored = fill(&log, 30);
    let entries = log.segments()[0].index_entries;
    log.close().unwrap();
    drop(log);
    // Point the last entry one byte off: the index disagrees with the log.
    let ix = dir.path().join(file_name(0, "index"));
    let mut bytes = std::fs::read(&ix).unwrap();
    let n = bytes.len();
    bytes[n - 1] = bytes[n - 1].wrapping_add(1);
    std::fs::write(&ix, bytes).unwrap();
    let log = PartitionLog::open(dir.path(), small(1 << 20)).unwrap();
    assert_eq!(log.segments()[0].index_entries, entries);
    assert_eq!(log.log_end_offset(), 90);
    for off in 0..90 {
        assert_eq!(log.read(off, 1).unwrap(), stored[off as usize / 3]);
    }
}

#[test]
fn crash_right_after_a_roll_leaves_every_older_index_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    fill(&log, 40);
    let segs = log.segments();
    drop(log);
    // As if the crash came before the old index was trimmed, with no recovery point.
    let ix = dir.path().join(file_name(segs[0].base_offset, "index"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ix)
        .unwrap()
        .set_len(4096)
        .unwrap();
    std::fs::remove_file(dir.path().join(recovery::RECOVERY_POINT_FILE)).unwrap();
    let log = PartitionLog::open(dir.path(), small(2_000)).unwrap();
    assert_eq!(log.segments(), segs);
    assert_eq!(
        std::fs::metadata(&ix).unwrap().len() as usize,
        segs[0].index_entries * 8
    );
}

#[test]
fn rolls_retention_and_truncation_are_recorded_as_events() {
    use crate::events::{EventKind, Events};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(600);
    cfg.retention_bytes = Some(1);
    let events = Events::default();
    let log = PartitionLog::open(dir.path(), cfg)
        .unwrap()
        .with_events(events.clone());
    fill(&log, 6);
    let segments = log.segments().len();
    assert!(segments > 2);
    log.apply_retention().unwrap();
    log.truncate_to(log.log_end_offset() - 1).unwrap();
    let seen = events.since(0);
    let kinds: Vec<EventKind> = seen.iter().map(|e| e.kind).collect();
    let rolls = kinds
        .iter()
        .filter(|k| **k == EventKind::SegmentRolled)
        .count();
    let deletions = kinds
        .iter()
        .filter(|k| **k == EventKind::SegmentDeleted)
        .count();
    assert_eq!(
        (rolls, deletions),
        (segments - 1, segments - 1),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&EventKind::Truncated));
    // The words of the info lines.
    assert!(seen[0]
        .text
        .contains(": rolled segment 00000000000000000000.log (offsets 0 to "));
    assert!(seen[rolls].text.starts_with("retention: deleted "));
    assert!(seen.last().unwrap().text.contains(": truncated to offset "));
}
