//! `<20-digit offset>.snapshot`: the producer state of a partition as of an offset, in
//! Kafka's file format, so a start-up replays only the batches after it.
//!
//! Flow: `PartitionLog` writes one at each segment roll (named after the new segment's
//! base offset) and at a clean close (named after the log end offset); on open it
//! loads the newest one at or below the log end offset and replays the batches from
//! there (`producer_state.rs`).
//!
//! # File format (Kafka's `ProducerStateManager` snapshot, version 1; big-endian)
//!
//! | bytes | field                         | notes                                      |
//! |-------|-------------------------------|--------------------------------------------|
//! | 0–1   | version i16                   | 1                                          |
//! | 2–5   | crc u32                       | CRC-32C of every byte after this field     |
//! | 6–9   | entry count i32               |                                            |
//! | …     | entries, 46 bytes each:       |                                            |
//! | +0    | producer_id i64               |                                            |
//! | +8    | epoch i16                     |                                            |
//! | +10   | last_sequence i32             | -1: no batch in this epoch yet             |
//! | +14   | last_offset i64               | of its last batch; -1 likewise             |
//! | +22   | offset_delta i32              | last_sequence − first sequence of that batch |
//! | +26   | timestamp i64                 | that batch's maxTimestamp                  |
//! | +34   | coordinator_epoch i32         | of the last marker written for it          |
//! | +38   | current_txn_first_offset i64  | -1: no open transaction                    |
//!
//! Only the last batch of each producer is kept, as in Kafka: after a start-up from a
//! snapshot, a retry of that batch is still recognised, one of an older batch is not.
//!
//! What must stay true:
//! - A snapshot is written whole or not at all: `<name>.tmp`, fsync, rename, fsync the
//!   directory. One that fails its CRC or its length is ignored (with a warning) and
//!   the state is rebuilt from the log instead: a snapshot only saves time.
//! - The snapshot named N holds every batch below offset N and none at or after it.

use std::path::{Path, PathBuf};

use super::producer_state::{BatchMeta, ProducerEntry, ProducerStateTable, NO_PRODUCER_EPOCH};
use super::segment::{file_name, parse_file_name, sync_dir};
use super::LogError;

/// The snapshot format written and read.
pub const VERSION: i16 = 1;
const ENTRY_LEN: usize = 46;
const HEADER_LEN: usize = 10;

/// `<dir>/<20-digit offset>.snapshot`.
pub fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(file_name(offset, "snapshot"))
}

/// The offsets of the snapshots in `dir`, ascending.
pub fn list(dir: &Path) -> Vec<i64> {
    let mut out: Vec<i64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| parse_file_name(n, "snapshot"))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The bytes of a snapshot of `table` (entries by producer id, so equal tables give
/// equal files).
pub fn encode(table: &ProducerStateTable) -> Vec<u8> {
    let mut entries: Vec<&ProducerEntry> = table.entries().collect();
    entries.sort_by_key(|e| e.producer_id);
    let mut body = Vec::with_capacity(4 + entries.len() * ENTRY_LEN);
    body.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        let last = e.batches.back();
        body.extend_from_slice(&e.producer_id.to_be_bytes());
        body.extend_from_slice(&e.epoch.to_be_bytes());
        body.extend_from_slice(&last.map_or(-1, |b| b.last_seq).to_be_bytes());
        body.extend_from_slice(&last.map_or(-1, |b| b.last_offset).to_be_bytes());
        let delta = last.map_or(0, |b| (b.last_offset - b.first_offset) as i32);
        body.extend_from_slice(&delta.to_be_bytes());
        body.extend_from_slice(&e.last_timestamp.to_be_bytes());
        body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        body.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes a snapshot; the reason when it is not one.
pub fn decode(bytes: &[u8]) -> Result<ProducerStateTable, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("{} bytes is shorter than the header", bytes.len()));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != VERSION {
        return Err(format!("version {version}, not {VERSION}"));
    }
    let crc = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let body = &bytes[6..];
    if crc32c::crc32c(body) != crc {
        return Err("the CRC-32C does not match".into());
    }
    let count = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let entries = &body[4..];
    if count < 0 || entries.len() != count as usize * ENTRY_LEN {
        return Err(format!(
            "{count} entries announced, {} bytes of them",
            entries.len()
        ));
    }
    let mut table = ProducerStateTable::new();
    for e in entries.chunks_exact(ENTRY_LEN) {
        let i64_at = |at: usize| i64::from_be_bytes(e[at..at + 8].try_into().unwrap_or([0; 8]));
        let i32_at = |at: usize| i32::from_be_bytes(e[at..at + 4].try_into().unwrap_or([0; 4]));
        let epoch = i16::from_be_bytes([e[8], e[9]]);
        let last_seq = i32_at(10);
        let last_offset = i64_at(14);
        let delta = i32_at(22);
        let timestamp = i64_at(26);
        let mut batches = std::collections::VecDeque::new();
        if last_seq >= 0 && last_offset >= 0 && epoch != NO_PRODUCER_EPOCH {
            batches.push_back(BatchMeta {
                first_seq: decrement_sequence(last_seq, delta),
                last_seq,
                first_offset: last_offset - i64::from(delta),
                last_offset,
                timestamp,
            });
        }
        let txn = i64_at(38);
        table.restore(ProducerEntry {
            producer_id: i64_at(0),
            epoch,
            batches,
            coordinator_epoch: i32_at(34),
            current_txn_first_offset: (txn >= 0).then_some(txn),
            last_timestamp: timestamp,
        });
    }
    Ok(table)
}

/// The first sequence of a batch from its last and its offset delta, wrapping below 0
/// to `i32::MAX` (Kafka's `DefaultRecordBatch.decrementSequence`).
fn decrement_sequence(last: i32, delta: i32) -> i32 {
    if last >= delta {
        last - delta
    } else {
        i32::MAX - (delta - last - 1)
    }
}

/// Writes the snapshot of `table` at `offset` atomically (see the module docs).
pub fn write(dir: &Path, offset: i64, table: &ProducerStateTable) -> Result<(), LogError> {
    let final_path = path(dir, offset);
    let tmp = final_path.with_extension("snapshot.tmp");
    let bytes = encode(table);
    let result = (|| -> std::io::Result<()> {
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &final_path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| LogError::io(&final_path, e))
}

/// Reads the snapshot at `offset`; `None` (with a warning) when it is missing, or
/// unreadable or damaged, so the caller rebuilds from the log.
pub fn read(dir: &Path, offset: i64) -> Option<ProducerStateTable> {
    let p = path(dir, offset);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                "{}: cannot read ({e}); rebuilding producer state from the log",
                p.display()
            );
            return None;
        }
    };
    match decode(&bytes) {
        Ok(t) => Some(t),
        Err(why) => {
            tracing::warn!(
                "{}: not a valid producer snapshot ({why}); rebuilding producer state from the log",
                p.display()
            );
            None
        }
    }
}

/// Deletes the snapshots `keep` says no to (and leftover `.snapshot.tmp` files).
pub fn delete_where(dir: &Path, mut doomed: impl FnMut(i64) -> bool) {
    for offset in list(dir) {
        if doomed(offset) {
            let p = path(dir, offset);
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!("cannot delete {}: {e}", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_batch::BatchHeader;

    fn header(pid: i64, seq: i32, count: i32, offset: i64, attributes: i16) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes,
            last_offset_delta: count - 1,
            base_timestamp: 5,
            max_timestamp: 77,
            producer_id: pid,
            producer_epoch: 3,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn a_snapshot_keeps_the_last_batch_and_the_open_transaction() {
        let mut t = ProducerStateTable::new();
        t.apply_data(&header(10, 0, 4, 0, 0));
        t.apply_data(&header(10, 4, 2, 4, 0));
        t.apply_data(&header(11, 0, 1, 6, 0x10));
        let bytes = encode(&t);
        assert_eq!(bytes.len(), HEADER_LEN + 2 * ENTRY_LEN);
        assert_eq!(&bytes[..2], &[0, 1]);
        let back = decode(&bytes).unwrap();
        let e = back.get(10).unwrap();
        assert_eq!(e.batches.len(), 1);
        assert_eq!(
            e.batches[0],
            BatchMeta {
                first_seq: 4,
                last_seq: 5,
                first_offset: 4,
                last_offset: 5,
                timestamp: 77
            }
        );
        assert_eq!(back.get(11).unwrap().current_txn_first_offset, Some(6));
        assert_eq!(back.first_unstable_offset(), Some(6));
        // The same table gives the same bytes.
        assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn a_damaged_snapshot_is_refused() {
        let mut t = ProducerStateTable::new();
        t.apply_data(&header(10, 0, 4, 0, 0));
        let mut bytes = encode(&t);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(decode(&bytes).unwrap_err().contains("CRC"));
        assert!(decode(&bytes[..12]).is_err());
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn written_atomically_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ProducerStateTable::new();
        t.apply_data(&header(1, 0, 1, 0, 0));
        write(dir.path(), 42, &t).unwrap();
        write(dir.path(), 7, &ProducerStateTable::new()).unwrap();
        assert_eq!(list(dir.path()), vec![7, 42]);
        assert!(dir.path().join("00000000000000000042.snapshot").exists());
        assert_eq!(read(dir.path(), 42), Some(t));
        delete_where(dir.path(), |o| o < 42);
        assert_eq!(list(dir.path()), vec![42]);
    }
}
