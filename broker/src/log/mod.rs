//! The storage engine: Kafka's on-disk log format, one partition at a time.
//!
//! Reading order: [`record_batch`] (the v2 batch, the unit of everything, and the one
//! function that frames bytes into batches) →
//! [`record`] (the key/value records inside it) →
//! [`segment`] (one `.log` file) → [`index`] (its sparse, memory-mapped `.index`) and
//! [`time_index`] (its `.timeindex`), both files of [`index_file`] →
//! [`partition_log`] (the ordered segments of one partition, and with
//! [`producer_state`] and [`producer_snapshot`] what it knows of each idempotent
//! producer) → [`recovery`]
//! (what happens on open after a crash) → [`storage`] (the seam every
//! write and sync goes through, where tests fill or cut the disk) → [`lazy_segment`] (a sealed segment opened
//! when first needed, after a clean open) → [`durability`] (when bytes reach the disk) →
//! [`cleaner`] (compaction: the latest record per key, for `cleanup.policy=compact`).
//!
//! Invariant kept by this whole module: offsets increase (dense as appended; the
//! cleaner leaves gaps, never moves a record), and a `.log` file only ever holds
//! whole, CRC-valid v2 batches after recovery.

pub mod cleaner;
pub mod control_batch;
pub mod decompress;
pub mod durability;
pub mod index;
pub mod index_file;
pub mod lazy_segment;
pub mod log_start;
pub mod partition_log;
pub mod producer_snapshot;
pub mod producer_state;
pub mod record;
pub mod record_batch;
pub mod recovery;
pub mod segment;
pub mod storage;
pub mod time_index;
pub mod txn_index;

pub use partition_log::{AppendInfo, PartitionLog};
pub use record_batch::BatchError;
pub use segment::FileSlice;

use std::path::PathBuf;

/// Everything that can go wrong in the storage engine. Each variant carries
/// enough context (file, offset, position) to act on it.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("offset {offset} is out of range: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The batch's producer id, epoch or sequence does not fit what this partition
    /// knows of the producer (`producer_state.rs`).
    #[error("{0}")]
    Producer(#[from] producer_state::ProducerError),
}

impl LogError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    /// The disk is full (ENOSPC): the write was refused, nothing of it was kept.
    pub fn is_no_space(&self) -> bool {
        matches!(self, LogError::Io { source, .. }
            if source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()))
    }
}
