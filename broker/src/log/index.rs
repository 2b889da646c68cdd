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
//!   position > 0 and entries increase strictly in both fields ([`Entry::follows`]).
//! - The file itself (mapping, preallocation, the zeroed tail, trim) is `index_file.rs`,
//!   shared with the time index.

use super::index_file::{self, Entry, IndexFile};
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

impl Entry for IndexEntry {
    const LEN: usize = ENTRY_LEN;

    fn decode(b: &[u8]) -> Self {
        IndexEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }

    /// Strictly increasing in both fields, never at position 0 or relative offset 0.
    fn follows(&self, prev: Option<&Self>) -> bool {
        self.position > 0
            && self.relative_offset > 0
            && prev.is_none_or(|p| {
                self.relative_offset > p.relative_offset && self.position > p.position
            })
    }
}

/// Reads the valid entries from raw `.index` bytes (see [`Entry::follows`]). Used by
/// `inspect`.
pub fn parse_entries(bytes: &[u8]) -> Vec<IndexEntry> {
    index_file::parse(bytes)
}

/// Greatest entry whose relative offset is ≤ `target` (binary search), if any.
pub fn lookup_in(entries: &[IndexEntry], target: u32) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.relative_offset <= target);
    n.checked_sub(1).map(|i| entries[i])
}

/// A memory-mapped `.index` file.
pub type OffsetIndex = IndexFile<IndexEntry>;

impl IndexFile<IndexEntry> {
    /// Greatest entry ≤ `relative_offset`, if any.
    pub fn lookup(&self, relative_offset: u32) -> Option<IndexEntry> {
        lookup_in(self.entries(), relative_offset)
    }

    /// Drops the entries that point at `position` or beyond (zeroing their bytes).
    pub fn truncate_to_position(&mut self, position: u64) -> Result<(), LogError> {
        let keep = self
            .entries()
            .partition_point(|e| u64::from(e.position) < position);
        self.truncate_entries(keep)
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
        ix.truncate_to_position(300).unwrap();
        assert_eq!(ix.len(), 2);
        ix.flush().unwrap();
        drop(ix);
        assert_eq!(OffsetIndex::open(&path, None).unwrap().len(), 2);
    }

    #[test]
    fn a_full_disk_is_enospc_at_growth_and_at_the_next_chunk_never_sigbus() {
        use crate::log::index_file::ALLOCATE_CHUNK;
        use crate::log::storage::SimulatedDisk;
        let dir = tempfile::tempdir().unwrap();
        let disk = SimulatedDisk::install(dir.path());
        let path = dir.path().join("00000000000000000000.index");
        disk.set_space(Some(0));
        let refused = OffsetIndex::open(&path, Some(1 << 20)).unwrap_err();
        assert!(refused.is_no_space(), "{refused}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "back to its length"
        );
        // Room for the first chunk only: the entries fill it, the next one is refused
        // with nothing changed, and once there is space it goes in.
        disk.set_space(Some(ALLOCATE_CHUNK));
        let mut ix = OffsetIndex::open(&path, Some(1 << 20)).unwrap();
        let per_chunk = (ALLOCATE_CHUNK / 8) as u32;
        for i in 1..=per_chunk {
            ix.append(e(i, i * 10)).unwrap();
        }
        let refused = ix
            .append(e(per_chunk + 1, (per_chunk + 1) * 10))
            .unwrap_err();
        assert!(refused.is_no_space(), "{refused}");
        assert_eq!(ix.len(), per_chunk as usize);
        disk.set_space(None);
        ix.append(e(per_chunk + 1, (per_chunk + 1) * 10)).unwrap();
        // A truncation punches a hole: the blocks after the kept entries are freed.
        ix.truncate_to_position(100).unwrap();
        assert_eq!(ix.len(), 9);
        ix.flush().unwrap();
        drop(ix);
        assert_eq!(OffsetIndex::open(&path, None).unwrap().len(), 9);
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
