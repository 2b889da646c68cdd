//! The log of one partition: an ordered set of segments plus the active one.
//!
//! Flow: producer → wire → server → `Partition::append` → **partition log**
//! (frame and validate once, assign offsets, roll, write, fsync policy) → segment →
//! … → fetch (`Partition::read` → `read`) → consumer.
//!
//! Its parts, one job each: `append.rs` (append and roll), `retention.rs` (truncation,
//! DeleteRecords, retention), `clean.rs` (compaction passes), `producers.rs` (producer
//! state) and `transactions.rs` (markers, the last stable offset); reads, sync and
//! close are here.
//!
//! Only `topics::Partition` holds a `PartitionLog`; everything else goes through it.
//! `PartitionLog` is `Send + Sync` and internally synchronised; its methods do blocking
//! file I/O, so they are called from `spawn_blocking`.
//!
//! What must stay true:
//! - Offsets are dense and increasing: each batch's base offset is the log end offset
//!   when it is appended, and every segment starts where the one before ends.
//! - Only the last segment (the active one) is written; older ones are immutable,
//!   synced and have trimmed indexes.
//! - `log_start_offset` never goes back; retention never deletes the active segment.
//! - The active segment is always open. After a clean open the sealed ones are only
//!   named until something needs them (`lazy_segment.rs`): every path that reaches a
//!   sealed segment goes through `Inner::segment` (or `LazySegment::get`), which opens it.
//! - While the clean-shutdown marker is in place (`Inner::closed`: after `close`, or
//!   from a clean open), nothing in the directory changes: every change (append,
//!   truncation, DeleteRecords, retention deletion, a cleaning pass) first calls
//!   `open_for_changes`, which removes the marker and syncs the directory.
//!
//! Locking: one `std::sync::Mutex` guards the segments. It is held for the file work
//! of one call (one write, one read of at most `max_bytes`, or for a timestamp lookup
//! a scan of batch headers), never across an `.await` and never during an `fsync` on
//! the append path (group commit syncs outside it). Callers run on tokio's blocking
//! pool, so a long scan delays that partition, not the async workers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::durability::GroupCommit;
use super::lazy_segment::LazySegment;
use super::producer_state::ProducerStateTable;
use super::record;
use super::record_batch::{self, set_base_offset, BatchHeader};
use super::recovery::{self, CLEAN_SHUTDOWN_FILE};
use super::segment::{FileSlice, Segment};
use super::storage;
use super::txn_index::AbortedTxns;
use super::LogError;
use crate::config::LogConfig;
use crate::events::Events;

mod append;
mod clean;
#[cfg(test)]
mod lazy_tests;
mod producers;
mod retention;
#[cfg(test)]
mod tests;
mod transactions;
#[cfg(test)]
mod txn_tests;

pub use clean::CleanReport;

/// Where an append landed, for the response and for the request log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub record_count: i32,
    /// How many batches the appended bytes held (real producers send one).
    pub batch_count: u32,
    /// Base offset of the segment that received the (first) batch.
    pub segment_base: i64,
    /// Byte position of the batch inside that segment's `.log`.
    pub position: u64,
    pub log_start_offset: i64,
    /// The time the broker stamped on the batches (`message.timestamp.type=
    /// LogAppendTime`); -1 with CreateTime. Produce answers it as `log_append_time_ms`.
    /// For a duplicate, the original batch's maxTimestamp, as Kafka answers.
    pub log_append_time: i64,
    /// The batch was a producer's retry of one already written (`producer_state.rs`):
    /// nothing was written, and the offsets are the original's.
    pub duplicate: bool,
}

/// A summary of one segment (`Partition::segments`): which offsets it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size: u64,
    pub index_entries: usize,
    /// The log cleaner has been over it (it lies before the cleaner checkpoint): it
    /// holds the latest record of each key as of that pass, with gaps in its offsets.
    pub cleaned: bool,
}

/// The leader epoch of every partition: one broker, never re-elected, so always 0.
/// [`PartitionLog::append`] writes it into each batch, as a Kafka leader does, and
/// OffsetForLeaderEpoch answers from it.
pub const LEADER_EPOCH: i32 = 0;

/// Writes [`LEADER_EPOCH`] into a batch's `partitionLeaderEpoch` (bytes 12..16). The
/// CRC covers bytes 21.. (attributes onwards), so it stays valid.
fn stamp_leader_epoch(batch: &mut [u8]) {
    if let Some(field) = batch.get_mut(record_batch::PARTITION_LEADER_EPOCH) {
        field.copy_from_slice(&LEADER_EPOCH.to_be_bytes());
    }
}

/// `records` (one or more whole batches) exactly as [`PartitionLog::append`] writes them
/// when they get offsets from `base` on: each batch's base offset and the leader epoch
/// set in its header. `append` patches a copy of each header, so the caller's bytes stay
/// as they were; tests compare what they read back with this.
pub fn as_stored(records: &[u8], base: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len());
    let mut next = base;
    for batch in record_batch::split_batches(records) {
        let start = out.len();
        out.extend_from_slice(batch);
        let stored = &mut out[start..];
        set_base_offset(stored, next);
        stamp_leader_epoch(stored);
        next = BatchHeader::parse(stored).map_or(next, |h| h.last_offset() + 1);
    }
    out
}

/// The partition log. See the module docs.
pub struct PartitionLog {
    dir: PathBuf,
    /// Replaced whole by [`PartitionLog::set_config`] (AlterConfigs on a live topic);
    /// each call reads it once, so it sees one config throughout.
    config: RwLock<Arc<LogConfig>>,
    inner: Mutex<Inner>,
    /// Group commit for `FsyncPolicy::Always`.
    commit: GroupCommit,
    /// Where rolls, retention deletions and truncations are recorded for the
    /// dashboard (the broker's ring, see [`PartitionLog::with_events`]).
    events: Events,
    /// The last append failed for lack of space (ENOSPC): logged once, until an
    /// append succeeds again.
    disk_full: AtomicBool,
    /// An fsync of this log failed. The kernel may have dropped the dirty pages it
    /// could not write and marked them clean, so a later fsync that succeeds proves
    /// nothing about them: appends are refused until a restart, whose recovery checks
    /// the files (Kafka takes the log directory offline; PostgreSQL panics).
    sync_failed: AtomicBool,
}

struct Inner {
    /// The sealed segments, oldest first. After a clean open they are only named until
    /// something needs them ([`Inner::segment`], `lazy_segment.rs`).
    sealed: Vec<LazySegment>,
    /// The segment appends go to, after the sealed ones; always open.
    active: Segment,
    log_start_offset: i64,
    /// Bytes appended since open: the group-commit sequence.
    written: u64,
    /// The clean-shutdown marker is in place: `close` wrote it, or the log was opened
    /// after a clean shutdown and kept it. The files are as a clean close leaves them
    /// (the active segment's indexes trimmed); the first change removes the marker
    /// ([`PartitionLog::open_for_changes`]).
    closed: bool,
    /// Where the log cleaner's last pass stopped (`cleaner-checkpoint`); 0 before any.
    cleaner_checkpoint: i64,
    /// When a tombstone kept by the cleaner may be removed (its earliest delete
    /// horizon), so a pass is due then even if nothing is dirty. After a restart it is
    /// unknown: one pass looks.
    next_horizon: Option<i64>,
    /// The last cleaning pass that changed something.
    last_clean: Option<CleanReport>,
    /// Each producer id's epoch, last batches and open transaction
    /// (`producer_state.rs`; loaded by `partition_log/producers.rs`).
    producers: ProducerStateTable,
    /// The aborted transactions of this partition (`txn_index.rs`).
    aborted: AbortedTxns,
}

impl Inner {
    fn active(&self) -> &Segment {
        &self.active
    }
    fn active_mut(&mut self) -> &mut Segment {
        &mut self.active
    }
    fn log_end_offset(&self) -> i64 {
        self.active.next_offset()
    }
    /// Base offset of the oldest segment.
    fn first_base(&self) -> i64 {
        self.sealed
            .first()
            .map_or(self.active.base_offset(), LazySegment::base_offset)
    }
    /// Which segment's base is the greatest ≤ `offset`, counted oldest first: an index
    /// into `sealed`, or `sealed.len()` for the active segment.
    fn segment_for(&self, offset: i64) -> usize {
        if self.active.base_offset() <= offset {
            return self.sealed.len();
        }
        self.sealed
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1)
    }
    /// The segment at `i` (counted as [`segment_for`](Self::segment_for) counts),
    /// opened first if it was not yet.
    fn segment(&mut self, i: usize, index_interval: u32) -> Result<&mut Segment, LogError> {
        match self.sealed.get_mut(i) {
            Some(sealed) => sealed.get(index_interval),
            None => Ok(&mut self.active),
        }
    }
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `00000000000000000000.log`, for log lines.
fn file_name_of(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
}

fn ms_to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl PartitionLog {
    /// Opens (or creates) the partition directory, running recovery if the
    /// clean-shutdown marker is missing. After a clean shutdown nothing is written: the
    /// marker stays until the first change (see `recovery.rs`).
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog, LogError> {
        let loaded = recovery::load(dir, config.index_interval_bytes, config.max_index_bytes)?;
        let mut active = loaded.active;
        // segment.ms counts from the first batch's timestamp, as Kafka does.
        if let Ok(Some(h)) = active.header_at(0) {
            if h.max_timestamp >= 0 {
                active.created = ms_to_time(h.max_timestamp);
            }
        } else {
            active.created = SystemTime::now();
        }
        // DeleteRecords may have moved the start past the first segment's base.
        let first = loaded
            .sealed
            .first()
            .map_or(active.base_offset(), LazySegment::base_offset);
        let end = active.next_offset();
        let log_start_offset = loaded.log_start.map_or(first, |s| s.clamp(first, end));
        let cleaner_checkpoint = loaded.cleaner_checkpoint;
        let mut inner = Inner {
            sealed: loaded.sealed,
            active,
            log_start_offset,
            written: 0,
            closed: loaded.clean,
            cleaner_checkpoint: cleaner_checkpoint.unwrap_or(0),
            next_horizon: cleaner_checkpoint.map(|_| i64::MIN),
            last_clean: None,
            producers: ProducerStateTable::new(),
            aborted: AbortedTxns::default(),
        };
        inner.aborted = AbortedTxns::load(dir, inner.log_end_offset(), loaded.clean)?;
        PartitionLog::load_producers(dir, &mut inner, config.index_interval_bytes, loaded.clean)?;
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config: RwLock::new(Arc::new(config)),
            inner: Mutex::new(inner),
            commit: GroupCommit::default(),
            events: Events::default(),
            disk_full: AtomicBool::new(false),
            sync_failed: AtomicBool::new(false),
        })
    }

    /// Records this log's rolls, retention deletions and truncations in `events` (the
    /// broker's ring, from `Topics`) instead of a ring of its own that nobody reads.
    pub fn with_events(mut self, events: Events) -> PartitionLog {
        self.events = events;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied state worse than
        // a crash, which recovery handles; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The settings in force now (a snapshot: a later `set_config` does not change it).
    pub fn config(&self) -> Arc<LogConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings (AlterConfigs on a live topic). The next append, roll and
    /// retention check use them; segments already written keep their index sizes.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    /// Before any change to the directory (append, truncation, DeleteRecords,
    /// retention, a cleaner swap) while the clean-shutdown marker is in place: removes
    /// the marker and syncs the directory, so a crash from here on means recovery on
    /// the next open, and preallocates the active segment's indexes for appends.
    /// Nothing when the marker is already gone.
    fn open_for_changes(&self, inner: &mut Inner) -> Result<(), LogError> {
        if !inner.closed {
            return Ok(());
        }
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        match std::fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(marker, e)),
        }
        recovery::sync_dir(&self.dir).map_err(|e| LogError::io(&self.dir, e))?;
        inner
            .active_mut()
            .preallocate_indexes(self.config().max_index_bytes)?;
        inner.closed = false;
        Ok(())
    }

    /// Whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (but always at least one whole batch when `offset < log_end_offset`).
    /// `offset == log_end_offset` gives an empty vector; outside
    /// `[log_start_offset, log_end_offset]` gives `LogError::OffsetOutOfRange`.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        match self.slice(offset, max_bytes)? {
            Some(slice) => slice.read(),
            None => Ok(Vec::new()),
        }
    }

    /// The batches [`read`](Self::read) would return, as a range of one segment file
    /// (`None` at the log end): Fetch sends them from the page cache without copying.
    pub fn slice(&self, offset: i64, max_bytes: usize) -> Result<Option<FileSlice>, LogError> {
        let mut inner = self.lock();
        let (log_start, log_end) = (inner.log_start_offset, inner.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        let interval = self.config().index_interval_bytes;
        for i in inner.segment_for(offset)..=inner.sealed.len() {
            let seg = inner.segment(i, interval)?;
            if let Some((pos, h)) = seg.find(offset)? {
                let slice = seg.slice(pos, max_bytes)?;
                if self.config().explain {
                    self.explain_read(seg, offset, pos, &h, slice.len);
                }
                return Ok(Some(slice));
            }
        }
        Ok(None)
    }

    /// The explain line of one read (explain mode only).
    fn explain_read(&self, seg: &Segment, offset: i64, pos: u64, h: &BatchHeader, len: usize) {
        let rel = (offset - seg.base_offset()).clamp(0, i64::from(u32::MAX)) as u32;
        let start = match seg.index().lookup(rel) {
            Some(e) => format!("index entry (rel {} → {})", e.relative_offset, e.position),
            None => "the start of the segment (no index entry at or below it)".to_string(),
        };
        crate::explain::line(
            "log/partition_log.rs PartitionLog::slice",
            format_args!(
                "{} offset {offset}: segment {}, scanned batch headers from {start} to the batch at position {pos} ({}); {len} bytes of whole batches read",
                crate::explain::partition_name(&self.dir),
                file_name_of(seg.path()),
                crate::explain::offsets(h.base_offset, h.last_offset()),
            ),
        );
    }

    pub fn log_start_offset(&self) -> i64 {
        self.lock().log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock().log_end_offset()
    }

    /// One summary per segment, oldest first. Sealed segments not opened yet are
    /// opened (a segment that cannot be is left out, with a warning).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let mut inner = self.lock();
        let interval = self.config().index_interval_bytes;
        let (sealed, checkpoint) = (inner.sealed.len(), inner.cleaner_checkpoint);
        let mut out = Vec::with_capacity(sealed + 1);
        for i in 0..=sealed {
            match inner.segment(i, interval) {
                Ok(s) => out.push(SegmentInfo {
                    base_offset: s.base_offset(),
                    next_offset: s.next_offset(),
                    size: s.size(),
                    index_entries: s.index().len(),
                    cleaned: i < sealed && s.base_offset() < checkpoint,
                }),
                Err(e) => tracing::warn!("{}: {e}", self.dir.display()),
            }
        }
        out
    }

    /// Total bytes of all segments (a sealed segment not opened yet stays so: its
    /// size is one `stat`; one that cannot be read counts 0, with a warning).
    pub fn size(&self) -> u64 {
        let inner = self.lock();
        let sealed: u64 = inner
            .sealed
            .iter()
            .map(|s| {
                s.size().unwrap_or_else(|e| {
                    tracing::warn!("{e}");
                    0
                })
            })
            .sum();
        sealed + inner.active.size()
    }

    /// ListOffsets by timestamp: the first offset at or above the log start offset
    /// whose record timestamp is >= `ts`, with that timestamp; `None` when no such
    /// record is that new. As Kafka (`LogSegment.findOffsetByTimestamp` from the log
    /// start): the segments from the one holding the log start on; segments whose
    /// largest timestamp is older are skipped; in the first that is not, the time index
    /// says where to start (`Segment::find_timestamp`), and each batch that reaches `ts`
    /// is read until a record does (a batch's records below the log start do not count).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let mut inner = self.lock();
        let interval = self.config().index_interval_bytes;
        let start = inner.log_start_offset;
        for i in inner.segment_for(start)..=inner.sealed.len() {
            let seg = inner.segment(i, interval)?;
            let mut from = None;
            while let Some((pos, h)) = seg.find_timestamp(ts, start, from)? {
                let bytes = seg.read(pos, h.total_len())?;
                let hit = record::records(&bytes)?
                    .into_iter()
                    .find(|r| r.timestamp >= ts && r.offset >= start);
                if let Some(r) = hit {
                    return Ok(Some((r.offset, r.timestamp)));
                }
                from = Some(pos + h.total_len() as u64);
            }
        }
        Ok(None)
    }

    /// ListOffsets' MAX_TIMESTAMP (-3): the offset and timestamp of the record with the
    /// largest timestamp, the first one if several share it, as Kafka answers;
    /// `None` on an empty log. As Kafka: the first segment with the largest max
    /// timestamp (each segment knows its own, from its time index or one header scan),
    /// then in it the first batch reaching that timestamp (`Segment::find_timestamp`,
    /// through the time index), whose records are read to find the record.
    pub fn offset_of_max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut inner = self.lock();
        let interval = self.config().index_interval_bytes;
        let mut best: Option<(usize, i64)> = None;
        for i in 0..=inner.sealed.len() {
            let ts = inner.segment(i, interval)?.max_timestamp()?;
            if ts >= 0 && best.is_none_or(|(_, max)| ts > max) {
                best = Some((i, ts));
            }
        }
        let Some((i, max)) = best else {
            return Ok(None);
        };
        let seg = inner.segment(i, interval)?;
        let Some((pos, h)) = seg.find_timestamp(max, i64::MIN, None)? else {
            return Ok(None);
        };
        let bytes = seg.read(pos, h.total_len())?;
        let hit = record::records(&bytes)?
            .into_iter()
            .find(|r| r.timestamp == max);
        Ok(hit.map(|r| (r.offset, r.timestamp)))
    }

    /// `sync_data` on the active segment and its index. The `.log` sync runs outside
    /// the partition lock, so appends continue meanwhile.
    pub fn sync(&self) -> Result<(), LogError> {
        let (file, path, covered) = {
            let inner = self.lock();
            let a = inner.active();
            a.index().flush()?;
            (a.file().clone(), a.path().to_path_buf(), inner.written)
        };
        let before = self.commit.synced();
        storage::sync_data(&file, &path).map_err(|e| self.sync_failed(LogError::io(&path, e)))?;
        self.commit.mark_synced(covered);
        // A periodic sync with nothing new to write is not worth a line.
        if self.config().explain && covered > before {
            self.explain_fsync("PartitionLog::sync", &path, covered);
        }
        Ok(())
    }

    /// Syncs, trims the index, and writes the clean-shutdown marker.
    pub fn close(&self) -> Result<(), LogError> {
        let mut inner = self.lock();
        if inner.closed {
            return Ok(());
        }
        let active = inner.active_mut();
        active.seal()?;
        active.sync().map_err(|e| self.sync_failed(e))?;
        // The next start loads this instead of replaying the active segment.
        self.snapshot_producers(&inner);
        if self.sync_failed.load(Ordering::Relaxed) {
            // No marker: the next open runs the full recovery over the files an
            // earlier failed fsync may have left short.
            tracing::warn!(
                "{}: closed without the clean-shutdown marker (an fsync failed earlier): \
                 the next start checks every batch from the recovery point",
                self.dir.display()
            );
            return Ok(());
        }
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        std::fs::File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(|e| LogError::io(&marker, e))?;
        recovery::sync_dir(&self.dir).map_err(|e| LogError::io(&self.dir, e))?;
        self.commit.mark_synced(inner.written);
        inner.closed = true;
        Ok(())
    }
}

/// `PartitionLog` is shared as `Arc<PartitionLog>` across threads: keep it Send + Sync.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PartitionLog>();
};
