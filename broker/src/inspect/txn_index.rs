//! `inspect dump <file.txnindex>`: every entry of a segment's aborted-transaction index
//! (see `log/txn_index.rs` for the 34-byte entry): whose transaction was aborted, from
//! which offset to its ABORT marker, and the last stable offset after it; with `--hex`,
//! each entry's bytes labelled.
//!
//! Flow: beside the message path. `PartitionLog::append_marker` appends an entry when an
//! ABORT marker is written; a `read_committed` Fetch answers `aborted_transactions` from
//! these entries, and the consumer drops those records.
//!
//! What must stay true: entries are read by the log's own decoder
//! (`log/txn_index.rs: AbortedTxn::decode`, `ENTRY_LEN`); bytes after the last whole
//! entry (a torn append) are reported, as the broker's load ignores them; nothing is
//! written.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::hex::{self, HexField};
use super::{InspectError, RunningBroker};
use crate::log::segment::parse_file_name;
use crate::log::txn_index::{AbortedTxn, ENTRY_LEN};

/// What one `.txnindex` holds.
#[derive(Debug, Serialize)]
pub struct TxnIndexDump {
    pub file: String,
    /// Set when a broker holds the lock of the data dir the file is in.
    pub broker_running: Option<RunningBroker>,
    /// The base offset of the segment holding the entries' markers.
    pub base_offset: Option<i64>,
    pub bytes: usize,
    pub entries: Vec<TxnEntryDump>,
    /// Bytes after the last whole entry (a torn append: the broker ignores them).
    pub torn_tail_bytes: usize,
}

/// One aborted transaction.
#[derive(Debug, Serialize)]
pub struct TxnEntryDump {
    /// Where the entry starts in the file.
    pub position: usize,
    pub version: i16,
    pub producer_id: i64,
    /// Its first record in this partition.
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
    /// The last stable offset once the marker was written.
    pub last_stable_offset: i64,
    /// With `--hex`: the entry's bytes, field by field.
    pub entry_bytes: Option<Vec<HexField>>,
}

/// Reads a `.txnindex` file.
pub fn dump_txn_index(
    path: &Path,
    name: &str,
    hex: bool,
    broker_running: Option<RunningBroker>,
) -> Result<TxnIndexDump, InspectError> {
    let bytes = std::fs::read(path).map_err(|e| InspectError::new(path, e))?;
    let entries = bytes
        .chunks_exact(ENTRY_LEN)
        .enumerate()
        .map(|(i, chunk)| {
            let t = AbortedTxn::decode(chunk);
            TxnEntryDump {
                position: i * ENTRY_LEN,
                version: i16::from_be_bytes([chunk[0], chunk[1]]),
                producer_id: t.producer_id,
                first_offset: t.first_offset,
                last_offset: t.last_offset,
                last_stable_offset: t.last_stable_offset,
                entry_bytes: hex.then(|| hex::annotate_txn_entry(chunk, i * ENTRY_LEN)),
            }
        })
        .collect();
    Ok(TxnIndexDump {
        file: name.to_string(),
        broker_running,
        base_offset: parse_file_name(name, "txnindex"),
        bytes: bytes.len(),
        entries,
        torn_tail_bytes: bytes.len() % ENTRY_LEN,
    })
}

impl TxnIndexDump {
    /// The text rendering.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        super::offset_index::write_index_head(
            out,
            "aborted-transaction index",
            &self.file,
            self.base_offset,
            self.bytes,
            self.entries.len(),
            self.broker_running.as_ref(),
        )?;
        for e in &self.entries {
            writeln!(
                out,
                "  producer id {}: aborted transaction from offset {} to its ABORT marker at {}, last stable offset {} after it (version {})",
                e.producer_id, e.first_offset, e.last_offset, e.last_stable_offset, e.version
            )?;
            if let Some(fields) = &e.entry_bytes {
                hex::write_fields(fields, out)?;
            }
        }
        if self.torn_tail_bytes > 0 {
            writeln!(
                out,
                "  {} bytes after the last whole entry (a torn append; the broker ignores them)",
                self.torn_tail_bytes
            )?;
        }
        writeln!(
            out,
            "a read_committed Fetch reports these as aborted_transactions (producer id, first offset);\nthe consumer drops that producer's records from there up to the marker"
        )
    }
}
