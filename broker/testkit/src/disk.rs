//! What a partition holds on disk, read with the log's own framing
//! (`minikafka_broker::log::record_batch`), so a test checks the files the broker wrote
//! without a second parser of Kafka's format.
//!
//! Flow: producer → broker → partition log → segment files → **disk::stored_batches**.
//!
//! What must stay true: only whole batches are reported; a torn tail is not a batch, and
//! neither is a batch that fails its checks ([`valid_prefix`], recovery's rule, which the
//! crash test holds the broker to).

use std::path::{Path, PathBuf};

use minikafka_broker::log::record_batch::{check_frame, frames, split_batches, BatchHeader};

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

/// The segment `.log` files of a partition directory, by base offset (their
/// `{:020}` names sort as numbers).
pub fn segment_logs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .filter(|p| p.file_stem().is_some_and(|s| s.len() == 20))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The active segment of `topic[partition]` under `data_dir`: the `.log` with the
/// highest base offset; `None` when the partition has no directory or no segment.
pub fn active_segment(data_dir: &Path, topic: &str, partition: i32) -> Option<PathBuf> {
    segment_logs(&data_dir.join(format!("{topic}-{partition}"))).pop()
}

/// The base offset a segment file is named by.
pub fn base_offset_of(segment: &Path) -> i64 {
    segment
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{} is not named by a base offset", segment.display()))
}

/// The valid prefix of a segment's bytes (`base`: its base offset), by recovery's rule:
/// whole frames that pass `check_frame` (size, magic, CRC-32C) with offsets going up.
/// Returns the offset after its last record (`base` when none) and its length in bytes.
pub fn valid_prefix(bytes: &[u8], base: i64) -> (i64, usize) {
    let (mut next, mut end) = (base, 0);
    for frame in frames(bytes) {
        let Ok(range) = frame else { break };
        let Ok(h) = check_frame(&bytes[range.clone()]) else {
            break;
        };
        if h.base_offset < next {
            break;
        }
        next = h.last_offset() + 1;
        end = range.end;
    }
    (next, end)
}
