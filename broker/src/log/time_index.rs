//! The sparse time index of one segment: `<base offset:020>.timeindex`, memory-mapped,
//! as Kafka's `TimeIndex` writes it.
//!
//! Flow: ListOffsets by timestamp (and retention by time) → partition log → **time
//! index lookup** (greatest entry whose timestamp ≤ target) → the offset index and a
//! scan from there → the first batch whose max timestamp ≥ target.
//!
//! # Entry (12 bytes, big-endian)
//!
//! | bytes | field                                                              |
//! |-------|--------------------------------------------------------------------|
//! | 0–7   | timestamp i64: the largest record timestamp of the segment so far  |
//! | 8–11  | relative offset u32: the last offset of the batch that holds it, minus the segment's base offset |
//!
//! What must stay true:
//! - An entry is added at the same moments as an offset-index entry (every
//!   `index.interval.bytes`, see `index.rs: IndexEntry::due`), and only when the
//!   segment's largest timestamp grew since the last entry ([`TimeEntry::due`]); one
//!   more is added when the segment stops being active (roll, clean close), so the last
//!   entry of a closed segment is its largest timestamp.
//! - Timestamps and offsets strictly increase from entry to entry ([`Entry::follows`]),
//!   so every record before an entry's offset has a smaller timestamp: a search for
//!   timestamp T may start at the entry ≤ T. (The first entry may have relative offset
//!   0; an all-zero entry is the preallocated tail.)
//! - Recovery rebuilds it with the log's offset index (`recovery.rs: scan`).

use super::index_file::{self, Entry, IndexFile};
use super::LogError;

/// Bytes per entry.
pub const TIME_ENTRY_LEN: usize = 12;

/// One time-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl TimeEntry {
    /// Bytes per entry (as [`Entry::LEN`], without importing the trait).
    pub const LEN_BYTES: usize = TIME_ENTRY_LEN;

    /// The entry due when the segment's largest timestamp so far is `max` (in the batch
    /// ending at `max_offset`): one if it grew past the `last` entry's, else none. (A
    /// segment whose records carry no timestamp, or only 0 at its first offset, gets
    /// none: such an entry could not be told from the zeroed tail.)
    pub fn due(
        segment_base: i64,
        max: i64,
        max_offset: i64,
        last: Option<TimeEntry>,
    ) -> Option<TimeEntry> {
        let e = TimeEntry {
            timestamp: max,
            relative_offset: u32::try_from(max_offset - segment_base).ok()?,
        };
        e.follows(last.as_ref()).then_some(e)
    }
}

impl Entry for TimeEntry {
    const LEN: usize = TIME_ENTRY_LEN;

    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }

    /// Strictly increasing in both fields; a negative timestamp or the all-zero
    /// entry is never one.
    fn follows(&self, prev: Option<&Self>) -> bool {
        let zero = self.timestamp == 0 && self.relative_offset == 0;
        self.timestamp >= 0
            && !zero
            && prev.is_none_or(|p| {
                self.timestamp > p.timestamp && self.relative_offset > p.relative_offset
            })
    }
}

/// Reads the valid entries from raw `.timeindex` bytes (see [`Entry::follows`]). Used
/// by `inspect`.
pub fn parse_time_entries(bytes: &[u8]) -> Vec<TimeEntry> {
    index_file::parse(bytes)
}

/// A memory-mapped `.timeindex` file.
pub type TimeIndex = IndexFile<TimeEntry>;

impl IndexFile<TimeEntry> {
    /// Greatest entry whose timestamp is ≤ `timestamp`, if any.
    pub fn lookup(&self, timestamp: i64) -> Option<TimeEntry> {
        let entries = self.entries();
        let n = entries.partition_point(|e| e.timestamp <= timestamp);
        n.checked_sub(1).map(|i| entries[i])
    }

    /// Drops the entries at or after `relative_offset` (zeroing their bytes).
    pub fn truncate_to_offset(&mut self, relative_offset: u32) -> Result<(), LogError> {
        let keep = self
            .entries()
            .partition_point(|e| e.relative_offset < relative_offset);
        self.truncate_entries(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ts: i64, r: u32) -> TimeEntry {
        TimeEntry {
            timestamp: ts,
            relative_offset: r,
        }
    }

    #[test]
    fn due_only_when_the_max_grows() {
        assert_eq!(TimeEntry::due(100, 5000, 100, None), Some(t(5000, 0)));
        assert_eq!(TimeEntry::due(100, -1, 103, None), None, "no timestamp yet");
        let last = Some(t(5000, 0));
        assert_eq!(
            TimeEntry::due(100, 5000, 107, last),
            None,
            "max did not grow"
        );
        assert_eq!(TimeEntry::due(100, 6000, 107, last), Some(t(6000, 7)));
        assert_eq!(TimeEntry::due(100, 6000, 100, last), None, "same offset");
        assert_eq!(
            TimeEntry::due(100, 0, 100, None),
            None,
            "looks like the zero tail"
        );
    }

    #[test]
    fn append_lookup_truncate_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.timeindex");
        let mut ix = TimeIndex::open(&path, Some(120)).unwrap();
        assert_eq!(ix.capacity(), 10);
        ix.append(t(1000, 0)).unwrap();
        ix.append(t(2000, 5)).unwrap();
        ix.append(t(3000, 9)).unwrap();
        assert!(ix.append(t(3000, 12)).is_err(), "timestamps must grow");
        assert_eq!(ix.lookup(999), None);
        assert_eq!(ix.lookup(1000), Some(t(1000, 0)));
        assert_eq!(ix.lookup(2500), Some(t(2000, 5)));
        assert_eq!(ix.lookup(i64::MAX), Some(t(3000, 9)));
        ix.flush().unwrap();
        drop(ix); // not trimmed: the preallocated zero tail is ignored on open
        let mut ix = TimeIndex::open(&path, None).unwrap();
        assert_eq!(ix.entries(), &[t(1000, 0), t(2000, 5), t(3000, 9)]);
        ix.truncate_to_offset(5).unwrap();
        assert_eq!(ix.entries(), &[t(1000, 0)]);
        ix.trim().unwrap();
        drop(ix);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12);
    }

    #[test]
    fn garbage_stops_the_entries() {
        let mut raw = Vec::new();
        for e in [t(10, 1), t(20, 2), t(15, 3)] {
            let mut b = [0u8; TIME_ENTRY_LEN];
            e.encode(&mut b);
            raw.extend_from_slice(&b);
        }
        assert_eq!(parse_time_entries(&raw), vec![t(10, 1), t(20, 2)]);
        assert_eq!(parse_time_entries(&[0u8; 24]), vec![]);
    }
}
