//! The log cleaner on real files: a `PartitionLog` in a temp dir, written, cleaned,
//! read back, reopened (cleanly and after a "crash") and its swap leftovers recovered.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::config::LogConfig;
use crate::log::record::{build, records, NewRecord};
use crate::log::record_batch::{split_batches, BatchHeader, Compression};
use crate::log::segment::file_name;
use crate::log::PartitionLog;

/// A compacted log whose every append goes to a new segment (`segment.ms` = 1 ms and
/// a pause), so all but the last append are cleanable.
fn compacted() -> LogConfig {
    LogConfig {
        compact: true,
        retention_deletes: false,
        segment_ms: Some(Duration::from_millis(1)),
        index_interval_bytes: 64,
        max_index_bytes: 4096,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Appends one batch of `(key, value)` records (`None` value: a tombstone), each in a
/// segment of its own; returns the offsets given.
fn put(log: &PartitionLog, recs: &[(&str, Option<&str>)], compression: Compression) -> Vec<i64> {
    std::thread::sleep(Duration::from_millis(3));
    let ts = now();
    let new: Vec<NewRecord> = recs
        .iter()
        .map(|(k, v)| NewRecord {
            key: Some(Bytes::from(k.to_string())),
            value: v.map(|v| Bytes::from(v.to_string())),
            headers: vec![],
            timestamp: ts,
        })
        .collect();
    let b = build(&new, ts, compression);
    let info = log.append(&b).unwrap();
    (info.base_offset..=info.last_offset).collect()
}

/// Every record from the log start: (offset, key, value).
fn read_all(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let chunk = log.read(off, 1 << 20).unwrap();
        for b in split_batches(&chunk) {
            let h = BatchHeader::parse(b).unwrap();
            for r in records(b).unwrap() {
                if r.offset >= off {
                    out.push((
                        r.offset,
                        String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                        r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    ));
                }
            }
            off = h.last_offset() + 1;
        }
    }
    out
}

/// What a compaction of `all` below `up_to` must leave: the last record of each key
/// there (by the whole cleanable part), and everything from `up_to` on.
fn expected(
    all: &[(i64, String, Option<String>)],
    up_to: i64,
    drop_tombstones: bool,
) -> Vec<(i64, String, Option<String>)> {
    let mut latest = BTreeMap::new();
    for (o, k, _) in all.iter().filter(|r| r.0 < up_to) {
        latest.insert(k.clone(), *o);
    }
    all.iter()
        .filter(|(o, k, v)| *o >= up_to || (latest[k] == *o && !(drop_tombstones && v.is_none())))
        .cloned()
        .collect()
}

fn seven_updates(log: &PartitionLog, compression: Compression) {
    put(log, &[("a", Some("a1")), ("b", Some("b1"))], compression);
    put(log, &[("a", Some("a2")), ("c", Some("c1"))], compression);
    put(log, &[("b", Some("b2")), ("a", Some("a3"))], compression);
    put(log, &[("c", None)], compression);
    put(log, &[("d", Some("d1"))], compression);
}

#[test]
fn keeps_the_latest_record_per_key_at_its_offset_and_reads_across_the_gaps() {
    for compression in [Compression::None, Compression::Lz4, Compression::Gzip] {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), compacted()).unwrap();
        seven_updates(&log, compression);
        let before = read_all(&log);
        assert_eq!(before.len(), 8);
        let active = log.segments().last().unwrap().base_offset;
        let report = log.clean().unwrap().expect("a pass ran");
        assert_eq!(report.cleaned_up_to, active);
        let after = read_all(&log);
        assert_eq!(after, expected(&before, active, false), "{compression:?}");
        // The tombstone of c stays (its delete horizon is a day away), c1 is gone.
        assert!(after.iter().any(|r| r.1 == "c" && r.2.is_none()));
        assert_eq!(report.stats.records_after as usize, after.len() - 1);
        assert_eq!(log.log_end_offset(), 8, "the log end does not move");
        // Every kept offset can be fetched on its own, and a fetch inside a gap gets
        // the next batch.
        for (o, k, _) in &after {
            let chunk = log.read(*o, 1).unwrap();
            let got = records(split_batches(&chunk).next().unwrap()).unwrap();
            assert!(got
                .iter()
                .any(|r| r.offset == *o && r.key.as_deref() == Some(k.as_bytes())));
        }
        let gap = log.read(0, 1 << 20).unwrap();
        assert!(records(split_batches(&gap).next().unwrap()).unwrap()[0].offset > 0);
        // The cleaned segment is one file (the sealed segments merged), marked cleaned.
        let segs = log.segments();
        assert_eq!(segs.len(), 2);
        assert!(segs[0].cleaned && !segs[1].cleaned);
        // A second pass has nothing dirty to do.
        assert_eq!(log.clean().unwrap(), None);

        // It survives a clean reopen and a crash (no close: the unclean path).
        log.close().unwrap();
        drop(log);
        let log = PartitionLog::open(dir.path(), compacted()).unwrap();
        assert_eq!(read_all(&log), after);
        drop(log);
        let log = PartitionLog::open(dir.path(), compacted()).unwrap();
        assert_eq!(read_all(&log), after);
        assert!(log.segments()[0].cleaned, "the checkpoint was kept");
    }
}

#[test]
fn tombstones_go_once_their_delete_horizon_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        delete_retention: Duration::from_millis(1500),
        ..compacted()
    };
    let log = PartitionLog::open(dir.path(), config).unwrap();
    seven_updates(&log, Compression::None);
    let before = read_all(&log);
    let active = log.segments().last().unwrap().base_offset;
    let first = log.clean().unwrap().unwrap();
    assert_eq!(first.stats.tombstones_removed, 0);
    let horizon = first.stats.next_horizon.expect("the tombstone's horizon");
    assert!(horizon > now() - 1000 && horizon <= now() + 1500);
    // The tombstone's batch carries the horizon (attribute bit 6, baseTimestamp).
    let c = read_all(&log).into_iter().find(|r| r.1 == "c").unwrap();
    let chunk = log.read(c.0, 1).unwrap();
    let h = BatchHeader::parse(split_batches(&chunk).next().unwrap()).unwrap();
    assert_eq!(h.delete_horizon(), Some(horizon));
    // Before the horizon nothing is due (checked only if the call surely ran before it:
    // a loaded machine may be slow); after it a pass runs and drops the tombstone.
    let early = log.clean().unwrap();
    if now() < horizon {
        assert_eq!(early, None);
    }
    let wait = (horizon - now()).max(0) as u64 + 50;
    std::thread::sleep(Duration::from_millis(wait));
    let second = log.clean().unwrap().expect("the horizon made a pass due");
    assert_eq!(second.stats.tombstones_removed, 1);
    assert_eq!(read_all(&log), expected(&before, active, true));
    assert_eq!(log.clean().unwrap(), None, "no tombstone left to wait for");
}

#[test]
fn min_compaction_lag_and_the_dirty_ratio_hold_a_pass_back() {
    let dir = tempfile::tempdir().unwrap();
    let lagged = LogConfig {
        min_compaction_lag: Duration::from_secs(3600),
        ..compacted()
    };
    let log = PartitionLog::open(dir.path(), lagged).unwrap();
    seven_updates(&log, Compression::None);
    let before = read_all(&log);
    assert_eq!(
        log.clean().unwrap(),
        None,
        "every record is younger than the lag"
    );
    assert_eq!(read_all(&log), before);

    let picky = LogConfig {
        min_cleanable_dirty_ratio: 0.9,
        ..compacted()
    };
    log.set_config(picky.clone());
    let first = log.clean().unwrap().expect("all dirty: ratio 1.0");
    assert!(first.stats.records_after < first.stats.records_before);
    // A little new dirt on a big clean part stays below 0.9.
    put(&log, &[("a", Some("a4"))], Compression::None);
    put(&log, &[("e", Some("e1"))], Compression::None);
    assert_eq!(log.clean().unwrap(), None);
    log.set_config(compacted());
    assert!(log.clean().unwrap().is_some());
    // A topic that does not compact is never cleaned.
    log.set_config(LogConfig {
        compact: false,
        ..compacted()
    });
    put(&log, &[("a", Some("a5"))], Compression::None);
    put(&log, &[("a", Some("a6"))], Compression::None);
    assert_eq!(log.clean().unwrap(), None);
}

#[test]
fn recovery_drops_an_uncommitted_pass_and_finishes_a_committed_swap() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), compacted()).unwrap();
    seven_updates(&log, Compression::None);
    let before = read_all(&log);
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset).collect();
    let active = *bases.last().unwrap();
    drop(log);

    // A pass that had written its `.cleaned` file but not committed: it goes.
    let cleaned = super::swap::cleaned_path(dir.path(), 0);
    std::fs::write(&cleaned, b"half a segment").unwrap();
    let log = PartitionLog::open(dir.path(), compacted()).unwrap();
    assert!(!cleaned.exists());
    assert_eq!(read_all(&log), before);

    // A committed swap whose old segments were not all deleted: recovery deletes them
    // and puts the swap in place. The swap is made by a real pass in a copy of the dir.
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    log.clean().unwrap().unwrap();
    let compacted_records = read_all(&log);
    drop(log);
    let cleaned_log = std::fs::read(dir.path().join(file_name(0, "log"))).unwrap();
    std::fs::write(super::swap::swap_path(copy.path(), 0, active), &cleaned_log).unwrap();
    // Half the old segments already deleted, half still there.
    for ext in ["log", "index", "timeindex"] {
        std::fs::remove_file(copy.path().join(file_name(bases[1], ext))).unwrap();
    }
    let log = PartitionLog::open(copy.path(), compacted()).unwrap();
    assert_eq!(read_all(&log), compacted_records);
    assert_eq!(log.segments().len(), 2);
    let leftovers: Vec<_> = std::fs::read_dir(copy.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn records_without_a_key_are_dropped_by_the_cleaner() {
    // Possible only from before a topic became compacted: produce refuses them after.
    let dir = tempfile::tempdir().unwrap();
    let not_yet = LogConfig {
        compact: false,
        ..compacted()
    };
    let log = PartitionLog::open(dir.path(), not_yet).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    let b = build(
        &[
            NewRecord {
                key: None,
                value: Some(Bytes::from_static(b"x")),
                headers: vec![],
                timestamp: now(),
            },
            NewRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"y")),
                headers: vec![],
                timestamp: now(),
            },
        ],
        now(),
        Compression::None,
    );
    log.append(&b).unwrap();
    log.set_config(compacted());
    put(&log, &[("z", Some("z1"))], Compression::None);
    log.clean().unwrap().unwrap();
    let chunk = log.read(0, 1 << 20).unwrap();
    let first = records(split_batches(&chunk).next().unwrap()).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].offset, first[0].key.as_deref()),
        (1, Some(&b"k"[..]))
    );
}
