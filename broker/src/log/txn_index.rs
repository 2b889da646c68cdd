//! The aborted-transaction index: `<20-digit base offset>.txnindex`, one per segment
//! that holds an ABORT marker, in Kafka's format; a `read_committed` Fetch answers
//! from it which aborted transactions overlap what it returns, so the consumer can
//! drop their records.
//!
//! Flow: `PartitionLog::append_marker` (an ABORT) → **`AbortedTxns::add`** (memory,
//! and the active segment's file) … Fetch with `isolation_level=1` →
//! `PartitionLog::aborted_between` → **`AbortedTxns::overlapping`** →
//! `aborted_transactions` in the response.
//!
//! # File format (no header; 34-byte entries, big-endian, in marker order)
//!
//! | bytes | field                  | meaning                                         |
//! |-------|------------------------|-------------------------------------------------|
//! | 0–1   | version i16            | 0                                               |
//! | 2–9   | producer_id i64        | whose transaction was aborted                   |
//! | 10–17 | first_offset i64       | its first record in this partition              |
//! | 18–25 | last_offset i64        | the offset of its ABORT marker                  |
//! | 26–33 | last_stable_offset i64 | the LSO once the marker was written             |
//!
//! What must stay true:
//! - An entry is in the file of the segment that holds its marker, and entries are in
//!   increasing `last_offset` order.
//! - The index in memory holds every entry of the partition's segments, and none
//!   whose marker lies at or past the log end (a torn tail's, after a crash). Files are
//!   only appended to, except on an unclean open, which rewrites the files whose
//!   entries changed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::segment::{file_name, parse_file_name};
use super::LogError;

/// Bytes per entry.
pub const ENTRY_LEN: usize = 34;

/// Every field of an entry in order, with its name: `(name, byte range)` (the table
/// above), for `inspect dump --hex`.
pub const ENTRY_FIELDS: [(&str, std::ops::Range<usize>); 5] = [
    ("version", 0..2),
    ("producer_id", 2..10),
    ("first_offset", 10..18),
    ("last_offset", 18..26),
    ("last_stable_offset", 26..34),
];

/// One aborted transaction of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// Reads one entry (`b` is [`ENTRY_LEN`] bytes; the version is not checked).
    pub fn decode(b: &[u8]) -> AbortedTxn {
        let at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        AbortedTxn {
            producer_id: at(2),
            first_offset: at(10),
            last_offset: at(18),
            last_stable_offset: at(26),
        }
    }
}

/// `<dir>/<base:020>.txnindex`.
pub fn path(dir: &Path, segment_base: i64) -> PathBuf {
    dir.join(file_name(segment_base, "txnindex"))
}

/// The aborted transactions of one partition, by marker offset, with the segment whose
/// file holds each.
#[derive(Debug, Clone, Default)]
pub struct AbortedTxns {
    by_marker: BTreeMap<i64, (i64, AbortedTxn)>,
}

impl AbortedTxns {
    /// Reads every `.txnindex` of `dir` (a torn last entry is ignored). Entries at or
    /// past `log_end` are dropped; unless `clean`, the files that held such entries are
    /// rewritten without them.
    pub fn load(dir: &Path, log_end: i64, clean: bool) -> Result<AbortedTxns, LogError> {
        let mut out = AbortedTxns::default();
        let mut bases: Vec<i64> = std::fs::read_dir(dir)
            .map_err(|e| LogError::io(dir, e))?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| parse_file_name(n, "txnindex"))
            })
            .collect();
        bases.sort_unstable();
        for base in bases {
            let p = path(dir, base);
            let bytes = std::fs::read(&p).map_err(|e| LogError::io(&p, e))?;
            let mut dropped = bytes.len() % ENTRY_LEN != 0;
            for chunk in bytes.chunks_exact(ENTRY_LEN) {
                let t = AbortedTxn::decode(chunk);
                if t.last_offset < log_end && t.last_offset >= base {
                    out.by_marker.insert(t.last_offset, (base, t));
                } else {
                    dropped = true;
                }
            }
            if dropped && !clean {
                out.rewrite(dir, base)?;
            }
        }
        Ok(out)
    }

    /// Records an aborted transaction whose marker is in the segment based at
    /// `segment_base`, appending it to that segment's file. Already known (a replay
    /// after a crash found it in the file): nothing changes.
    pub fn add(&mut self, dir: &Path, segment_base: i64, t: AbortedTxn) -> Result<(), LogError> {
        if self.by_marker.contains_key(&t.last_offset) {
            return Ok(());
        }
        let p = path(dir, segment_base);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .and_then(|mut f| f.write_all(&t.encode()))
            .map_err(|e| LogError::io(&p, e))?;
        self.by_marker.insert(t.last_offset, (segment_base, t));
        Ok(())
    }

    /// Writes the file of `segment_base` again from memory (temp file and rename).
    fn rewrite(&self, dir: &Path, segment_base: i64) -> Result<(), LogError> {
        let p = path(dir, segment_base);
        let bytes: Vec<u8> = self
            .by_marker
            .values()
            .filter(|(base, _)| *base == segment_base)
            .flat_map(|(_, t)| t.encode())
            .collect();
        let tmp = p.with_extension("txnindex.tmp");
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, &p))
            .map_err(|e| LogError::io(&p, e))
    }

    /// Forgets the entries whose marker is below `first_base` (their segments were
    /// deleted; [`delete_files_below`] deletes their files).
    pub fn forget_below(&mut self, first_base: i64) {
        self.by_marker = self.by_marker.split_off(&first_base);
    }

    /// Forgets the entries at or past `offset` (a truncation) and rewrites the files
    /// that held them.
    pub fn truncate(&mut self, dir: &Path, offset: i64) -> Result<(), LogError> {
        let gone = self.by_marker.split_off(&offset);
        let mut bases: Vec<i64> = gone.values().map(|(b, _)| *b).collect();
        bases.dedup();
        for base in bases {
            self.rewrite(dir, base)?;
        }
        Ok(())
    }

    /// The aborted transactions a read of `[fetch_offset, upper)` must report: those
    /// with a marker at or after `fetch_offset` and a first offset below `upper`
    /// (Kafka's `collectAbortedTxns`), as (producer id, first offset).
    pub fn overlapping(&self, fetch_offset: i64, upper: i64) -> Vec<(i64, i64)> {
        self.by_marker
            .range(fetch_offset..)
            .map(|(_, (_, t))| t)
            .filter(|t| t.first_offset < upper)
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }

    /// The newest `limit` entries, by marker offset (the dashboard, tests).
    pub fn newest(&self, limit: usize) -> Vec<AbortedTxn> {
        let mut newest: Vec<AbortedTxn> = self
            .by_marker
            .values()
            .rev()
            .take(limit)
            .map(|(_, t)| *t)
            .collect();
        newest.reverse();
        newest
    }
}

/// Deletes the `.txnindex` files named below `first_base` (their segments were deleted
/// by retention or DeleteRecords, or merged by the cleaner into one that was).
pub fn delete_files_below(dir: &Path, first_base: i64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let below = e
            .file_name()
            .to_str()
            .and_then(|n| parse_file_name(n, "txnindex"))
            .is_some_and(|base| base < first_base);
        if below {
            if let Err(err) = std::fs::remove_file(e.path()) {
                tracing::warn!("cannot delete {}: {err}", e.path().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entries_are_34_bytes_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = AbortedTxns::default();
        idx.add(dir.path(), 0, t(1, 2, 5)).unwrap();
        idx.add(dir.path(), 0, t(2, 3, 8)).unwrap();
        idx.add(dir.path(), 10, t(1, 11, 12)).unwrap();
        idx.add(dir.path(), 10, t(1, 11, 12)).unwrap(); // known: not appended again
        let bytes = std::fs::read(path(dir.path(), 0)).unwrap();
        assert_eq!(bytes.len(), 2 * ENTRY_LEN);
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(
            std::fs::read(path(dir.path(), 10)).unwrap().len(),
            ENTRY_LEN
        );
        let back = AbortedTxns::load(dir.path(), 100, true).unwrap();
        assert_eq!(back.newest(usize::MAX), idx.newest(usize::MAX));
        // The newest two, still in marker order.
        assert_eq!(idx.newest(2), vec![t(2, 3, 8), t(1, 11, 12)]);
    }

    #[test]
    fn a_fetch_sees_the_transactions_overlapping_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = AbortedTxns::default();
        idx.add(dir.path(), 0, t(1, 2, 5)).unwrap();
        idx.add(dir.path(), 0, t(2, 3, 8)).unwrap();
        idx.add(dir.path(), 0, t(3, 20, 25)).unwrap();
        assert_eq!(idx.overlapping(0, 10), vec![(1, 2), (2, 3)]);
        assert_eq!(idx.overlapping(6, 10), vec![(2, 3)]);
        assert_eq!(idx.overlapping(9, 20), Vec::<(i64, i64)>::new());
        assert_eq!(idx.overlapping(9, 21), vec![(3, 20)]);
    }

    #[test]
    fn an_unclean_load_drops_entries_past_the_log_end_and_rewrites_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = AbortedTxns::default();
        idx.add(dir.path(), 0, t(1, 2, 5)).unwrap();
        idx.add(dir.path(), 0, t(2, 3, 8)).unwrap();
        let back = AbortedTxns::load(dir.path(), 7, false).unwrap();
        assert_eq!(back.newest(usize::MAX), vec![t(1, 2, 5)]);
        assert_eq!(std::fs::read(path(dir.path(), 0)).unwrap().len(), ENTRY_LEN);
        let mut back = back;
        back.truncate(dir.path(), 5).unwrap();
        assert!(back.newest(usize::MAX).is_empty());
        assert_eq!(std::fs::read(path(dir.path(), 0)).unwrap().len(), 0);
    }
}
