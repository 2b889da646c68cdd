//! Unit tests of transactions in one partition log, on real files: the last stable
//! offset, markers, what a read_committed read returns and reports, and the aborted
//! index and producer state across a clean reopen and a crash.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::log::control_batch::Marker;
use crate::log::producer_state::ProducerError;

/// A batch of `n` records from `pid` at epoch 0, sequences from `seq`.
fn txn_batch(pid: i64, seq: i32, n: usize, transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: now_ms(),
            key: None,
            value: Some(Bytes::from(format!("{pid}-{}", seq + i as i32))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

const COMMIT: Marker = Marker {
    commit: true,
    coordinator_epoch: 0,
};
const ABORT: Marker = Marker {
    commit: false,
    coordinator_epoch: 0,
};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        max_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Two producers interleave: 1 commits, 2 aborts, 3 stays open.
///
/// | offsets | what                          |
/// |---------|-------------------------------|
/// | 0–1     | producer 1, transactional     |
/// | 2–3     | producer 2, transactional     |
/// | 4       | plain records (no producer)   |
/// | 5       | COMMIT of producer 1          |
/// | 6–7     | producer 2 again              |
/// | 8       | ABORT of producer 2           |
/// | 9–10    | producer 3, still open        |
fn scenario(log: &PartitionLog) {
    log.append(&txn_batch(1, 0, 2, true)).unwrap();
    log.append(&txn_batch(2, 0, 2, true)).unwrap();
    assert_eq!(log.last_stable_offset(), 0);
    log.append(&txn_batch(-1, -1, 1, false)).unwrap();
    assert_eq!(log.append_marker(1, 0, COMMIT).unwrap().base_offset, 5);
    assert_eq!(log.last_stable_offset(), 2, "producer 2 is still open");
    log.append(&txn_batch(2, 2, 2, true)).unwrap();
    assert_eq!(log.append_marker(2, 0, ABORT).unwrap().base_offset, 8);
    assert_eq!(log.last_stable_offset(), 9);
    log.append(&txn_batch(3, 0, 2, true)).unwrap();
    assert_eq!(log.last_stable_offset(), 9);
}

fn check(log: &PartitionLog) {
    assert_eq!(log.log_end_offset(), 11);
    assert_eq!(log.last_stable_offset(), 9);
    let aborted = log.aborted_transactions(usize::MAX);
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (
            aborted[0].producer_id,
            aborted[0].first_offset,
            aborted[0].last_offset
        ),
        (2, 2, 8)
    );
    assert_eq!(aborted[0].last_stable_offset, 9);
    // read_committed from 0: everything below 9, and producer 2's abort to drop.
    let mut offset = 0;
    let mut upper = 0;
    while let Some((slice, next)) = log.slice_upto(offset, 1 << 20, 9).unwrap() {
        assert!(next <= 9);
        upper = next;
        offset = next;
        assert!(slice.len > 0);
    }
    assert_eq!(upper, 9);
    assert_eq!(log.aborted_between(0, 9), vec![(2, 2)]);
    assert_eq!(log.aborted_between(9, 11), Vec::<(i64, i64)>::new());
    // Nothing readable at or past the LSO.
    assert!(log.slice_upto(9, 1 << 20, 9).unwrap().is_none());
    let p = log.producers();
    assert_eq!(p.get(3).and_then(|e| e.current_txn_first_offset), Some(9));
    assert_eq!(p.get(2).and_then(|e| e.current_txn_first_offset), None);
}

#[test]
fn markers_move_the_last_stable_offset_and_aborts_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    scenario(&log);
    check(&log);
    // A non-transactional batch from producer 3 while its transaction is open.
    let e = log.append(&txn_batch(3, 2, 1, false)).unwrap_err();
    assert!(
        matches!(e, LogError::Producer(ProducerError::TxnOpen { .. })),
        "{e}"
    );
    // A marker from an older epoch than the producer's.
    log.append(&{
        let mut b = txn_batch(4, 0, 1, false).to_vec();
        b[51..53].copy_from_slice(&5i16.to_be_bytes());
        let crc = crate::log::record_batch::compute_crc(&b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    })
    .unwrap();
    assert!(matches!(
        log.append_marker(4, 4, COMMIT),
        Err(LogError::Producer(ProducerError::InvalidEpoch { .. }))
    ));
}

#[test]
fn the_state_survives_a_clean_reopen_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = PartitionLog::open(dir.path(), config()).unwrap();
        scenario(&log);
        log.close().unwrap();
    }
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check(&log);
    drop(log); // no close: a crash, as far as the files know
               // The index files are lost too: the replay finds the ABORT marker again.
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".txnindex") || name.ends_with(".snapshot") || name == "clean-shutdown" {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check(&log);
    // And the open transaction can still end.
    log.append_marker(3, 0, ABORT).unwrap();
    assert_eq!(log.last_stable_offset(), 12);
    assert_eq!(log.aborted_between(0, 12).len(), 2);
}
