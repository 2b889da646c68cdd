//! A sealed segment that is opened when something first needs it.
//!
//! Flow: broker start → `PartitionLog::open` → `recovery::load`, which after a clean
//! shutdown only *names* the sealed segments (from one listing of the directory) →
//! … → the first fetch below the active segment, ListOffsets by timestamp, retention
//! check, DeleteRecords, truncation or cleaning pass that needs one →
//! **[`LazySegment::get`]** → `recovery::open_sealed` opens its `.log`, reads its two
//! indexes and checks them against the log, as a clean open always did.
//!
//! Kafka does the same one level down: each segment's indexes are a `LazyIndex`,
//! mapped on first use, and a clean start runs no recovery. Here a whole sealed
//! segment waits: a start-up with many partitions opens only their active segments.
//!
//! What must stay true:
//! - Only sealed segments are ever unopened. The active segment is always open (it is
//!   a separate field of the partition log, not a `LazySegment`).
//! - An unopened segment is exactly as a clean close left it: sealed, synced, its
//!   indexes trimmed. Opening it writes nothing, unless its indexes disagree with its
//!   log: then both are rebuilt from a scan, as after a crash (`recovery::open_sealed`).
//! - Deleting an unopened segment (retention, DeleteRecords, truncation, a cleaner
//!   swap) removes its three files by name, without opening them.

use std::path::{Path, PathBuf};

use super::recovery;
use super::segment::{self, Segment};
use super::LogError;

/// A sealed segment, open or only named. See the module docs.
#[derive(Debug)]
pub enum LazySegment {
    /// Boxed: an open segment is ten times the size of a name.
    Open(Box<Segment>),
    /// Known from the directory listing only: `<base_offset:020>.log` in `dir`.
    Unopened { dir: PathBuf, base_offset: i64 },
}

impl LazySegment {
    pub fn base_offset(&self) -> i64 {
        match self {
            LazySegment::Open(seg) => seg.base_offset(),
            LazySegment::Unopened { base_offset, .. } => *base_offset,
        }
    }

    /// The segment, opened first if it was not yet (`index_interval`: the one rule for
    /// index entries, used if its indexes must be rebuilt).
    pub fn get(&mut self, index_interval: u32) -> Result<&mut Segment, LogError> {
        if let LazySegment::Unopened { dir, base_offset } = self {
            let seg = recovery::open_sealed(dir, *base_offset, index_interval)?;
            *self = LazySegment::Open(Box::new(seg));
        }
        match self {
            LazySegment::Open(seg) => Ok(seg),
            // Just replaced above.
            LazySegment::Unopened { dir, base_offset } => Err(LogError::Corrupt {
                path: dir.join(segment::file_name(*base_offset, "log")),
                reason: "the segment could not be opened".into(),
            }),
        }
    }

    /// The segment itself, opened first if it was not yet.
    pub fn into_open(self, index_interval: u32) -> Result<Segment, LogError> {
        match self {
            LazySegment::Open(seg) => Ok(*seg),
            LazySegment::Unopened { dir, base_offset } => {
                recovery::open_sealed(&dir, base_offset, index_interval)
            }
        }
    }

    /// A segment just opened, rolled or cleaned.
    pub fn open(seg: Segment) -> LazySegment {
        LazySegment::Open(Box::new(seg))
    }

    /// The segment, if it is open.
    pub fn as_open(&self) -> Option<&Segment> {
        match self {
            LazySegment::Open(seg) => Some(seg),
            LazySegment::Unopened { .. } => None,
        }
    }

    /// The `.log` file's path.
    pub fn path(&self) -> PathBuf {
        match self {
            LazySegment::Open(seg) => seg.path().to_path_buf(),
            LazySegment::Unopened { dir, base_offset } => {
                dir.join(segment::file_name(*base_offset, "log"))
            }
        }
    }

    /// Bytes in its `.log`: from the open segment, or one `stat` of the file (the
    /// segment stays unopened: `retention.bytes` needs only the sizes).
    pub fn size(&self) -> Result<u64, LogError> {
        match self {
            LazySegment::Open(seg) => Ok(seg.size()),
            LazySegment::Unopened { .. } => {
                let path = self.path();
                Ok(std::fs::metadata(&path)
                    .map_err(|e| LogError::io(&path, e))?
                    .len())
            }
        }
    }

    /// Deletes its three files (retention, truncation, a cleaner swap).
    pub fn delete(self) -> Result<(), LogError> {
        match self {
            LazySegment::Open(seg) => seg.delete(),
            LazySegment::Unopened { dir, base_offset } => delete_files(&dir, base_offset),
        }
    }
}

/// Removes `<base>.index`, `<base>.timeindex` and `<base>.log`, in that order (the
/// order `Segment::delete` uses: a `.log` is never left without the chance to rebuild
/// its indexes). A file already gone is fine.
fn delete_files(dir: &Path, base_offset: i64) -> Result<(), LogError> {
    for ext in ["index", "timeindex", "log"] {
        let path = dir.join(segment::file_name(base_offset, ext));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&path, e)),
        }
    }
    Ok(())
}
