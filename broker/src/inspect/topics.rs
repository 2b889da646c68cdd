//! `inspect topics <data-dir>`: topics, partitions, log start and end offsets, and for
//! each segment its base offset, bytes, batches, records and index entries.
//!
//! Flow: reads `topics.json` (parsed by `topics/file.rs: TopicsFile::parse`, as the
//! broker does) and each `<topic>-<partition>/` directory the partition log wrote.
//! Each segment is scanned with the same checks as recovery (`log/recovery.rs: scan`),
//! read-only, so for an undamaged directory the offsets shown are the ones the broker
//! would serve after opening it; damage is shown where recovery would cut.
//!
//! What must stay true:
//! - Read-only: the clean-shutdown marker is reported, never consumed.
//! - Topics, segments and batches are found by the broker's own functions
//!   (`TopicsFile::parse`, `list_segments`, `scan`), not a second copy.
//! - A missing `topics.json` in a non-empty directory is an error, not an empty listing.

use std::io::Write;
use std::path::Path;

use super::InspectError;
use crate::log::index::parse_entries;
use crate::log::recovery::{list_segments, scan, CLEAN_SHUTDOWN_FILE};
use crate::log::segment::file_name;
use crate::topics::{TopicsFile, TOPICS_FILE};

/// `inspect topics <data-dir>`.
pub fn topics(data_dir: &Path, out: &mut dyn Write) -> Result<(), InspectError> {
    let meta = std::fs::metadata(data_dir).map_err(|e| InspectError::new(data_dir, e))?;
    if !meta.is_dir() {
        return Err(InspectError::new(data_dir, "not a directory"));
    }
    let path = data_dir.join(TOPICS_FILE);
    let file: TopicsFile = match std::fs::read(&path) {
        Ok(bytes) => TopicsFile::parse(&bytes).map_err(|e| InspectError::new(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let empty = std::fs::read_dir(data_dir)
                .map_err(|e| InspectError::new(data_dir, e))?
                .next()
                .is_none();
            if !empty {
                return Err(InspectError::new(
                    &path,
                    "missing, and the directory is not empty: not a minikafka data directory",
                ));
            }
            TopicsFile::empty()
        }
        Err(e) => return Err(InspectError::new(&path, e)),
    };
    let w = |e: std::io::Error| InspectError::new("standard output", e);
    writeln!(
        out,
        "data dir {}: {} topics",
        data_dir.display(),
        file.topics.len()
    )
    .map_err(w)?;
    for (name, entry) in &file.topics {
        let config: Vec<String> = entry
            .config
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(
            out,
            "topic {name}: {} partitions{}",
            entry.partitions,
            if config.is_empty() {
                String::new()
            } else {
                format!(", config {}", config.join(" "))
            }
        )
        .map_err(w)?;
        for p in 0..entry.partitions.max(0) {
            partition(&data_dir.join(format!("{name}-{p}")), p, out)?;
        }
    }
    Ok(())
}

fn partition(dir: &Path, index: i32, out: &mut dyn Write) -> Result<(), InspectError> {
    let w = |e: std::io::Error| InspectError::new("standard output", e);
    if !dir.is_dir() {
        writeln!(
            out,
            "  partition {index}: directory {} is missing",
            dir.display()
        )
        .map_err(w)?;
        return Ok(());
    }
    let bases = list_segments(dir).map_err(|e| InspectError::new(dir, e))?;
    let mut rows = Vec::new();
    for &base in &bases {
        let path = dir.join(file_name(base, "log"));
        let file = std::fs::File::open(&path).map_err(|e| InspectError::new(&path, e))?;
        let size = file
            .metadata()
            .map_err(|e| InspectError::new(&path, e))?
            .len();
        let s =
            scan(&file, &path, size, base, u32::MAX).map_err(|e| InspectError::new(&path, e))?;
        let index_path = dir.join(file_name(base, "index"));
        let entries = match std::fs::read(&index_path) {
            Ok(bytes) => parse_entries(&bytes).len().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing".into(),
            Err(e) => return Err(InspectError::new(&index_path, e)),
        };
        rows.push((base, size, s, entries));
    }
    let start = rows.first().map_or(0, |r| r.0);
    let end = rows.last().map_or(0, |r| r.2.next_offset);
    let clean = if dir.join(CLEAN_SHUTDOWN_FILE).exists() {
        "clean shutdown"
    } else {
        "no clean-shutdown marker: recovery runs on open"
    };
    writeln!(
        out,
        "  partition {index}: log start {start}, log end {end}, {} segments ({clean})",
        rows.len()
    )
    .map_err(w)?;
    writeln!(
        out,
        "    {:>20} {:>12} {:>8} {:>10} {:>13}",
        "base offset", "bytes", "batches", "records", "index entries"
    )
    .map_err(w)?;
    for (base, size, s, entries) in &rows {
        writeln!(
            out,
            "    {base:>20} {size:>12} {:>8} {:>10} {entries:>13}",
            s.batches, s.records
        )
        .map_err(w)?;
        if let Some(cut) = &s.cut {
            writeln!(
                out,
                "      damaged at byte {}: {} ({} bytes after it; recovery after a crash cuts here and drops later segments)",
                cut.position,
                cut.reason,
                size - cut.position
            )
            .map_err(w)?;
        }
    }
    Ok(())
}
