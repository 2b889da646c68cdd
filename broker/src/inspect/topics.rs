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
//! - The text and the `--json` output are two renderings of one [`TopicsReport`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{running_broker, InspectError};
use crate::log::index::parse_entries;
use crate::log::recovery::{list_segments, scan, CLEAN_SHUTDOWN_FILE};
use crate::log::segment::file_name;
use crate::log::time_index::parse_time_entries;
use crate::topics::{TopicsFile, TOPICS_FILE};

/// What `inspect topics` found.
#[derive(Debug, Serialize)]
pub struct TopicsReport {
    pub data_dir: String,
    /// Set when a broker holds the data dir's lock: it is running on it right now.
    pub broker_running: Option<super::RunningBroker>,
    pub topics: Vec<TopicReport>,
}

#[derive(Debug, Serialize)]
pub struct TopicReport {
    pub name: String,
    pub partitions: i32,
    pub config: BTreeMap<String, String>,
    pub partition_logs: Vec<PartitionReport>,
}

/// One `<topic>-<partition>/` directory.
#[derive(Debug, Serialize)]
pub struct PartitionReport {
    pub partition: i32,
    /// `false` when the directory is missing (then nothing else is filled in).
    pub present: bool,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub clean_shutdown: bool,
    /// A compacted topic's `cleaner-checkpoint`: the log cleaner has cleaned below it.
    pub cleaner_checkpoint: Option<i64>,
    pub segments: Vec<SegmentReport>,
}

#[derive(Debug, Serialize)]
pub struct SegmentReport {
    pub base_offset: i64,
    pub bytes: u64,
    pub batches: u64,
    pub records: u64,
    /// `None` when the `.index` file is missing.
    pub index_entries: Option<usize>,
    /// `None` when the `.timeindex` file is missing.
    pub time_index_entries: Option<usize>,
    /// The largest record timestamp (what `retention.ms` compares), if any record.
    pub max_timestamp: Option<i64>,
    /// The log cleaner has been over it (below the cleaner checkpoint): its offsets
    /// have gaps where older records of a key were removed.
    pub cleaned: bool,
    pub damage: Option<Damage>,
}

/// Where recovery would cut a segment, and why.
#[derive(Debug, Serialize)]
pub struct Damage {
    pub position: u64,
    pub reason: String,
    pub bytes_after: u64,
}

/// The topics of a data dir as `topics.json` lists them (an empty, fresh dir has none).
pub(super) fn read_topics_file(data_dir: &Path) -> Result<TopicsFile, InspectError> {
    let meta = std::fs::metadata(data_dir).map_err(|e| InspectError::new(data_dir, e))?;
    if !meta.is_dir() {
        return Err(InspectError::new(data_dir, "not a directory"));
    }
    let path = data_dir.join(TOPICS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => TopicsFile::parse(&bytes).map_err(|e| InspectError::new(&path, e)),
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
            Ok(TopicsFile::empty())
        }
        Err(e) => Err(InspectError::new(&path, e)),
    }
}

/// `inspect topics <data-dir>`.
pub fn topics(data_dir: &Path) -> Result<TopicsReport, InspectError> {
    let file = read_topics_file(data_dir)?;
    let mut topics = Vec::new();
    for (name, entry) in file.topics {
        let partition_logs = (0..entry.partitions.max(0))
            .map(|p| partition(&data_dir.join(format!("{name}-{p}")), p))
            .collect::<Result<Vec<_>, _>>()?;
        topics.push(TopicReport {
            name,
            partitions: entry.partitions,
            config: entry.config,
            partition_logs,
        });
    }
    Ok(TopicsReport {
        data_dir: data_dir.display().to_string(),
        broker_running: running_broker(data_dir)?,
        topics,
    })
}

/// Scans one partition directory, read-only.
pub(super) fn partition(dir: &Path, index: i32) -> Result<PartitionReport, InspectError> {
    let mut report = PartitionReport {
        partition: index,
        present: dir.is_dir(),
        log_start_offset: 0,
        log_end_offset: 0,
        clean_shutdown: dir.join(CLEAN_SHUTDOWN_FILE).exists(),
        cleaner_checkpoint: crate::log::recovery::read_offset_file(
            dir,
            crate::log::cleaner::CHECKPOINT_FILE,
        ),
        segments: Vec::new(),
    };
    if !report.present {
        return Ok(report);
    }
    for base in list_segments(dir).map_err(|e| InspectError::new(dir, e))? {
        let path = dir.join(file_name(base, "log"));
        let file = std::fs::File::open(&path).map_err(|e| InspectError::new(&path, e))?;
        let size = file
            .metadata()
            .map_err(|e| InspectError::new(&path, e))?
            .len();
        let s =
            scan(&file, &path, size, base, u32::MAX).map_err(|e| InspectError::new(&path, e))?;
        let entries = |ext: &str, parse: fn(&[u8]) -> usize| {
            let path = dir.join(file_name(base, ext));
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(parse(&bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(InspectError::new(&path, e)),
            }
        };
        let index_entries = entries("index", |b| parse_entries(b).len())?;
        let time_index_entries = entries("timeindex", |b| parse_time_entries(b).len())?;
        if report.segments.is_empty() {
            report.log_start_offset = base;
        }
        report.log_end_offset = s.next_offset;
        report.segments.push(SegmentReport {
            base_offset: base,
            bytes: size,
            batches: s.batches,
            records: s.records,
            index_entries,
            time_index_entries,
            max_timestamp: s.max.map(|(ts, _)| ts).filter(|&ts| ts >= 0),
            cleaned: report.cleaner_checkpoint.is_some_and(|c| base < c),
            damage: s.cut.map(|cut| Damage {
                position: cut.position,
                reason: cut.reason,
                bytes_after: size - cut.position,
            }),
        });
    }
    // DeleteRecords may have moved the start past the first segment (`log/log_start.rs`).
    if let Some(start) = crate::log::log_start::read(dir) {
        if !report.segments.is_empty() {
            report.log_start_offset = start.clamp(report.log_start_offset, report.log_end_offset);
        }
    }
    Ok(report)
}

impl TopicsReport {
    /// The text rendering.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "data dir {}: {}",
            self.data_dir,
            crate::explain::count(self.topics.len(), "topic")
        )?;
        if let Some(running) = &self.broker_running {
            writeln!(out, "{running}")?;
        }
        for t in &self.topics {
            let config: Vec<String> = t.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let config = if config.is_empty() {
                String::new()
            } else {
                format!(", config {}", config.join(" "))
            };
            writeln!(
                out,
                "topic {}: {}{config}",
                t.name,
                crate::explain::count(t.partitions, "partition")
            )?;
            for p in &t.partition_logs {
                p.write_text(self.broker_running.is_some(), out)?;
            }
        }
        Ok(())
    }
}

impl PartitionReport {
    fn write_text(&self, running: bool, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.present {
            return writeln!(out, "  partition {}: directory is missing", self.partition);
        }
        let state = if running {
            "broker running: the files are being written"
        } else if self.clean_shutdown {
            "clean shutdown"
        } else {
            "no clean-shutdown marker: recovery runs on open"
        };
        let cleaned = self
            .cleaner_checkpoint
            .map(|c| format!(", compacted below offset {c}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  partition {}: log start {}, log end {}, {}{cleaned} ({state})",
            self.partition,
            self.log_start_offset,
            self.log_end_offset,
            crate::explain::count(self.segments.len(), "segment")
        )?;
        writeln!(
            out,
            "    {:>20} {:>12} {:>8} {:>10} {:>13} {:>12}  max timestamp",
            "base offset", "bytes", "batches", "records", "index entries", "time entries"
        )?;
        let shown = |n: Option<usize>| n.map_or_else(|| "missing".to_string(), |n| n.to_string());
        for s in &self.segments {
            let max = s
                .max_timestamp
                .map_or_else(|| "-".to_string(), super::format::timestamp);
            let cleaned = if s.cleaned { "  (cleaned)" } else { "" };
            writeln!(
                out,
                "    {:>20} {:>12} {:>8} {:>10} {:>13} {:>12}  {max}{cleaned}",
                s.base_offset,
                s.bytes,
                s.batches,
                s.records,
                shown(s.index_entries),
                shown(s.time_index_entries)
            )?;
            if let Some(cut) = &s.damage {
                writeln!(
                    out,
                    "      damaged at byte {}: {} ({} bytes after it; recovery after a crash cuts here and drops later segments)",
                    cut.position, cut.reason, cut.bytes_after
                )?;
            }
        }
        Ok(())
    }
}
