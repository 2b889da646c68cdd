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
    /// Zero bytes after the entries (preallocated space).
    pub zero_tail_bytes: usize,
    /// Non-zero bytes after the entries (stale or corrupt).
    pub junk_tail_bytes: usize,
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
    let rest = &bytes[entries.len() * TIME_ENTRY_LEN..];
    let zero = rest.iter().all(|&b| b == 0);
    Ok(TimeIndexDump {
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
        zero_tail_bytes: if zero { rest.len() } else { 0 },
        junk_tail_bytes: if zero { 0 } else { rest.len() },
    })
}

impl TimeIndexDump {
    /// The text rendering.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "time index {}: base offset {}, {} bytes, {}",
            self.file,
            self.base_offset.map_or("unknown".into(), |b| b.to_string()),
            self.bytes,
            crate::explain::count(self.entries.len(), "entry")
        )?;
        if let Some(running) = &self.broker_running {
            writeln!(out, "{running}")?;
        }
        for e in &self.entries {
            let absolute = e.offset.map_or(String::new(), |o| format!(" (offset {o})"));
            writeln!(
                out,
                "  timestamp {} -> relative offset {}{absolute}",
                format::timestamp(e.timestamp),
                e.relative_offset
            )?;
        }
        if self.zero_tail_bytes > 0 {
            writeln!(
                out,
                "  {} zero bytes of preallocated space (the segment is active or was not closed cleanly)",
                self.zero_tail_bytes
            )?;
        }
        if self.junk_tail_bytes > 0 {
            writeln!(
                out,
                "  entries stop at byte {}: the next {} bytes do not follow (stale or corrupt; recovery rebuilds the time index)",
                self.bytes - self.junk_tail_bytes,
                self.junk_tail_bytes
            )?;
        }
        Ok(())
    }
}
