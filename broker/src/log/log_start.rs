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

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::recovery::sync_dir;
use super::LogError;

/// Name of the file in the partition directory.
pub const LOG_START_FILE: &str = "log-start-offset";

/// The stored log start offset; `None` when there is none (or it does not parse).
pub fn read(dir: &Path) -> Option<i64> {
    std::fs::read_to_string(dir.join(LOG_START_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Stores `offset` atomically (temp file, fsync, rename, fsync the directory).
pub fn write(dir: &Path, offset: i64) -> Result<(), LogError> {
    let tmp = dir.join(format!("{LOG_START_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{offset}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(LOG_START_FILE))?;
        sync_dir(dir)
    };
    write().map_err(|e| LogError::io(&tmp, e))
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
