//! The `log-start-offset` file of a partition: where DeleteRecords moved the log start
//! offset, so that a restart keeps it (Kafka keeps the same number per partition in
//! its data directory's `log-start-offset-checkpoint`).
//!
//! Flow: DeleteRecords → `PartitionLog::delete_records` → **write** (before segments
//! are deleted); `PartitionLog::open` → **read** → the log start offset is the larger
//! of it and the first segment's base offset.
//!
//! # Format
//!
//! One line, the offset in decimal: `1234\n`. Missing or unreadable means "the first
//! segment's base offset", which is what a log without DeleteRecords has.
//!
//! What must stay true: the file is replaced whole (temp file, fsync, rename, fsync
//! the directory), so a crash leaves the old or the new number; the number only grows.

use std::path::Path;

use super::recovery::{read_offset_file, write_offset_file};
use super::LogError;

/// Name of the file in the partition directory.
pub const LOG_START_FILE: &str = "log-start-offset";

/// The stored log start offset; `None` when there is none (or it does not parse).
pub fn read(dir: &Path) -> Option<i64> {
    read_offset_file(dir, LOG_START_FILE)
}

/// Stores `offset` atomically (temp file, fsync, rename, fsync the directory).
pub fn write(dir: &Path, offset: i64) -> Result<(), LogError> {
    write_offset_file(dir, LOG_START_FILE, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        write(dir.path(), 42).unwrap();
        assert_eq!(read(dir.path()), Some(42));
        assert!(!dir.path().join("log-start-offset.tmp").exists());
    }
}
