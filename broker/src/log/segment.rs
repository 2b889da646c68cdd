//! One segment: the `<base offset:020>.log` file of whole batches, plus its index.
//!
//! Flow: partition log → **segment append** (one positional write of the batch bytes,
//! an index entry every `index.interval.bytes`) → page cache → disk on `sync`.
//! Fetch reads back whole batches from a position the index gives.
//!
//! # Files of a segment whose first offset is 1234
//!
//! | file                          | contents                                        |
//! |-------------------------------|-------------------------------------------------|
//! | `00000000000000001234.log`    | v2 batches back to back, nothing else (see `record_batch`) |
//! | `00000000000000001234.index`  | 8-byte entries (see `index`)                     |
//!
//! What must stay true: `size` is the end of the last whole batch, `next_offset` is the
//! offset after its last record, and positions fit in u32 (segments stay < 4 GiB).
//! `sync` calls `sync_data`; a `flush` on a `File` would do nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::index::{IndexEntry, OffsetIndex};
use super::record_batch::{frame_len, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use super::LogError;

/// `<base:020>.<ext>`: zero-padded so the names sort as the offsets do.
pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// The base offset in a segment file name (`00000000000000001234.log` → 1234).
pub fn parse_file_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// One `.log` file and its `.index`. Not synchronised: the partition log's mutex guards it.
pub struct Segment {
    base_offset: i64,
    path: PathBuf,
    /// Shared so a group-commit sync can run without the partition lock.
    file: Arc<File>,
    size: u64,
    /// Offset after the last record; `base_offset` when empty.
    pub(crate) next_offset: i64,
    pub(crate) index: OffsetIndex,
    index_interval: u32,
    /// Largest batch maxTimestamp, computed on first use for segments opened from disk.
    max_timestamp: Option<i64>,
    /// When this segment started, for `segment.ms`.
    pub(crate) created: SystemTime,
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
        Ok(Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size: meta.len(),
            next_offset: base_offset,
            index,
            index_interval,
            max_timestamp: None,
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
    pub fn append(&mut self, batch: &[u8], h: &BatchHeader) -> Result<u64, LogError> {
        let position = self.size;
        let last_entry = self.index.last().map_or(0, |e| u64::from(e.position));
        if let Some(entry) = IndexEntry::due(
            self.base_offset,
            h.base_offset,
            position,
            last_entry,
            self.index_interval,
        ) {
            self.index.append(entry)?;
        }
        if let Err(e) = self.file.write_all_at(batch, position) {
            let _ = self.file.set_len(position);
            self.index.truncate_to_position(position);
            return Err(LogError::io(&self.path, e));
        }
        self.size += batch.len() as u64;
        self.next_offset = h.last_offset() + 1;
        if let Some(ts) = self.max_timestamp.as_mut() {
            *ts = (*ts).max(h.max_timestamp);
        } else if position == 0 {
            self.max_timestamp = Some(h.max_timestamp);
        }
        Ok(position)
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

    /// Whole batches from `position`, at most `max_bytes` but at least one batch.
    pub fn read_batches(&self, position: u64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        let mut end = position;
        while let Some(h) = self.header_at(end)? {
            let next = end + h.total_len() as u64;
            if next - position > max_bytes as u64 && end > position {
                break;
            }
            end = next;
            if end - position >= max_bytes as u64 {
                break;
            }
        }
        self.read(position, (end - position) as usize)
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

    /// Largest maxTimestamp of any batch (−1 when empty); scans headers once.
    pub fn max_timestamp(&mut self) -> Result<i64, LogError> {
        if let Some(ts) = self.max_timestamp {
            return Ok(ts);
        }
        let mut max = -1;
        self.for_each_header(|_, h| {
            max = max.max(h.max_timestamp);
            true
        })?;
        self.max_timestamp = Some(max);
        Ok(max)
    }

    /// Cuts the file at `position` (a batch boundary), dropping index entries at or
    /// after it. `next_offset` becomes `next_offset` as given by the caller.
    pub fn truncate(&mut self, position: u64, next_offset: i64) -> Result<(), LogError> {
        self.file
            .set_len(position)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.size = position;
        self.next_offset = next_offset;
        self.index.truncate_to_position(position);
        self.max_timestamp = None;
        Ok(())
    }

    /// Loads the state a recovery scan found.
    pub(crate) fn set_loaded(&mut self, size: u64, next_offset: i64) {
        self.size = size;
        self.next_offset = next_offset;
    }

    /// `sync_data` on the `.log` (data reaches the disk) and a sync of the index.
    pub fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|e| LogError::io(&self.path, e))?;
        self.index.sync()
    }

    /// Deletes both files (retention, truncation).
    pub fn delete(self) -> Result<(), LogError> {
        let index_path = self.index.path().to_path_buf();
        drop(self.index);
        for p in [&self.path, &index_path] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(p, e)),
            }
        }
        Ok(())
    }
}

/// Reads whole batches one by one from a `.log` for recovery and `inspect`, without
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
