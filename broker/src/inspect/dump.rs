//! `inspect dump <file.log|file.index>`: every batch and record of a segment, or every
//! entry of an offset index, exactly as stored.
//!
//! Flow: reads what the segment (`log/segment.rs`) and index (`log/index.rs`) wrote;
//! uses `record_batch` to check CRCs and decode records (decompressing when needed).
//! A batch with a bad CRC is shown and marked `CRC bad`; bytes that cannot be a batch
//! end the dump with a line saying where and why.
//!
//! What must stay true:
//! - Read-only, and framed by `BatchReader`, the reader recovery scans with: a torn
//!   tail shown here is a place recovery would cut (it also cuts at a bad CRC).
//! - A bad CRC or unreadable records is reported and the dump goes on; only bytes that
//!   cannot be framed as a batch end it.
//! - A failure to write the output is reported as such, never blamed on the file.

use std::io::Write;
use std::path::Path;

use super::format;
use super::InspectError;
use crate::log::index::{parse_entries, ENTRY_LEN};
use crate::log::record;
use crate::log::record_batch::{self, BatchHeader};
use crate::log::segment::{parse_file_name, BatchReader, ReadStep};

/// `inspect dump <file.log|file.index>`.
pub fn dump(path: &Path, out: &mut dyn Write) -> Result<(), InspectError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| InspectError::new(path, "not a file name"))?;
    let meta = std::fs::metadata(path).map_err(|e| InspectError::new(path, e))?;
    if !meta.is_file() {
        return Err(InspectError::new(path, "not a regular file"));
    }
    let w = |e: std::io::Error| InspectError::new("standard output", e);
    if name.ends_with(".log") {
        dump_log(path, name, out).map_err(|e| match e {
            DumpError::Io(e) => w(e),
            DumpError::Read(e) => InspectError::new(path, e),
        })
    } else if name.ends_with(".index") {
        dump_index(path, name, out)
    } else {
        Err(InspectError::new(
            path,
            "not a segment file: expected <base offset>.log or <base offset>.index",
        ))
    }
}

enum DumpError {
    /// Writing the output failed.
    Io(std::io::Error),
    /// Reading the segment failed.
    Read(std::io::Error),
}

fn dump_log(path: &Path, name: &str, out: &mut dyn Write) -> Result<(), DumpError> {
    let file = std::fs::File::open(path).map_err(DumpError::Read)?;
    let size = file.metadata().map_err(DumpError::Read)?.len();
    let base = parse_file_name(name, "log");
    writeln!(
        out,
        "segment {name}: base offset {}, {size} bytes",
        base.map_or("unknown (name is not <20 digits>.log)".into(), |b| b
            .to_string())
    )
    .map_err(DumpError::Io)?;
    let mut reader = BatchReader::new(&file, 0, size);
    let (mut batches, mut records, mut bad_crc) = (0u64, 0u64, 0u64);
    while let Some(step) = reader.next_step().map_err(DumpError::Read)? {
        match step {
            ReadStep::Batch { position, bytes } => {
                batches += 1;
                let (n, crc_ok) = dump_batch(position, &bytes, out).map_err(DumpError::Io)?;
                records += n;
                bad_crc += u64::from(!crc_ok);
            }
            ReadStep::Torn { position, reason } => {
                writeln!(
                    out,
                    "torn tail at position {position}: {reason} ({} bytes not shown; recovery would cut here)",
                    size - position
                )
                .map_err(DumpError::Io)?;
                break;
            }
        }
    }
    writeln!(
        out,
        "total: {batches} batches, {records} records, {bad_crc} with a bad CRC"
    )
    .map_err(DumpError::Io)
}

/// Prints one batch and its records; returns (records printed, CRC ok).
fn dump_batch(position: u64, bytes: &[u8], out: &mut dyn Write) -> std::io::Result<(u64, bool)> {
    let h = match BatchHeader::parse(bytes) {
        Ok(h) => h,
        Err(e) => {
            writeln!(out, "batch at position {position}: {e}")?;
            return Ok((0, false));
        }
    };
    let computed = record_batch::compute_crc(bytes);
    let crc = if computed == h.crc {
        format!("CRC ok ({:#010x})", h.crc)
    } else {
        format!(
            "CRC bad (stored {:#010x}, computed {computed:#010x})",
            h.crc
        )
    };
    let compression = h.compression().map_or("unknown", |c| c.name());
    let mut flags = String::new();
    if h.is_transactional() {
        flags.push_str(", transactional");
    }
    if h.is_control() {
        flags.push_str(", control");
    }
    if h.is_log_append_time() {
        flags.push_str(", LogAppendTime");
    }
    writeln!(
        out,
        "batch offsets {}..={} position {position} size {} magic {} {crc} compression {compression} records {}{flags}",
        h.base_offset,
        h.last_offset(),
        bytes.len(),
        h.magic,
        h.record_count
    )?;
    writeln!(
        out,
        "  base timestamp {} max timestamp {} producer id {} epoch {} base sequence {} leader epoch {}",
        format::timestamp(h.base_timestamp),
        format::timestamp(h.max_timestamp),
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        h.partition_leader_epoch
    )?;
    let recs = match record::records(bytes) {
        Ok(r) => r,
        Err(e) => {
            writeln!(out, "  records unreadable: {e}")?;
            return Ok((0, computed == h.crc));
        }
    };
    for r in &recs {
        write!(
            out,
            "  offset {} timestamp {} key {} value {}",
            r.offset,
            format::timestamp(r.timestamp),
            format::bytes(r.key.as_deref()),
            format::bytes(r.value.as_deref())
        )?;
        if !r.headers.is_empty() {
            let hs: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("{k:?}={}", format::bytes(v.as_deref())))
                .collect();
            write!(out, " headers {}", hs.join(" "))?;
        }
        writeln!(out)?;
    }
    Ok((recs.len() as u64, computed == h.crc))
}

fn dump_index(path: &Path, name: &str, out: &mut dyn Write) -> Result<(), InspectError> {
    let bytes = std::fs::read(path).map_err(|e| InspectError::new(path, e))?;
    let w = |e: std::io::Error| InspectError::new("standard output", e);
    let base = parse_file_name(name, "index");
    let entries = parse_entries(&bytes);
    writeln!(
        out,
        "index {name}: base offset {}, {} bytes, {} entries",
        base.map_or("unknown".into(), |b| b.to_string()),
        bytes.len(),
        entries.len()
    )
    .map_err(w)?;
    for e in &entries {
        let absolute = base.map_or(String::new(), |b| {
            format!(" (offset {})", b + i64::from(e.relative_offset))
        });
        writeln!(
            out,
            "  relative offset {}{absolute} -> position {}",
            e.relative_offset, e.position
        )
        .map_err(w)?;
    }
    let used = entries.len() * ENTRY_LEN;
    let rest = &bytes[used..];
    if rest.iter().all(|&b| b == 0) {
        if !rest.is_empty() {
            writeln!(
                out,
                "  {} zero bytes of preallocated space (the segment is active or was not closed cleanly)",
                rest.len()
            )
            .map_err(w)?;
        }
    } else {
        writeln!(
            out,
            "  entries stop at byte {used}: the next {} bytes are not increasing entries (stale or corrupt; recovery rebuilds the index)",
            rest.len()
        )
        .map_err(w)?;
    }
    Ok(())
}
