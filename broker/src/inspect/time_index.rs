//! `inspect dump <file.timeindex>`: every entry of a segment's time index (see
//! `log/time_index.rs` for the 12-byte entry), with the absolute offset and the
//! timestamp as a date, and what follows the entries (preallocated zeros, or bytes
//! recovery would drop).
//!
//! What must stay true: the entries are read by the log's own parser
//! (`log/time_index.rs: parse_time_entries`), so this shows exactly what the broker
//! would use; nothing is written.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::offset_index::{write_index_head, IndexTail};
use super::{format, InspectError, RunningBroker};
use crate::log::segment::parse_file_name;
use crate::log::time_index::{parse_time_entries, TIME_ENTRY_LEN};

/// What one `.timeindex` holds.
#[derive(Debug, Serialize)]
pub struct TimeIndexDump {
    pub file: String,
    /// Set when a broker holds the lock of the data dir the file is in.
    pub broker_running: Option<RunningBroker>,
    pub base_offset: Option<i64>,
    pub bytes: usize,
    pub entries: Vec<TimeEntryDump>,
    #[serde(flatten)]
    pub tail: IndexTail,
}

/// One entry: the segment's largest timestamp up to (the batch of) `offset`.
#[derive(Debug, Serialize)]
pub struct TimeEntryDump {
    pub timestamp: i64,
    pub relative_offset: u32,
    pub offset: Option<i64>,
}

/// Reads a `.timeindex` file.
pub fn dump_time_index(
    path: &Path,
    name: &str,
    broker_running: Option<RunningBroker>,
) -> Result<TimeIndexDump, InspectError> {
    let bytes = std::fs::read(path).map_err(|e| InspectError::new(path, e))?;
    let base = parse_file_name(name, "timeindex");
    let entries = parse_time_entries(&bytes);
    Ok(TimeIndexDump {
        tail: IndexTail::of(&bytes, entries.len() * TIME_ENTRY_LEN),
        file: name.to_string(),
        broker_running,
        base_offset: base,
        bytes: bytes.len(),
        entries: entries
            .iter()
            .map(|e| TimeEntryDump {
                timestamp: e.timestamp,
                relative_offset: e.relative_offset,
                offset: base.map(|b| b + i64::from(e.relative_offset)),
            })
            .collect(),
    })
}

impl TimeIndexDump {
    /// The text rendering.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_index_head(
            out,
            "time index",
            &self.file,
            self.base_offset,
            self.bytes,
            self.entries.len(),
            self.broker_running.as_ref(),
        )?;
        for e in &self.entries {
            let absolute = e.offset.map_or(String::new(), |o| format!(" (offset {o})"));
            writeln!(
                out,
                "  timestamp {} -> relative offset {}{absolute}",
                format::timestamp(e.timestamp),
                e.relative_offset
            )?;
        }
        self.tail.write_text(self.bytes, "time index", out)
    }
}
