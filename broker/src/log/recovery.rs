//! Recovery on open: find the segments, check them, cut a torn tail, rebuild indexes
//! (the offset index and the time index, together).
//!
//! Flow: broker start → topics → `PartitionLog::open` → **recovery::load** → segments
//! ready for appends and fetches.
//!
//! # Files in a partition directory besides the segments
//!
//! | file             | contents                                                     |
//! |------------------|--------------------------------------------------------------|
//! | `clean-shutdown` | empty; written by `close`; kept on a clean open, removed (and the removal synced) before the log's first change |
//! | `recovery-point` | ASCII decimal offset + `\n`: every segment whose base offset is below it was synced whole (written on roll and truncate, temp file + fsync + rename) |
//!
//! What happens on open:
//! - **Clean** (marker present): no scan, and only the active segment is opened now;
//!   each sealed one is opened when first needed (`lazy_segment.rs`, [`open_sealed`]),
//!   as Kafka loads its indexes lazily. Opening a segment checks it the same way, now
//!   or later: each index's last entry must point at a batch with that offset; the
//!   headers after it are walked to the end offset, else rescan. A segment with
//!   records but an empty time index (a data dir from before time indexes) is
//!   rescanned too, which builds it. If the active segment fails this check, the open
//!   takes the full path below (every segment opened and checked).
//! - **Unclean**: from the segment holding the recovery point on, every batch is checked
//!   (`check_frame` plus increasing offsets) and the file cut at the first bad byte. The
//!   scan reads the `.log` through a read-only map (the only `unsafe` here, see
//!   `map_log`), so the CRC-32C runs over the page cache with no copy.
//! - **Either way, first**: the leftovers of a cleaning pass a crash interrupted are
//!   undone or finished (`cleaner/swap.rs: recover`).
//!
//! What must stay true:
//! - Offsets increase: dense as appended, with gaps where the log cleaner removed
//!   records. A segment that starts before the one before it ends, and every segment
//!   after a cut, is deleted.
//! - While the marker is there, the files are exactly as the clean close left them:
//!   nothing in the directory changes until the marker's removal is synced
//!   (`PartitionLog::open_for_changes`, before the first append, truncation,
//!   deletion or swap). So a crash after a change always means the unclean path on the
//!   next open, and a crash before any change finds a log that needs no recovery. (An
//!   open that had to cut or rebuild something removes the marker itself, once every
//!   segment has loaded.) Kafka keeps one such marker per log directory; minikafka's
//!   is per partition, so a partition nobody writes to costs no `fsync` on open.
//! - At least one segment comes back; only the last (active) one may have a
//!   preallocated index, and after a clean open not even it, until the first change.
//! - One listing of the directory ([`list`]) says which files exist: nothing is opened
//!   or `stat`ed to find out.
//! - A missing or unreadable recovery point means "scan everything", never "scan nothing".

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::index::IndexEntry;
use memmap2::{Advice, Mmap, MmapOptions};

use super::lazy_segment::LazySegment;
use super::record_batch::{check_frame, frames, BatchError, BatchHeader};
use super::segment::{due_entries, max_with, parse_file_name, Segment};
use super::time_index::TimeEntry;
use super::LogError;

/// Name of the clean-shutdown marker in a partition directory.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";
/// Name of the recovery-point file in a partition directory.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";

/// Where and why a scan stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub position: u64,
    pub reason: String,
}

/// What a full scan of one `.log` found.
#[derive(Debug, Clone, Default)]
pub struct ScanOutcome {
    /// End of the last valid batch: the file is cut here.
    pub valid_bytes: u64,
    /// Offset after the last valid record.
    pub next_offset: i64,
    pub batches: u64,
    pub records: u64,
    /// The index entries the valid batches call for.
    pub entries: Vec<IndexEntry>,
    /// The time-index entries they call for.
    pub time_entries: Vec<TimeEntry>,
    /// The largest timestamp, with the last offset of its batch (`None`: no batch).
    pub max: Option<(i64, i64)>,
    pub cut: Option<Cut>,
}

/// Scans `file` from the start, checking every batch (length, magic, CRC-32C, record
/// count, offsets increasing from `base_offset`: a compacted segment has gaps), and computes the entries of both
/// indexes for `index_interval` bytes (`segment.rs: due_entries`, as on append). Stops
/// at the first bad byte.
///
/// The first `size` bytes of the file are mapped read-only ([`map_log`]) and framed in
/// place with `record_batch::frames`, the one framing rule, so the CRC runs over the
/// page cache itself: no copy, no buffer per batch.
pub fn scan(
    file: &File,
    path: &Path,
    size: u64,
    base_offset: i64,
    index_interval: u32,
) -> Result<ScanOutcome, LogError> {
    let mut out = ScanOutcome {
        next_offset: base_offset,
        ..ScanOutcome::default()
    };
    let map = map_log(file, path, size)?;
    let buf: &[u8] = map.as_deref().unwrap_or(&[]);
    for frame in frames(buf) {
        let range = match frame {
            Ok(range) => range,
            Err(torn) => {
                out.cut = Some(Cut {
                    position: torn.position as u64,
                    reason: torn.error.to_string(),
                });
                break;
            }
        };
        let position = range.start as u64;
        let bytes = &buf[range];
        let h = match check_frame(bytes) {
            Ok(h) => h,
            Err(e) => {
                out.cut = Some(Cut {
                    position,
                    reason: e.to_string(),
                });
                break;
            }
        };
        // Increasing, not dense: the log cleaner leaves gaps (`cleaner.rs`).
        if h.base_offset < out.next_offset {
            out.cut = Some(Cut {
                position,
                reason: BatchError::InvalidRecords(format!(
                    "batch base offset {} does not follow offset {}",
                    h.base_offset,
                    out.next_offset - 1
                ))
                .to_string(),
            });
            break;
        }
        // Both indexes store offsets relative to the segment's base as u32: a batch
        // whose offsets do not fit cannot be indexed (Kafka's
        // `LogSegmentOffsetOverflowException`), so it is damage, and the cut is here.
        if !fits_segment(base_offset, &h) {
            out.cut = Some(Cut {
                position,
                reason: BatchError::InvalidRecords(format!(
                    "batch offsets {}..+{} do not fit segment {base_offset} (relative offsets are u32)",
                    h.base_offset, h.last_offset_delta
                ))
                .to_string(),
            });
            break;
        }
        let max = max_with(out.max, &h);
        let last = (
            out.entries.last().copied(),
            out.time_entries.last().copied(),
        );
        let (entry, time) = due_entries(base_offset, position, &h, last, max, index_interval);
        out.entries.extend(entry);
        out.time_entries.extend(time);
        out.max = max;
        out.valid_bytes = position + bytes.len() as u64;
        out.next_offset = h.last_offset() + 1;
        out.batches += 1;
        out.records += h.record_count as u64;
    }
    Ok(out)
}

/// Whether every offset of batch `h` fits a segment based at `segment_base`: no
/// overflow past `i64::MAX`, and each offset's distance from the base fits the u32
/// relative offset of the `.index` and `.timeindex` entries.
pub fn fits_segment(segment_base: i64, h: &BatchHeader) -> bool {
    h.base_offset >= segment_base
        && h.last_offset_delta >= 0
        && h.base_offset
            .checked_add(i64::from(h.last_offset_delta))
            .is_some_and(|last| last - segment_base <= i64::from(u32::MAX))
}

/// The first `size` bytes of a `.log`, mapped read-only for [`scan`] (`None` when
/// `size` is 0: an empty map is not allowed).
#[allow(unsafe_code)]
fn map_log(file: &File, path: &Path, size: u64) -> Result<Option<Mmap>, LogError> {
    if size == 0 {
        return Ok(None);
    }
    let len = usize::try_from(size).map_err(|_| LogError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{size} bytes do not fit in memory"),
    })?;
    // SAFETY: the segment file is private to this broker's data directory (which the
    // broker locks, see `topics/lock.rs`), `size` is its length when it was opened, and
    // nothing writes or truncates it while recovery runs: the partition log is still
    // being opened, so no append, truncation or retention can reach it. The map is
    // read-only and dropped before `scan` returns, before any cut (`Segment::truncate`).
    let map =
        unsafe { MmapOptions::new().len(len).map(file) }.map_err(|e| LogError::io(path, e))?;
    // Read once, front to back: let the kernel read ahead and drop behind.
    let _ = map.advise(Advice::Sequential);
    Ok(Some(map))
}

/// Full scan of one segment: cut its torn tail and rebuild its index. Returns the cut.
pub fn recover_segment(seg: &mut Segment, index_interval: u32) -> Result<Option<Cut>, LogError> {
    let out = scan(
        seg.file(),
        seg.path(),
        seg.size(),
        seg.base_offset(),
        index_interval,
    )?;
    if let Some(cut) = &out.cut {
        tracing::warn!(
            "recovery: cutting {} at byte {} ({} bytes dropped, keeping {} batches up to offset {}): {}",
            seg.path().display(),
            cut.position,
            seg.size() - cut.position,
            out.batches,
            out.next_offset - 1,
            cut.reason
        );
        seg.truncate(out.valid_bytes, out.next_offset)?;
    }
    let empty = (-1, seg.base_offset() - 1);
    seg.set_loaded(
        out.valid_bytes,
        out.next_offset,
        Some(out.max.unwrap_or(empty)),
    );
    seg.index.reset(&out.entries)?;
    seg.time_index.reset(&out.time_entries)?;
    Ok(out.cut)
}

/// The clean-open check of the module docs. `Ok(false)` means "rescan this segment".
fn quick_load(seg: &mut Segment, index_interval: u32) -> Result<bool, LogError> {
    let base = seg.base_offset();
    let (mut pos, mut expected) = match seg.index.last() {
        Some(e) => (u64::from(e.position), base + i64::from(e.relative_offset)),
        None => (0, base),
    };
    let entry_pos = pos;
    let has_entry = seg.index.last().is_some();
    if seg.size() > 0 && seg.time_index.is_empty() {
        // No time index yet (a data dir from before them, or it was lost): build it.
        // (Records without timestamps give none either; those segments are rescanned.)
        return Ok(false);
    }
    loop {
        if pos == seg.size() {
            if has_entry && pos == entry_pos {
                return Ok(false); // the last entry points past the last batch
            }
            // Sealed on roll or clean close: the time index's last entry is the max.
            let max = seg
                .time_index
                .last()
                .map(|t| (t.timestamp, base + i64::from(t.relative_offset)));
            if max.is_some_and(|(_, offset)| offset >= expected) {
                return Ok(false); // the time index points past the log
            }
            seg.set_loaded(pos, expected, max);
            return Ok(true);
        }
        if pos - entry_pos > u64::from(index_interval) {
            return Ok(false); // an entry is missing: the index is short
        }
        match seg.header_at(pos) {
            Ok(Some(h)) if h.base_offset >= expected && h.magic == 2 && fits_segment(base, &h) => {
                pos += h.total_len() as u64;
                expected = h.last_offset() + 1;
            }
            Ok(_) | Err(LogError::Corrupt { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Reads the recovery point; `None` when missing or unreadable (scan everything).
fn read_recovery_point(dir: &Path) -> Option<i64> {
    read_offset_file(dir, RECOVERY_POINT_FILE)
}

/// Writes the recovery point atomically (temp file, fsync, rename, fsync dir).
pub fn write_recovery_point(dir: &Path, offset: i64) -> Result<(), LogError> {
    write_offset_file(dir, RECOVERY_POINT_FILE, offset)
}

/// Reads a one-offset file of the partition directory (`recovery-point`,
/// `log-start-offset`): one line, the offset in decimal. `None` when missing or
/// unreadable.
pub fn read_offset_file(dir: &Path, name: &str) -> Option<i64> {
    std::fs::read_to_string(dir.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Replaces a one-offset file atomically: `<name>.tmp`, fsync, rename, fsync the
/// directory, so a crash leaves the old number or the new one.
pub fn write_offset_file(dir: &Path, name: &str, offset: i64) -> Result<(), LogError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{offset}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    };
    write().map_err(|e| LogError::io(&tmp, e))
}

pub use super::segment::sync_dir;

/// Base offsets of the `.log` files in `dir`, sorted. Other files are left alone.
pub fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    Ok(list(dir)?.bases)
}

/// What one listing of a partition directory says, so that `load` reads no file it
/// does not need and asks the file system about no file one by one.
#[derive(Debug, Default)]
pub struct Listing {
    /// Base offsets of the `.log` files, sorted.
    pub bases: Vec<i64>,
    /// The `clean-shutdown` marker is there.
    pub clean: bool,
    /// `log-start-offset` is there (`log_start.rs`).
    pub log_start: bool,
    /// `cleaner-checkpoint` is there (`cleaner.rs`).
    pub cleaner_checkpoint: bool,
    /// A cleaning pass left a `.cleaned` file or a swap (`cleaner/swap.rs`).
    pub cleaning_leftovers: bool,
}

/// Lists `dir` once (one `getdents` pass, no `stat` per file).
pub fn list(dir: &Path) -> Result<Listing, LogError> {
    let mut out = Listing::default();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match name {
            CLEAN_SHUTDOWN_FILE => out.clean = true,
            super::log_start::LOG_START_FILE => out.log_start = true,
            super::cleaner::CHECKPOINT_FILE => out.cleaner_checkpoint = true,
            _ if super::cleaner::swap::is_leftover(name) => out.cleaning_leftovers = true,
            _ => out.bases.extend(parse_file_name(name, "log")),
        }
    }
    out.bases.sort_unstable();
    Ok(out)
}

/// What [`load`] opened and found.
#[derive(Debug)]
pub struct Loaded {
    /// The sealed segments in offset order. After a clean shutdown they are only
    /// named, and opened when first needed (`lazy_segment.rs`).
    pub sealed: Vec<LazySegment>,
    /// The last segment, the one appends go to: always opened and checked.
    pub active: Segment,
    /// The clean-shutdown marker was there and nothing had to be changed: the marker
    /// stays, the files are exactly as the clean close left them, and the active
    /// segment's indexes are still trimmed. The log's first change removes the marker
    /// and preallocates them (`PartitionLog::open_for_changes`).
    pub clean: bool,
    /// `log-start-offset`, when the directory has one.
    pub log_start: Option<i64>,
    /// `cleaner-checkpoint`, when the directory has one.
    pub cleaner_checkpoint: Option<i64>,
}

/// Opens the segments of a partition directory (creating the directory if needed),
/// recovering as the module docs say. After a clean shutdown only the active segment
/// is opened and checked, and the marker is kept ([`Loaded::clean`]); otherwise (or
/// when something had to be cut or rebuilt) every segment is opened, the marker is
/// gone, and the active segment's indexes are preallocated to `max_index_bytes`.
pub fn load(dir: &Path, index_interval: u32, max_index_bytes: u32) -> Result<Loaded, LogError> {
    let mut listing = match list(dir) {
        Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
            Listing::default()
        }
        listing => listing?,
    };
    if listing.cleaning_leftovers {
        // A crash during a cleaning pass: undo it or finish it, before anything is read.
        super::cleaner::swap::recover(dir)?;
        listing = list(dir)?;
    }
    let clean = listing.clean;
    let log_start = listing
        .log_start
        .then(|| super::log_start::read(dir))
        .flatten();
    let cleaner_checkpoint = listing
        .cleaner_checkpoint
        .then(|| read_offset_file(dir, super::cleaner::CHECKPOINT_FILE))
        .flatten();
    if let (true, Some((&last, older))) = (clean, listing.bases.split_last()) {
        // Kafka's clean start: no recovery, and the sealed segments wait until
        // something needs them (`lazy_segment.rs`). The active one is checked now: its
        // end is the log end offset.
        let mut active = Segment::open(dir, last, index_interval, None)?;
        if quick_load(&mut active, index_interval)? {
            let sealed = older
                .iter()
                .map(|&base_offset| LazySegment::Unopened {
                    dir: dir.to_path_buf(),
                    base_offset,
                })
                .collect();
            return Ok(Loaded {
                sealed,
                active,
                clean: true,
                log_start,
                cleaner_checkpoint,
            });
        }
        // Its index disagrees with its log: the whole directory takes the path below.
    }
    let recovery_point = if clean {
        i64::MAX
    } else {
        read_recovery_point(dir).unwrap_or(i64::MIN)
    };
    let bases = listing.bases;
    if !clean && !bases.is_empty() {
        tracing::warn!(
            "{}: no clean-shutdown marker; scanning segments from offset {}",
            dir.display(),
            recovery_point.max(0)
        );
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut cut_here = false;
    // Here after a clean shutdown only when the directory had no segment or the
    // active one failed its check: either way something is written, so the marker goes.
    for (i, &base) in bases.iter().enumerate() {
        if cut_here {
            tracing::warn!(
                "recovery: deleting segment {} of {}: an earlier segment was cut",
                base,
                dir.display()
            );
            Segment::open(dir, base, index_interval, None)?.delete()?;
            continue;
        }
        let mut seg = Segment::open(dir, base, index_interval, None)?;
        if let Some(prev) = segments.last() {
            // A gap between segments is fine (compaction), an overlap is not.
            if prev.next_offset() > base {
                tracing::warn!(
                    "recovery: deleting segment {} of {} and later ones: it should start at offset {} or later",
                    base,
                    dir.display(),
                    prev.next_offset()
                );
                seg.delete()?;
                cut_here = true;
                continue;
            }
        }
        // The segment holding the recovery point and every later one are scanned.
        let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
        let must_scan = next_base > recovery_point;
        if must_scan || !quick_load(&mut seg, index_interval)? {
            if !must_scan {
                tracing::warn!(
                    "{}: an index disagrees with the log (or the time index is missing); rebuilding both",
                    seg.index().path().display()
                );
            }
            cut_here = recover_segment(&mut seg, index_interval)?.is_some();
        }
        segments.push(seg);
    }
    if segments.is_empty() {
        segments.push(Segment::open(dir, 0, index_interval, None)?);
    }
    // Older segments are sealed: exactly their entries (a crash can leave one
    // preallocated), and the time index's last entry for their largest timestamp. The
    // active one is preallocated again.
    let last = segments.len() - 1;
    for seg in &mut segments[..last] {
        seg.seal()?;
    }
    match segments[last].preallocate_indexes(max_index_bytes) {
        // On a full disk the log still opens and serves reads: the active segment's
        // indexes stay as long as they are (full), so the first append tries a roll,
        // which fails with ENOSPC until space is freed.
        Err(e) if e.is_no_space() => tracing::warn!(
            "{}: cannot preallocate the active segment's indexes, the disk is full: {e}",
            dir.display()
        ),
        other => other?,
    }
    if clean {
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        std::fs::remove_file(&marker).map_err(|e| LogError::io(&marker, e))?;
        sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    }
    let active = segments.remove(last);
    Ok(Loaded {
        sealed: segments.into_iter().map(LazySegment::open).collect(),
        active,
        clean: false,
        log_start,
        cleaner_checkpoint,
    })
}

/// Opens a sealed segment of a cleanly closed log when it is first needed
/// (`lazy_segment.rs`), with the check a clean open makes ([`quick_load`]). If its
/// indexes disagree with its log, both are rebuilt from a scan (which cuts a damaged
/// tail, as recovery would), trimmed and synced: a repair the next open would make
/// again, so the clean-shutdown marker may stay.
pub fn open_sealed(dir: &Path, base_offset: i64, index_interval: u32) -> Result<Segment, LogError> {
    let mut seg = Segment::open(dir, base_offset, index_interval, None)?;
    if !quick_load(&mut seg, index_interval)? {
        tracing::warn!(
            "{}: an index disagrees with the log (or the time index is missing); rebuilding both",
            seg.index().path().display()
        );
        recover_segment(&mut seg, index_interval)?;
        seg.seal()?;
        seg.sync()?;
    }
    Ok(seg)
}
