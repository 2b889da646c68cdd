//! `inspect dump <file.snapshot>`: a partition's producer state as of an offset (see
//! `log/producer_snapshot.rs` for Kafka's format): each producer id with its epoch, its
//! last batch's sequence and offsets, the coordinator epoch of its last marker, and the
//! first offset of its open transaction, the one holding the last stable offset back.
//!
//! Flow: beside the message path. `PartitionLog` writes a snapshot at each segment roll
//! and at a clean stop; on open it loads the newest one and replays the batches after it.
//!
//! What must stay true: the file is decoded by the log's own decoder
//! (`producer_snapshot::decode`, which checks the version, the CRC and the length); one
//! it refuses is reported with the reason (the broker would rebuild the state from the
//! log), not an error; nothing is written.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{format, InspectError, RunningBroker};
use crate::log::producer_snapshot::{decode, VERSION};
use crate::log::segment::parse_file_name;

/// What one `.snapshot` holds.
#[derive(Debug, Serialize)]
pub struct ProducerSnapshotDump {
    pub file: String,
    /// Set when a broker holds the lock of the data dir the file is in.
    pub broker_running: Option<RunningBroker>,
    /// The snapshot holds the state of every batch below this offset (its name).
    pub offset: Option<i64>,
    pub bytes: usize,
    /// Why the broker would not use it (version, CRC, length); `None`: valid.
    pub invalid: Option<String>,
    /// By producer id.
    pub producers: Vec<SnapshotProducerDump>,
}

/// One producer id's entry.
#[derive(Debug, Serialize)]
pub struct SnapshotProducerDump {
    pub producer_id: i64,
    pub epoch: i16,
    /// The last sequence of its last batch (`None`: no batch in this epoch).
    pub last_sequence: Option<i32>,
    pub first_sequence: Option<i32>,
    /// The offsets of its last batch.
    pub last_batch_first_offset: Option<i64>,
    pub last_batch_last_offset: Option<i64>,
    /// The maxTimestamp of its last batch.
    pub last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker (-1: none).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction (`None`: none open).
    pub current_txn_first_offset: Option<i64>,
}

/// Reads a `.snapshot` file.
pub fn dump_producer_snapshot(
    path: &Path,
    name: &str,
    broker_running: Option<RunningBroker>,
) -> Result<ProducerSnapshotDump, InspectError> {
    let bytes = std::fs::read(path).map_err(|e| InspectError::new(path, e))?;
    let (invalid, producers) = match decode(&bytes) {
        Ok(table) => {
            let mut producers: Vec<SnapshotProducerDump> = table
                .entries()
                .map(|e| {
                    let last = e.batches.back();
                    SnapshotProducerDump {
                        producer_id: e.producer_id,
                        epoch: e.epoch,
                        last_sequence: last.map(|b| b.last_seq),
                        first_sequence: last.map(|b| b.first_seq),
                        last_batch_first_offset: last.map(|b| b.first_offset),
                        last_batch_last_offset: last.map(|b| b.last_offset),
                        last_timestamp: e.last_timestamp,
                        coordinator_epoch: e.coordinator_epoch,
                        current_txn_first_offset: e.current_txn_first_offset,
                    }
                })
                .collect();
            producers.sort_by_key(|p| p.producer_id);
            (None, producers)
        }
        Err(why) => (Some(why), Vec::new()),
    };
    Ok(ProducerSnapshotDump {
        file: name.to_string(),
        broker_running,
        offset: parse_file_name(name, "snapshot"),
        bytes: bytes.len(),
        invalid,
        producers,
    })
}

impl ProducerSnapshotDump {
    /// The text rendering.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let offset = self.offset.map_or("unknown".into(), |o| {
            format!("every batch below offset {o}")
        });
        writeln!(
            out,
            "producer snapshot {}: the producer state of {offset}, {} bytes",
            self.file, self.bytes
        )?;
        if let Some(running) = &self.broker_running {
            writeln!(out, "{running}")?;
        }
        if let Some(why) = &self.invalid {
            return writeln!(
                out,
                "  not a valid snapshot ({why}): the broker ignores it and rebuilds the state from the log"
            );
        }
        writeln!(
            out,
            "  version {VERSION}, CRC ok, {}",
            crate::explain::count(self.producers.len(), "producer")
        )?;
        for p in &self.producers {
            let last = match (
                p.first_sequence,
                p.last_sequence,
                p.last_batch_first_offset,
                p.last_batch_last_offset,
            ) {
                (Some(fs), Some(ls), Some(fo), Some(lo)) => format!(
                    "last batch sequences {fs}..{ls} at {}",
                    crate::explain::offsets(fo, lo)
                ),
                _ => "no batch in this epoch".to_string(),
            };
            let txn = p
                .current_txn_first_offset
                .map_or("no open transaction".to_string(), |o| {
                    format!("open transaction from offset {o} (the last stable offset stops there)")
                });
            writeln!(
                out,
                "  producer id {} epoch {}: {last}, last timestamp {}, coordinator epoch {}, {txn}",
                p.producer_id,
                p.epoch,
                format::timestamp(p.last_timestamp),
                p.coordinator_epoch
            )?;
        }
        Ok(())
    }
}
