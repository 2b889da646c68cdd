//! The sparse offset index of one segment: `<base offset:020>.index`, memory-mapped.
//!
//! Flow: fetch → partition log → **index lookup** (greatest entry ≤ target) → segment
//! scan from that position → whole batches back to the consumer.
//!
//! # Entry (8 bytes, big-endian, as Kafka's `OffsetIndex`)
//!
//! | bytes | field                                             |
//! |-------|---------------------------------------------------|
//! | 0–3   | relative offset u32 = batch baseOffset − segment base offset |
//! | 4–7   | position u32 = byte position of that batch in the `.log` |
//!
//! What must stay true:
//! - An entry is added (by `Segment::append`) before a batch once *more than*
//!   `index.interval.bytes` bytes were written since the last entry. The first batch of
//!   a segment (position 0) therefore never has an entry, so every real entry has a
//!   position > 0 and entries increase strictly in both fields.
//! - While a segment is active its file is preallocated to `segment.index.bytes` and
//!   the unused tail is zeros. [`OffsetIndex::open`] reads entries only while they are
//!   strictly increasing with position > 0, so a zeroed tail is never read as entries.
//! - The file is trimmed to exactly `entries × 8` bytes on roll and on close.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::LogError;

/// Bytes per entry.
pub const ENTRY_LEN: usize = 8;

/// One index entry, relative to the segment's base offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry {
    /// The index's one rule (Kafka's `index.interval.bytes`): the batch of `base_offset`
    /// at `position` gets an entry when more than `interval` bytes were written since
    /// the last entry (`last_entry_position`, 0 when there is none). The first batch
    /// never needs one: a lookup that finds no entry starts at position 0.
    /// Used on append (`Segment::append`) and when recovery rebuilds an index.
    pub fn due(
        segment_base: i64,
        base_offset: i64,
        position: u64,
        last_entry_position: u64,
        interval: u32,
    ) -> Option<IndexEntry> {
        (position > 0 && position - last_entry_position > u64::from(interval)).then(|| IndexEntry {
            relative_offset: (base_offset - segment_base) as u32,
            position: position as u32,
        })
    }
}

/// Reads the valid entries from raw index bytes: entries stop at the first one that is
/// not strictly greater (in both fields) than the one before, or has position 0.
/// Used by [`OffsetIndex::open`] and by `inspect`.
pub fn parse_entries(bytes: &[u8]) -> Vec<IndexEntry> {
    let mut out: Vec<IndexEntry> = Vec::new();
    for chunk in bytes.chunks_exact(ENTRY_LEN) {
        let e = IndexEntry {
            relative_offset: u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            position: u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
        };
        let increasing = out
            .last()
            .is_none_or(|p| e.relative_offset > p.relative_offset && e.position > p.position);
        if e.position == 0 || e.relative_offset == 0 || !increasing {
            break;
        }
        out.push(e);
    }
    out
}

/// Greatest entry whose relative offset is ≤ `target` (binary search), if any.
pub fn lookup_in(entries: &[IndexEntry], target: u32) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.relative_offset <= target);
    n.checked_sub(1).map(|i| entries[i])
}

/// A memory-mapped `.index` file. Owned by its `Segment`; not synchronised itself.
pub struct OffsetIndex {
    path: PathBuf,
    file: File,
    /// `None` when the file is empty (a zero-length file cannot be mapped).
    mmap: Option<MmapMut>,
    /// Entries in use, in memory as well, so lookups do not decode the map.
    entries: Vec<IndexEntry>,
}

impl std::fmt::Debug for OffsetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetIndex")
            .field("path", &self.path)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Maps `file` read-write.
#[allow(unsafe_code)]
fn map(file: &File, path: &Path) -> Result<MmapMut, LogError> {
    // SAFETY: the index file is private to this broker's data directory and this
    // process holds the only handle that writes it (one `OffsetIndex` per file, behind
    // the partition's mutex). The map is dropped before the file is truncated
    // (`trim`/`resize`), so no access can fall past the end of the file.
    unsafe { MmapMut::map_mut(file) }.map_err(|e| LogError::io(path, e))
}

impl OffsetIndex {
    /// Opens or creates the index. With `preallocate = Some(bytes)` (the active
    /// segment) the file is grown to that size; its zero tail is ignored.
    pub fn open(path: &Path, preallocate: Option<u32>) -> Result<OffsetIndex, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LogError::io(path, e))?;
        let mut index = OffsetIndex {
            path: path.to_path_buf(),
            file,
            mmap: None,
            entries: Vec::new(),
        };
        let len = index.file_len()?;
        index.remap(len)?;
        index.entries = parse_entries(index.mmap.as_deref().unwrap_or(&[]));
        if let Some(bytes) = preallocate {
            index.resize(bytes)?;
        }
        Ok(index)
    }

    fn file_len(&self) -> Result<u64, LogError> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| LogError::io(&self.path, e))?
            .len())
    }

    fn remap(&mut self, len: u64) -> Result<(), LogError> {
        self.mmap = None;
        if len >= ENTRY_LEN as u64 {
            self.mmap = Some(map(&self.file, &self.path)?);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// How many entries fit in the current file.
    pub fn capacity(&self) -> usize {
        self.mmap.as_ref().map_or(0, |m| m.len() / ENTRY_LEN)
    }
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity()
    }
    pub fn last(&self) -> Option<IndexEntry> {
        self.entries.last().copied()
    }

    /// Greatest entry ≤ `relative_offset`, if any.
    pub fn lookup(&self, relative_offset: u32) -> Option<IndexEntry> {
        lookup_in(&self.entries, relative_offset)
    }

    /// Appends an entry. The caller keeps the rules of the module docs; the index
    /// refuses an entry that is not strictly increasing or does not fit.
    pub fn append(&mut self, e: IndexEntry) -> Result<(), LogError> {
        if self.is_full() {
            return Err(self.corrupt(format!("index is full ({} entries)", self.len())));
        }
        if e.position == 0
            || self
                .last()
                .is_some_and(|l| l.relative_offset >= e.relative_offset || l.position >= e.position)
        {
            return Err(self.corrupt(format!("entry {e:?} does not follow {:?}", self.last())));
        }
        let at = self.entries.len() * ENTRY_LEN;
        if let Some(m) = self.mmap.as_mut() {
            m[at..at + 4].copy_from_slice(&e.relative_offset.to_be_bytes());
            m[at + 4..at + 8].copy_from_slice(&e.position.to_be_bytes());
        }
        self.entries.push(e);
        Ok(())
    }

    fn corrupt(&self, reason: String) -> LogError {
        LogError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// Drops the entries that point at `position` or beyond, zeroing their bytes so a
    /// later open cannot read them back.
    pub fn truncate_to_position(&mut self, position: u64) {
        let keep = self
            .entries
            .partition_point(|e| u64::from(e.position) < position);
        self.entries.truncate(keep);
        if let Some(m) = self.mmap.as_mut() {
            m[keep * ENTRY_LEN..].fill(0);
        }
    }

    /// Replaces every entry (index rebuild), zeroing the rest of the file.
    pub fn reset(&mut self, entries: &[IndexEntry]) -> Result<(), LogError> {
        self.entries.clear();
        if let Some(m) = self.mmap.as_mut() {
            m.fill(0);
        }
        if entries.len() > self.capacity() {
            self.resize((entries.len() * ENTRY_LEN) as u32)?;
        }
        for e in entries {
            self.append(*e)?;
        }
        Ok(())
    }

    /// Sets the file size to `bytes` (rounded down to whole entries, never below the
    /// entries in use) and maps it again.
    pub fn resize(&mut self, bytes: u32) -> Result<(), LogError> {
        let want = (bytes as usize / ENTRY_LEN).max(self.entries.len()) * ENTRY_LEN;
        self.flush()?;
        self.mmap = None;
        self.file
            .set_len(want as u64)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.remap(want as u64)
    }

    /// Trims the file to exactly the entries in use (on roll and close).
    pub fn trim(&mut self) -> Result<(), LogError> {
        self.resize((self.entries.len() * ENTRY_LEN) as u32)
    }

    /// Writes dirty pages back (msync); no fsync of metadata.
    pub fn flush(&self) -> Result<(), LogError> {
        if let Some(m) = &self.mmap {
            m.flush().map_err(|e| LogError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// `flush` plus `sync_data` on the file (its size may have changed).
    pub fn sync(&self) -> Result<(), LogError> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| LogError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(r: u32, p: u32) -> IndexEntry {
        IndexEntry {
            relative_offset: r,
            position: p,
        }
    }

    #[test]
    fn append_lookup_trim_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        let mut ix = OffsetIndex::open(&path, Some(80)).unwrap();
        assert_eq!(ix.capacity(), 10);
        for i in 1..=4 {
            ix.append(e(i * 10, i * 100)).unwrap();
        }
        assert_eq!(ix.lookup(5), None);
        assert_eq!(ix.lookup(10), Some(e(10, 100)));
        assert_eq!(ix.lookup(35), Some(e(30, 300)));
        assert_eq!(ix.lookup(1000), Some(e(40, 400)));
        assert!(ix.append(e(40, 500)).is_err());
        ix.trim().unwrap();
        drop(ix);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 32);
        let ix = OffsetIndex::open(&path, None).unwrap();
        assert_eq!(ix.len(), 4);
    }

    #[test]
    fn zeroed_tail_is_not_read_as_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut ix = OffsetIndex::open(&path, Some(8 * 100)).unwrap();
        ix.append(e(3, 4096)).unwrap();
        ix.flush().unwrap();
        drop(ix); // no trim: the crash case
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 800);
        let ix = OffsetIndex::open(&path, None).unwrap();
        assert_eq!(ix.entries(), &[e(3, 4096)]);
    }

    #[test]
    fn truncate_zeroes_dropped_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut ix = OffsetIndex::open(&path, Some(80)).unwrap();
        for i in 1..=5 {
            ix.append(e(i, i * 100)).unwrap();
        }
        ix.truncate_to_position(300);
        assert_eq!(ix.len(), 2);
        ix.flush().unwrap();
        drop(ix);
        assert_eq!(OffsetIndex::open(&path, None).unwrap().len(), 2);
    }

    #[test]
    fn lookup_on_empty_and_garbage() {
        assert_eq!(lookup_in(&[], 7), None);
        let mut raw = Vec::new();
        for (r, p) in [(5u32, 10u32), (4, 20)] {
            raw.extend_from_slice(&r.to_be_bytes());
            raw.extend_from_slice(&p.to_be_bytes());
        }
        assert_eq!(parse_entries(&raw), vec![e(5, 10)]);
    }
}
