//! Property tests of the storage engine on real files (the four properties of issue 2):
//! dense offsets and byte-exact reads, recovery to the longest valid prefix, index
//! lookup against a linear scan, and retention's guarantees; and compaction against a
//! model (the latest record per key below the cleaned offset, every offset kept).
//!
//! Failing seeds are kept in `broker/proptest-regressions/storage_proptest.txt`
//! (committed), so a once-found failure is replayed on every run.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::io::Write;

use bytes::Bytes;
use minikafka_broker::config::LogConfig;
use minikafka_broker::log::index::{lookup_in, IndexEntry};
use minikafka_broker::log::partition_log::as_stored;
use minikafka_broker::log::record::{build, records, NewRecord};
use minikafka_broker::log::record_batch::{split_batches, BatchHeader, Compression};
use minikafka_broker::log::PartitionLog;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/storage_proptest.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// (records, value length) for each batch.
fn batches() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((1usize..12, 0usize..300), 1..30)
}

fn make(records: usize, value_len: usize, ts: i64) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..records)
        .map(|i| NewRecord {
            key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![(i % 251) as u8; value_len])),
            headers: vec![],
            timestamp: ts + i as i64,
        })
        .collect();
    build(&recs, ts, Compression::None)
}

fn log_config(segment_bytes: u64, interval: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: interval,
        max_index_bytes: 1024,
        ..LogConfig::default()
    }
}

/// Every batch of the log, read from the start, concatenated.
fn read_all(log: &PartitionLog) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = log.log_start_offset();
    while off < log.log_end_offset() {
        let chunk = log.read(off, 4096).unwrap();
        let last = split_batches(&chunk).last().unwrap();
        off = BatchHeader::parse(last).unwrap().last_offset() + 1;
        out.extend_from_slice(&chunk);
    }
    out
}

/// Every record from the log start: (offset, key byte, value).
fn records_of(log: &PartitionLog) -> Vec<(i64, u8, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let chunk = log.read(next, 1 << 20).unwrap();
        for batch in split_batches(&chunk) {
            for r in records(batch).unwrap() {
                if r.offset >= next {
                    let key = r.key.unwrap()[1];
                    out.push((r.offset, key, r.value.map(|v| v.to_vec())));
                }
            }
            next = BatchHeader::parse(batch).unwrap().last_offset() + 1;
        }
    }
    out
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn offsets_are_dense_and_reads_return_the_same_bytes(
        spec in batches(), segment_bytes in 300u64..6000, interval in 0u32..2000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), log_config(segment_bytes, interval)).unwrap();
        let mut stored = Vec::new();
        let mut next = 0;
        for (i, (n, len)) in spec.iter().enumerate() {
            let b = make(*n, *len, i as i64);
            let info = log.append(&b).unwrap();
            prop_assert_eq!(info.base_offset, next);
            prop_assert_eq!(info.last_offset, next + *n as i64 - 1);
            next += *n as i64;
            stored.push(as_stored(&b, info.base_offset));
        }
        prop_assert_eq!(log.log_end_offset(), next);
        // Each offset reads back the batch that holds it (this goes through the index).
        let mut first = 0i64;
        for b in &stored {
            let h = BatchHeader::parse(b).unwrap();
            for off in first..=h.last_offset() {
                let got = log.read(off, 1).unwrap();
                prop_assert_eq!(&got, b);
            }
            first = h.last_offset() + 1;
        }
        prop_assert_eq!(read_all(&log), stored.concat());
        log.close().unwrap();
        drop(log);
        let log = PartitionLog::open(dir.path(), log_config(segment_bytes, interval)).unwrap();
        prop_assert_eq!(read_all(&log), stored.concat());
    }

    #[test]
    fn reopening_after_damage_yields_the_longest_valid_prefix(
        spec in batches(), segment_bytes in 500u64..8000, cut in any::<prop::sample::Index>(),
        garbage in prop::collection::vec(any::<u8>(), 0..200), truncate in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = log_config(segment_bytes, 256);
        let log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
        let mut stored = Vec::new();
        for (i, (n, len)) in spec.iter().enumerate() {
            let b = make(*n, *len, i as i64);
            let info = log.append(&b).unwrap();
            stored.push((info.segment_base, info.position, as_stored(&b, info.base_offset)));
        }
        let active = log.segments().last().unwrap().base_offset;
        drop(log); // crash: no clean-shutdown marker
        let path = dir.path().join(format!("{active:020}.log"));
        let size = std::fs::metadata(&path).unwrap().len();
        let valid_end = if truncate {
            let p = cut.index(size as usize + 1) as u64;
            OpenOptions::new().write(true).open(&path).unwrap().set_len(p).unwrap();
            p
        } else {
            OpenOptions::new().append(true).open(&path).unwrap().write_all(&garbage).unwrap();
            size
        };
        let expected: Vec<u8> = stored
            .iter()
            .filter(|(seg, pos, b)| *seg != active || pos + b.len() as u64 <= valid_end)
            .flat_map(|(_, _, b)| b.clone())
            .collect();
        let log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
        prop_assert_eq!(read_all(&log), expected.clone());
        let kept = log.segments().last().copied().unwrap();
        prop_assert_eq!(kept.base_offset, active);
        // The file itself is cut at the last valid byte, not just hidden.
        prop_assert_eq!(std::fs::metadata(&path).unwrap().len(), kept.size);
        // Appends continue right after the prefix and survive a crash and a reopen.
        let more = make(2, 10, 7);
        let info = log.append(&more).unwrap();
        prop_assert_eq!(info.base_offset, kept.next_offset);
        drop(log);
        let log = PartitionLog::open(dir.path(), cfg).unwrap();
        prop_assert_eq!(read_all(&log), [expected, as_stored(&more, info.base_offset)].concat());
    }

    #[test]
    fn index_lookup_agrees_with_a_linear_scan(
        steps in prop::collection::vec((1u32..50, 1u32..5000), 0..200), target in any::<u32>(),
    ) {
        let mut entries = Vec::new();
        let (mut rel, mut pos) = (0u32, 0u32);
        for (dr, dp) in steps {
            rel += dr;
            pos += dp;
            entries.push(IndexEntry { relative_offset: rel, position: pos });
        }
        let target = target % (rel + 100);
        let linear = entries.iter().rev().find(|e| e.relative_offset <= target).copied();
        prop_assert_eq!(lookup_in(&entries, target), linear);
    }

    #[test]
    fn retention_keeps_the_active_segment_and_never_moves_start_back(
        ops in prop::collection::vec(prop::option::of((1usize..10, 0usize..400)), 1..60),
        retention_bytes in 0u64..10_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = log_config(1500, 256);
        cfg.retention_bytes = Some(retention_bytes);
        let log = PartitionLog::open(dir.path(), cfg).unwrap();
        let mut start = log.log_start_offset();
        for op in ops {
            match op {
                Some((n, len)) => {
                    log.append(&make(n, len, 0)).unwrap();
                }
                None => {
                    let before = log.segments();
                    log.apply_retention().unwrap();
                    let after = log.segments();
                    prop_assert!(!after.is_empty());
                    prop_assert_eq!(before.last(), after.last());
                    let total: u64 = after.iter().map(|s| s.size).sum();
                    // Kafka's rule: stop once deleting the oldest would go below the limit.
                    if after.len() > 1 {
                        prop_assert!(total - after[0].size < retention_bytes);
                    }
                }
            }
            prop_assert!(log.log_start_offset() >= start);
            start = log.log_start_offset();
            prop_assert_eq!(start, log.segments()[0].base_offset);
        }
    }

    #[test]
    fn compaction_keeps_the_latest_record_per_key_at_its_offset(
        rounds in prop::collection::vec(
            prop::collection::vec(
                prop::collection::vec((0u8..6, prop::option::weighted(0.85, 0usize..120)), 1..6),
                1..12,
            ),
            1..4,
        ),
        segment_bytes in 150u64..1500,
        lz4 in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            compact: true,
            retention_deletes: false,
            min_cleanable_dirty_ratio: 0.0,
            ..log_config(segment_bytes, 128)
        };
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        let mut log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
        // The model: every record ever written, (offset, key, value).
        let mut written: Vec<(i64, u8, Option<Vec<u8>>)> = Vec::new();
        for round in rounds {
            for batch in round {
                let recs: Vec<NewRecord> = batch
                    .iter()
                    .map(|(k, v)| NewRecord {
                        key: Some(Bytes::from(vec![b'k', *k])),
                        value: v.map(|len| Bytes::from(vec![*k; len])),
                        headers: vec![],
                        timestamp: 1_000,
                    })
                    .collect();
                let info = log.append(&build(&recs, 1_000, compression)).unwrap();
                for (i, (k, v)) in batch.iter().enumerate() {
                    written.push((info.base_offset + i as i64, *k, v.map(|len| vec![*k; len])));
                }
            }
            log.clean().unwrap();
            // Below the active segment: the latest record of each key (tombstones too:
            // their horizon is a day away); from it on, everything.
            let end = log.segments().last().unwrap().base_offset;
            let mut latest = std::collections::HashMap::new();
            for (o, k, _) in written.iter().filter(|r| r.0 < end) {
                latest.insert(*k, *o);
            }
            let expected: Vec<_> = written
                .iter()
                .filter(|(o, k, _)| *o >= end || latest[k] == *o)
                .cloned()
                .collect();
            prop_assert_eq!(records_of(&log), expected.clone());
            prop_assert_eq!(log.log_end_offset(), written.len() as i64);
            // A crash (no close) and a reopen serve the same; the next round goes on
            // with the reopened log.
            drop(log);
            log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
            prop_assert_eq!(records_of(&log), expected);
        }
    }
}
