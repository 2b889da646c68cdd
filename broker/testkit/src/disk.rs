//! What a partition holds on disk, read with the log's own framing
//! (`minikafka_broker::log::record_batch`), so a test checks the files the broker wrote
//! without a second parser of Kafka's format.
//!
//! Flow: producer → broker → partition log → segment files → **disk::stored_batches**.
//!
//! What must stay true: only whole batches are reported; a torn tail is not a batch.

use std::path::{Path, PathBuf};

use minikafka_broker::log::record_batch::{split_batches, BatchHeader};

/// The record batches stored for `topic[partition]` under `data_dir`, in offset order,
/// as `(base_offset, record_count)`. Call it once every batch was acknowledged: the broker
/// writes a batch to its segment before it answers.
pub fn stored_batches(data_dir: &Path, topic: &str, partition: i32) -> Vec<(i64, i32)> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut batches = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).unwrap_or_else(|e| panic!("read {}: {e}", log.display()));
        for batch in split_batches(&bytes) {
            let header = BatchHeader::parse(batch)
                .unwrap_or_else(|e| panic!("{}: a batch header: {e}", log.display()));
            batches.push((header.base_offset, header.record_count));
        }
    }
    batches
}
