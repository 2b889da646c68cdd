//! The log of one partition: an ordered set of segments plus the active one.
//!
//! CONTRACT (other modules code against these signatures; keep them):
//! `PartitionLog` is `Send + Sync` and internally synchronised, so it is shared as
//! `Arc<PartitionLog>` and called from `spawn_blocking`.

use std::path::Path;
use std::time::Duration;

use super::{FsyncPolicy, LogError};

/// Per-partition log settings, with Kafka's topic-config names.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment once it reaches this size. Default 1 GiB.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment once it is this old. Default 7 days.
    pub segment_ms: Option<Duration>,
    /// `retention.bytes`: delete old segments while the log is larger. `None` = unlimited.
    pub retention_bytes: Option<u64>,
    /// `retention.ms`: delete segments whose newest record is older. Default 7 days.
    pub retention_ms: Option<Duration>,
    /// `index.interval.bytes`: bytes between two index entries. Default 4096.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: preallocated size of the active index. Default 10 MiB.
    pub max_index_bytes: u32,
    /// `max.message.bytes`: the largest batch accepted. Default 1 MiB + overhead.
    pub max_message_bytes: u32,
    /// Durability policy (Kafka: `flush.messages` / `flush.ms`).
    pub fsync: FsyncPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            retention_bytes: None,
            retention_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            index_interval_bytes: 4096,
            max_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1024 * 1024 + 12,
            fsync: FsyncPolicy::Never,
        }
    }
}

/// Where an append landed, for the response and for the request log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub record_count: i32,
    /// Base offset of the segment that received the batch.
    pub segment_base: i64,
    /// Byte position of the batch inside that segment's `.log`.
    pub position: u64,
    pub log_start_offset: i64,
}

/// The partition log. See the module docs.
pub struct PartitionLog {
    _private: (),
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog").finish_non_exhaustive()
    }
}

#[allow(clippy::todo, unused_variables)]
impl PartitionLog {
    /// Opens (or creates) the partition directory, running recovery if the
    /// clean-shutdown marker is missing.
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog, LogError> {
        todo!()
    }
    /// Validates a whole v2 batch (`batch` is exactly one batch, bytes 0..12+batchLength),
    /// writes the next offset as its base offset in place, appends it, and follows the
    /// fsync policy before returning.
    pub fn append(&self, batch: &mut [u8]) -> Result<AppendInfo, LogError> {
        todo!()
    }
    /// Whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (but always at least one whole batch when `offset < log_end_offset`).
    /// `offset == log_end_offset` gives an empty vector; outside
    /// `[log_start_offset, log_end_offset]` gives `LogError::OffsetOutOfRange`.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        todo!()
    }
    pub fn log_start_offset(&self) -> i64 {
        todo!()
    }
    pub fn log_end_offset(&self) -> i64 {
        todo!()
    }
    /// ListOffsets by timestamp: the first offset whose record timestamp is >= `ts`,
    /// with that timestamp; `None` when no record is that new.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        todo!()
    }
    /// Drops every record at `offset` and after.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        todo!()
    }
    /// Applies `retention.bytes` / `retention.ms`; returns how many segments were deleted.
    pub fn apply_retention(&self) -> Result<usize, LogError> {
        todo!()
    }
    /// `sync_data` on the active segment and its index.
    pub fn sync(&self) -> Result<(), LogError> {
        todo!()
    }
    /// Syncs, trims the index, and writes the clean-shutdown marker.
    pub fn close(&self) -> Result<(), LogError> {
        todo!()
    }
}
