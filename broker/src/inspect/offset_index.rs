//! `inspect dump <file.index>`: every entry of a segment's offset index (see
//! `log/index.rs` for the 8-byte entry: relative offset, position), with the absolute
//! offset, and what follows the entries. Also the parts every index dump shares: the
//! head line ([`write_index_head`]) and the tail ([`IndexTail`]: preallocated zeros,
//! or bytes recovery would drop), used by `time_index.rs` and `txn_index.rs` too.
//!
//! What must stay true: the entries are read by the log's own parser
//! (`log/index.rs: parse_entries`), so this shows exactly what the broker would use;
//! nothing is written.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::InspectError;
use crate::log::index::{parse_entries, ENTRY_LEN};
use crate::log::segment::parse_file_name;

#[derive(Debug, Serialize)]
pub struct IndexDump {
    pub file: String,
    /// Set when a broker holds the lock of the data dir the file is in.
    pub broker_running: Option<super::RunningBroker>,
    pub base_offset: Option<i64>,
    pub bytes: usize,
    pub entries: Vec<IndexEntryDump>,
    #[serde(flatten)]
    pub tail: IndexTail,
}

/// What follows the entries of an index file (`.index` or `.timeindex`).
#[derive(Debug, Serialize)]
pub struct IndexTail {
    /// Zero bytes after the entries (preallocated space).
    pub zero_tail_bytes: usize,
    /// Non-zero bytes after the entries (stale or corrupt).
    pub junk_tail_bytes: usize,
}

impl IndexTail {
    /// The bytes of `file` after its first `used` bytes of entries.
    pub(super) fn of(file: &[u8], used: usize) -> IndexTail {
        let rest = &file[used.min(file.len())..];
        let zero = rest.iter().all(|&b| b == 0);
        IndexTail {
            zero_tail_bytes: if zero { rest.len() } else { 0 },
            junk_tail_bytes: if zero { 0 } else { rest.len() },
        }
    }

    /// The lines that say what the tail is; `rebuilt` names the index recovery rebuilds.
    pub(super) fn write_text(
        &self,
        file_len: usize,
        rebuilt: &str,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
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
                "  entries stop at byte {}: the next {} bytes do not follow them (stale or corrupt; recovery rebuilds the {rebuilt})",
                file_len - self.junk_tail_bytes,
                self.junk_tail_bytes
            )?;
        }
        Ok(())
    }
}

/// The first lines of an index dump: `<what> <file>: base offset …, bytes, entries`,
/// and the running-broker warning.
pub(super) fn write_index_head(
    out: &mut dyn Write,
    what: &str,
    file: &str,
    base_offset: Option<i64>,
    bytes: usize,
    entries: usize,
    running: Option<&super::RunningBroker>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{what} {file}: base offset {}, {bytes} bytes, {}",
        base_offset.map_or("unknown".into(), |b| b.to_string()),
        crate::explain::count(entries, "entry")
    )?;
    if let Some(running) = running {
        writeln!(out, "{running}")?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct IndexEntryDump {
    pub relative_offset: u32,
    pub offset: Option<i64>,
    pub position: u32,
}

pub(super) fn dump_index(path: &Path, name: &str) -> Result<IndexDump, InspectError> {
    let bytes = std::fs::read(path).map_err(|e| InspectError::new(path, e))?;
    let base = parse_file_name(name, "index");
    let entries = parse_entries(&bytes);
    Ok(IndexDump {
        tail: IndexTail::of(&bytes, entries.len() * ENTRY_LEN),
        broker_running: None,
        file: name.to_string(),
        base_offset: base,
        bytes: bytes.len(),
        entries: entries
            .iter()
            .map(|e| IndexEntryDump {
                relative_offset: e.relative_offset,
                offset: base.map(|b| b + i64::from(e.relative_offset)),
                position: e.position,
            })
            .collect(),
    })
}

impl IndexDump {
    pub(super) fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_index_head(
            out,
            "index",
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
                "  relative offset {}{absolute} -> position {}",
                e.relative_offset, e.position
            )?;
        }
        self.tail.write_text(self.bytes, "index", out)
    }
}
