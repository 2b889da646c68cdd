//! One segment: the `<base offset:020>.log` file of whole batches, plus its two indexes.
//!
//! Flow: partition log → **segment append** (one positional write of the batch bytes;
//! every `index.interval.bytes`, an offset-index entry and, when the largest timestamp
//! grew, a time-index entry) → page cache → disk on `sync`. Fetch reads back whole
//! batches from a position the offset index gives; ListOffsets by time starts where the
//! time index says.
//!
//! # Files of a segment whose first offset is 1234
//!
//! | file                              | contents                                    |
//! |-----------------------------------|---------------------------------------------|
//! | `00000000000000001234.log`        | v2 batches back to back, nothing else (see `record_batch`) |
//! | `00000000000000001234.index`      | 8-byte entries: offset → position (see `index`) |
//! | `00000000000000001234.timeindex`  | 12-byte entries: timestamp → offset (see `time_index`) |
//!
//! What must stay true: `size` is the end of the last whole batch, `next_offset` is the
//! offset after its last record, and positions fit in u32 (segments stay < 4 GiB).
//! [`due_entries`] is the one rule for new index entries, on append and in recovery.
//! A segment that stops being active ([`Segment::seal`]: roll, clean close) gets a last
//! time-index entry for its largest timestamp. `sync` calls `sync_data`; a `flush` on a
//! `File` would do nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::index::{IndexEntry, OffsetIndex};
use super::record_batch::{frame_len, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use super::storage;
use super::time_index::{TimeEntry, TimeIndex};
use super::LogError;

/// `<base:020>.<ext>`: zero-padded so the names sort as the offsets do.
pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// fsync of a directory, so creates, renames and removes in it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The base offset in a segment file name (`00000000000000001234.log` → 1234).
pub fn parse_file_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The index entries due for the batch `h` at `position`, given the indexes' last
/// entries and the segment's largest timestamp so far *with this batch counted*
/// (`max`: timestamp, and the last offset of the batch holding it). Both entries are
/// due at the same moments (`index.interval.bytes`, `IndexEntry::due`); the time entry
/// only if the largest timestamp grew (`TimeEntry::due`). Kafka's `LogSegment.append`.
pub fn due_entries(
    segment_base: i64,
    position: u64,
    h: &BatchHeader,
    last: (Option<IndexEntry>, Option<TimeEntry>),
    max: Option<(i64, i64)>,
    interval: u32,
) -> (Option<IndexEntry>, Option<TimeEntry>) {
    let last_position = last.0.map_or(0, |e| u64::from(e.position));
    let Some(entry) = IndexEntry::due(
        segment_base,
        h.base_offset,
        position,
        last_position,
        interval,
    ) else {
        return (None, None);
    };
    let time = max.and_then(|(ts, offset)| TimeEntry::due(segment_base, ts, offset, last.1));
    (Some(entry), time)
}

/// The largest timestamp of `(so_far, batch)`, with the last offset of its batch.
pub fn max_with(so_far: Option<(i64, i64)>, h: &BatchHeader) -> Option<(i64, i64)> {
    match so_far {
        Some((ts, _)) if ts >= h.max_timestamp => so_far,
        _ => Some((h.max_timestamp, h.last_offset())),
    }
}

/// One `.log` file and its indexes. Not synchronised: the partition log's mutex guards it.
pub struct Segment {
    base_offset: i64,
    path: PathBuf,
    /// Shared so a group-commit sync can run without the partition lock.
    file: Arc<File>,
    size: u64,
    /// Offset after the last record; `base_offset` when empty.
    pub(crate) next_offset: i64,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    index_interval: u32,
    /// Largest batch maxTimestamp, with the last offset of its batch; `None` until known
    /// (a segment opened from disk learns it from its time index, a scan, or
    /// recovery). An empty segment's is `Some((-1, base - 1))`.
    max: Option<(i64, i64)>,
    /// When this segment started, for `segment.ms`.
    pub(crate) created: SystemTime,
}

/// A range of whole batches in a segment file, read by Fetch without copying them
/// (`Segment::slice`). The open file stays readable when retention or the cleaner
/// removes its name meanwhile.
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Arc<File>,
    /// The file's path when the slice was taken, for error messages.
    pub path: PathBuf,
    pub position: u64,
    pub len: usize,
}

impl FileSlice {
    /// The bytes of the slice, read into memory (for clients the zero-copy path cannot
    /// serve, and for tests).
    pub fn read(&self) -> Result<Vec<u8>, LogError> {
        let mut buf = vec![0; self.len];
        self.file
            .read_exact_at(&mut buf, self.position)
            .map_err(|e| LogError::io(&self.path, e))?;
        Ok(buf)
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("next_offset", &self.next_offset)
            .finish_non_exhaustive()
    }
}

impl Segment {
    /// Opens (or creates) the segment files. `size` is the file length and
    /// `next_offset` is unknown (`base_offset`) until recovery loads it.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: u32,
        preallocate_index: Option<u32>,
    ) -> Result<Segment, LogError> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::io(&path, e))?;
        let meta = file.metadata().map_err(|e| LogError::io(&path, e))?;
        let index = OffsetIndex::open(
            &dir.join(file_name(base_offset, "index")),
            preallocate_index,
        )?;
        let time_index = TimeIndex::open(
            &dir.join(file_name(base_offset, "timeindex")),
            preallocate_index,
        )?;
        let max = if meta.len() == 0 {
            Some((-1, base_offset - 1))
        } else {
            None
        };
        Ok(Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size: meta.len(),
            next_offset: base_offset,
            index,
            time_index,
            index_interval,
            max,
            created: meta.modified().unwrap_or_else(|_| SystemTime::now()),
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn index(&self) -> &OffsetIndex {
        &self.index
    }
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// True when the batch's offsets or position cannot be expressed in the index.
    pub fn cannot_hold(&self, h: &BatchHeader, len: usize) -> bool {
        let rel = h.last_offset() - self.base_offset;
        rel > i64::from(u32::MAX) || self.size + len as u64 > u64::from(u32::MAX)
    }

    /// Appends one whole batch (its base offset already written) with a single
    /// positional write; returns its position. On a failed write the file is cut
    /// back, so a partial batch is never left behind.
    pub fn append(&mut self, head: &[u8], body: &[u8], h: &BatchHeader) -> Result<u64, LogError> {
        let position = self.size;
        let known = self.max_known()?;
        let max = max_with(Some(known), h);
        let last = (self.index.last(), self.time_index.last());
        let (entry, time) = due_entries(
            self.base_offset,
            position,
            h,
            last,
            max,
            self.index_interval,
        );
        let written = self.write_with_entries(head, body, position, entry, time);
        if let Err(e) = written {
            // A full disk (ENOSPC) or a failing one (EIO), at an index entry or at the
            // write: cut back what was written in part and drop the entries just
            // added, so the files and the state in memory are exactly as before. Best
            // effort: the first failure is the error to report.
            let _ = self.file.set_len(position);
            if self
                .index
                .last()
                .is_some_and(|e| u64::from(e.position) >= position)
            {
                let _ = self.index.truncate_to_position(position);
            }
            let rel = (h.base_offset - self.base_offset) as u32;
            if self
                .time_index
                .last()
                .is_some_and(|e| e.relative_offset >= rel)
            {
                let _ = self.time_index.truncate_to_offset(rel);
            }
            return Err(e);
        }
        self.size += (head.len() + body.len()) as u64;
        self.next_offset = h.last_offset() + 1;
        self.max = max;
        Ok(position)
    }

    /// The index entries due for a batch, then the batch itself at `position`.
    fn write_with_entries(
        &mut self,
        head: &[u8],
        body: &[u8],
        position: u64,
        entry: Option<IndexEntry>,
        time: Option<TimeEntry>,
    ) -> Result<(), LogError> {
        if let Some(entry) = entry {
            self.index.append(entry)?;
        }
        if let Some(time) = time {
            if !self.time_index.is_full() {
                self.time_index.append(time)?;
            }
        }
        storage::write_at(&self.file, &self.path, &[head, body], position)
            .map_err(|e| LogError::io(&self.path, e))
    }

    /// The largest timestamp and its batch's last offset, learning it if needed: from
    /// the time index's last entry when the segment was sealed, else by a scan of the
    /// batch headers (once).
    fn max_known(&mut self) -> Result<(i64, i64), LogError> {
        if let Some(max) = self.max {
            return Ok(max);
        }
        let mut max = None;
        self.for_each_header(|_, h| {
            max = max_with(max, h);
            true
        })?;
        let max = max.unwrap_or((-1, self.base_offset - 1));
        self.max = Some(max);
        Ok(max)
    }

    /// The segment stops being active (roll, clean close): its time index gets a last
    /// entry for its largest timestamp, unless it has it already, and both indexes are
    /// trimmed to their entries.
    pub fn seal(&mut self) -> Result<(), LogError> {
        let (ts, offset) = self.max_known()?;
        if let Some(last) = TimeEntry::due(self.base_offset, ts, offset, self.time_index.last()) {
            if self.time_index.is_full() {
                self.time_index
                    .resize(((self.time_index.len() + 1) * TimeEntry::LEN_BYTES) as u32)?;
            }
            self.time_index.append(last)?;
        }
        self.index.trim()?;
        self.time_index.trim()
    }

    /// Preallocates both indexes to `bytes` (the active segment).
    pub fn preallocate_indexes(&mut self, bytes: u32) -> Result<(), LogError> {
        self.index.resize(bytes)?;
        self.time_index.resize(bytes)
    }

    /// Up to `max_bytes` raw bytes from `position` (fewer at the end of the file).
    pub fn read(&self, position: u64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        let n = (self.size.saturating_sub(position)).min(max_bytes as u64) as usize;
        let mut buf = vec![0; n];
        self.file
            .read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(&self.path, e))?;
        Ok(buf)
    }

    /// The batch header at `position`, or `None` past the end or on a torn header.
    pub fn header_at(&self, position: u64) -> Result<Option<BatchHeader>, LogError> {
        if position + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.file
            .read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(&self.path, e))?;
        let left = usize::try_from(self.size - position).unwrap_or(usize::MAX);
        frame_len(&buf, left).map_err(|e| self.corrupt(position, e.to_string()))?;
        let h = BatchHeader::parse(&buf).map_err(|e| self.corrupt(position, e.to_string()))?;
        Ok(Some(h))
    }

    fn corrupt(&self, position: u64, reason: String) -> LogError {
        LogError::Corrupt {
            path: self.path.clone(),
            reason: format!("at position {position}: {reason}"),
        }
    }

    /// Position and header of the batch holding `offset` (the first whose last offset
    /// is ≥ `offset`), starting from the index entry ≤ `offset`. `None` if past the end.
    pub fn find(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let rel = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let mut pos = self.index.lookup(rel).map_or(0, |e| u64::from(e.position));
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Whole batches from `position`, at most `max_bytes` but at least one batch, as a
    /// range of this segment's file rather than a copy: Fetch sends it from the page
    /// cache, and [`FileSlice::read`] copies it out for everyone else.
    pub fn slice(&self, position: u64, max_bytes: usize) -> Result<FileSlice, LogError> {
        let end = self.batches_end(position, max_bytes)?;
        Ok(FileSlice {
            file: self.file.clone(),
            path: self.path.clone(),
            position,
            len: (end - position) as usize,
        })
    }

    /// Where the whole batches from `position` that fit in `max_bytes` end (at least
    /// one batch; `position` itself at the end of the segment). Only headers are read:
    /// the offset index gives the last batch starting at or below the limit (every
    /// batch before it fits), and the walk goes on from there. A read's cost follows
    /// the bytes it returns, not the number of batches in them.
    fn batches_end(&self, position: u64, max_bytes: usize) -> Result<u64, LogError> {
        let Some(first) = self.header_at(position)? else {
            return Ok(position);
        };
        let mut end = position + first.total_len() as u64;
        let limit = position.saturating_add(max_bytes as u64).min(self.size);
        if end >= limit {
            return Ok(end);
        }
        let entries = self.index.entries();
        let below = entries.partition_point(|e| u64::from(e.position) <= limit);
        if let Some(e) = below.checked_sub(1).map(|i| entries[i]) {
            end = end.max(u64::from(e.position));
        }
        while let Some(h) = self.header_at(end)? {
            let next = end + h.total_len() as u64;
            if next > limit {
                break;
            }
            end = next;
        }
        Ok(end)
    }

    /// Calls `f` with the header and position of every batch, in order.
    pub fn for_each_header(
        &self,
        mut f: impl FnMut(u64, &BatchHeader) -> bool,
    ) -> Result<(), LogError> {
        let mut pos = 0;
        while let Some(h) = self.header_at(pos)? {
            if !f(pos, &h) {
                break;
            }
            pos += h.total_len() as u64;
        }
        Ok(())
    }

    /// Largest maxTimestamp of any batch (−1 when empty).
    pub fn max_timestamp(&mut self) -> Result<i64, LogError> {
        Ok(self.max_known()?.0)
    }

    /// Position and header of the first batch whose max timestamp is ≥ `ts` and that
    /// holds an offset ≥ `min_offset` (the log start offset: records below it are
    /// gone), starting at byte `from`, or with `None` where the time index says (the
    /// entry ≤ `ts`; see `time_index.rs`). `None` when no batch of this segment is both.
    pub fn find_timestamp(
        &mut self,
        ts: i64,
        min_offset: i64,
        from: Option<u64>,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        if self.max_known()?.0 < ts {
            return Ok(None);
        }
        let mut pos = match (from, self.time_index.lookup(ts)) {
            (Some(from), _) => from,
            (None, Some(e)) => self
                .find(self.base_offset + i64::from(e.relative_offset))?
                .map_or(0, |(pos, _)| pos),
            (None, None) => 0,
        };
        while let Some(h) = self.header_at(pos)? {
            if h.max_timestamp >= ts && h.last_offset() >= min_offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Cuts the file at `position` (a batch boundary), dropping index entries at or
    /// after it. `next_offset` becomes `next_offset` as given by the caller.
    pub fn truncate(&mut self, position: u64, next_offset: i64) -> Result<(), LogError> {
        self.file
            .set_len(position)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.size = position;
        self.next_offset = next_offset;
        self.index.truncate_to_position(position)?;
        self.time_index
            .truncate_to_offset(u32::try_from(next_offset - self.base_offset).unwrap_or(0))?;
        self.max = None;
        Ok(())
    }

    /// Loads the state a recovery scan found (`max`: the largest timestamp, if known).
    pub(crate) fn set_loaded(&mut self, size: u64, next_offset: i64, max: Option<(i64, i64)>) {
        self.size = size;
        self.next_offset = next_offset;
        self.max = max.or(self.max);
    }

    /// `sync_data` on the `.log` (data reaches the disk) and a sync of both indexes.
    pub fn sync(&self) -> Result<(), LogError> {
        storage::sync_data(&self.file, &self.path).map_err(|e| LogError::io(&self.path, e))?;
        self.index.sync()?;
        self.time_index.sync()
    }

    /// Deletes its three files (retention, truncation).
    pub fn delete(self) -> Result<(), LogError> {
        self.index.delete()?;
        self.time_index.delete()?;
        drop(self.file);
        storage::forget(&self.path);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&self.path, e)),
        }
    }
}

/// Reads whole batches one by one from a `.log` for the log cleaner and `inspect`, without
/// trusting anything: it reports where and why the bytes stop being a batch. The
/// framing rule is `record_batch::frame_len`, the same one every in-memory reader uses.
#[derive(Debug)]
pub struct BatchReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

/// One step of a [`BatchReader`].
#[derive(Debug)]
pub enum ReadStep {
    /// A frame whose length fits: `bytes` is the whole batch (not yet CRC-checked).
    Batch { position: u64, bytes: Vec<u8> },
    /// The bytes from `position` on cannot be a batch.
    Torn { position: u64, reason: String },
}

impl<'a> BatchReader<'a> {
    pub fn new(file: &'a File, start: u64, end: u64) -> Self {
        BatchReader {
            file,
            pos: start,
            end,
        }
    }
    /// The next batch, a torn tail, or `None` at the end.
    pub fn next_step(&mut self) -> std::io::Result<Option<ReadStep>> {
        let position = self.pos;
        if position >= self.end {
            return Ok(None);
        }
        let left = usize::try_from(self.end - position).unwrap_or(usize::MAX);
        let mut head = [0u8; LOG_OVERHEAD];
        if left >= HEADER_LEN {
            self.file.read_exact_at(&mut head, position)?;
        }
        let total = match frame_len(&head, left) {
            Ok(total) => total,
            Err(e) => {
                return Ok(Some(ReadStep::Torn {
                    position,
                    reason: e.to_string(),
                }))
            }
        };
        let mut bytes = vec![0; total];
        self.file.read_exact_at(&mut bytes, position)?;
        self.pos += total as u64;
        Ok(Some(ReadStep::Batch { position, bytes }))
    }
}
