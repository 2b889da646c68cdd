//! Shared helpers for the criterion benches: batches shaped like a producer's.
//!
//! Where this sits: the benches drive the storage engine directly (partition log →
//! segment), the same path a Produce request takes below `Partition::append`.
//!
//! What must stay true:
//! - [`batch`] is built by the broker's own `record::build`, so it passes the
//!   append path's validation exactly as a producer's batch would.
//! - The same arguments give the same bytes (fixed keys and timestamps): runs compare.
//! - [`temp_log`] is `LogConfig::default()` (so no fsync) with 256 MiB segments; the log
//!   lives in a temp dir removed when the returned `TempDir` drops.

use bytes::Bytes;
use minikafka_broker::config::LogConfig;
use minikafka_broker::log::record::{build, NewRecord};
use minikafka_broker::log::record_batch::Compression;
use minikafka_broker::log::PartitionLog;

/// A v2 batch of `records` records, each with an 8-byte key and a `value_len`-byte value.
pub fn batch(records: usize, value_len: usize) -> Vec<u8> {
    let recs: Vec<NewRecord> = (0..records)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("key{i:05}"))),
            value: Some(Bytes::from(vec![b'x'; value_len])),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect();
    build(&recs, 1_700_000_000_000, Compression::None)
}

/// A fresh partition log in a temp dir, without fsync, with 256 MiB segments.
pub fn temp_log() -> (tempfile::TempDir, PartitionLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        segment_bytes: 256 << 20,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).expect("open log");
    (dir, log)
}
