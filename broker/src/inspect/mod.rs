//! What `minikafka-broker inspect` prints: the learner's window onto the data dir.
//!
//! Flow: this sits beside the message path, reading what the partition log left on
//! disk (topics.json → `<topic>-<partition>/` → segments → batches → records), without
//! changing a byte: it never opens a `PartitionLog` (which would recover, consume the
//! clean-shutdown marker or preallocate indexes). Damage is reported, not repaired.
//!
//! - [`topics`] (`inspect topics <data-dir>`): topics, partitions, offsets, segments.
//! - [`dump`] (`inspect dump <file.log|file.index>`): every batch and record of a
//!   `.log`, or every entry of an `.index`.
//!
//! What must stay true:
//! - Nothing here writes to the data directory: files are only opened for reading.
//! - Bytes are framed and parsed by the broker's own code (`log/`, `topics/file.rs`),
//!   never by a second parser.
//! - Every error names the file it is about ([`InspectError`]).

mod dump;
mod format;
mod topics;

pub use dump::dump;
pub use topics::topics;

use std::path::PathBuf;

/// Why an inspection failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

impl InspectError {
    fn new(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        InspectError::Unreadable {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
