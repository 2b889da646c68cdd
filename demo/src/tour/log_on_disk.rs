//! Chapter 2, the log on disk: the files of each partition, the index entries, and one
//! batch as an annotated hexdump (which bytes are the base offset, the length, the CRC,
//! the attributes, …), then its records.
//!
//! Where it sits: the bottom of the flow, partition log → **segment** (`.log` + `.index`).
//!
//! What must stay true: nothing here parses bytes itself. Batches, records and index
//! entries come from `minikafka_broker::inspect::dump` and the header labels from
//! `inspect::hex::annotate_header`: the broker's own decoders, read-only.

use std::path::Path;

use anyhow::{Context, Result};
use minikafka_broker::inspect::{self, hex, DumpReport, Shown};
use minikafka_client::partitioner::partition_for_key;

use super::out::{count, offsets};
use super::{refs, Tour, INDEX_INTERVAL_BYTES, TOPIC};

pub const TITLE: &str = "The log on disk";

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        2,
        TITLE,
        "Each partition is a directory of segments: a .log file holding the record batches\n\
         exactly as the producer sent them, an .index mapping offsets to byte positions,\n\
         and a .timeindex mapping timestamps to offsets.",
    );
    tour.ensure_demo_messages().await?;
    let snapshot = tour.snapshot()?;
    let topic = snapshot
        .topics
        .iter()
        .find(|t| t.name == TOPIC)
        .context("demo-topic is missing")?;

    out.broker(format!("the files, under {}:", tour.data_dir.display()));
    for p in &topic.partitions {
        let dir = tour.data_dir.join(format!("{TOPIC}-{}", p.partition));
        for (name, size) in files(&dir)? {
            out.line(format!(
                "{TOPIC}-{}/{name:<28} {size:>9} bytes",
                p.partition
            ));
        }
    }
    out.line("each .index and .timeindex is preallocated to segment.index.bytes (10 MiB, in whole");
    out.line("entries) so it can be memory-mapped; both are trimmed to their entries (8 and 12");
    out.line("bytes each) when the segment rolls.");

    // The partition of student_1, the first key: it holds several batches.
    let partition = partition_for_key(crate::DEMO_KEYS[0].as_bytes(), 3);
    let view = topic
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .context("the partition of student_1")?;
    let segment = view.segments.first().context("a segment")?;
    let log_path = tour.data_dir.join(&segment.file);
    let index_path = log_path.with_extension("index");
    let DumpReport::Log(log) = inspect::dump(&log_path, true)? else {
        anyhow::bail!("{} is not a log", log_path.display());
    };
    out.broker(format!(
        "{}: {} (one per send: the producer awaited each)",
        segment.file,
        count(log.batches.len(), "batch")
    ));
    out.line(format!(
        "{:>8}  {:<10}  {:>5}  first record",
        "position", "holds", "bytes"
    ));
    for b in &log.batches {
        let first = b.records.first();
        out.line(format!(
            "{:>8}  {:<10}  {:>5}  key={} value={}",
            b.position,
            match (b.base_offset, b.last_offset) {
                (Some(first), Some(last)) => offsets(first, last),
                _ => "?".to_string(),
            },
            b.size,
            text(first.and_then(|r| r.key.as_ref())),
            text(first.and_then(|r| r.value.as_ref())),
        ));
    }
    out.code(
        &refs::SEGMENT_APPEND,
        "appends a batch at the end of the .log",
    );

    let DumpReport::Index(index) = inspect::dump(&index_path, false)? else {
        anyhow::bail!("{} is not an index", index_path.display());
    };
    out.broker(format!(
        "{}: {} (one after every {INDEX_INTERVAL_BYTES} bytes written, index.interval.bytes)",
        segment.file.replace(".log", ".index"),
        count(index.entries.len(), "entry")
    ));
    for e in &index.entries {
        out.line(format!(
            "relative offset {} (offset {}) → byte position {}",
            e.relative_offset,
            e.offset.unwrap_or(-1),
            e.position
        ));
    }
    out.line("a fetch for offset N starts at the last entry ≤ N, then walks the batches.");
    out.code(&refs::INDEX_DUE, "decides when a batch gets an entry");
    out.code(&refs::SEGMENT_FIND, "looks an offset up through the index");

    let time_path = log_path.with_extension("timeindex");
    let DumpReport::TimeIndex(times) = inspect::dump(&time_path, false)? else {
        anyhow::bail!("{} is not a time index", time_path.display());
    };
    out.broker(format!(
        "{}: {} (at the same moments, when the largest timestamp grew)",
        segment.file.replace(".log", ".timeindex"),
        count(times.entries.len(), "entry")
    ));
    for e in &times.entries {
        out.line(format!(
            "timestamp {} → offset {}",
            e.timestamp,
            e.offset.unwrap_or(-1)
        ));
    }
    out.line("ListOffsets by time (\"from 10:00 on\") starts at the last entry ≤ the time asked;");
    out.line("a segment that rolls gets one more entry: its largest timestamp, which retention.ms reads.");
    out.code(
        &refs::TIME_ENTRY_DUE,
        "decides when a batch gets a time entry",
    );
    out.code(
        &refs::SEGMENT_FIND_TIMESTAMP,
        "finds the first batch at or after a time",
    );

    let batch = log.batches.first().context("a batch")?;
    let bytes =
        std::fs::read(&log_path).with_context(|| format!("cannot read {}", log_path.display()))?;
    let start = usize::try_from(batch.position)?;
    let raw = &bytes[start..start + batch.size];
    out.broker(format!(
        "the batch at position {} of {}, byte by byte ({} bytes):",
        batch.position, segment.file, batch.size
    ));
    let mut table = Vec::new();
    hex::write_table(&hex::annotate_header(raw), raw.len(), &mut table)?;
    for line in String::from_utf8_lossy(&table).lines() {
        out.line(line.trim_start());
    }
    out.line("the records section (varints: length, attributes, timestamp and offset deltas,");
    out.line("key length, key, value length, value, header count):");
    let header_len = minikafka_broker::log::record_batch::HEADER_LEN;
    for (i, row) in raw[header_len..].chunks(16).enumerate() {
        let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = row
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        out.line(format!(
            "{:>4}  {:<47}  {text}",
            header_len + i * 16,
            hex.join(" ")
        ));
    }
    for r in &batch.records {
        out.line(format!(
            "record at offset {}: key={} value={}",
            r.offset,
            text(r.key.as_ref()),
            text(r.value.as_ref())
        ));
    }
    out.code(&refs::BATCH_HEADER_PARSE, "reads these header fields");
    out.code(&refs::ANNOTATE_HEADER, "labelled them for this table");
    out.note(
        "Notice: the broker stored the producer's bytes as they came; it only wrote the\n\
         base offset (bytes 0..8) and the leader epoch (12..16). The CRC covers bytes 21..\n\
         so those writes keep it valid.",
    );
    Ok(())
}

/// A key or value: its text as is when it is UTF-8, else as `inspect` shows it.
fn text(s: Option<&Shown>) -> String {
    match s {
        Some(Shown::Text(t)) => t.clone(),
        other => inspect::shown(other),
    }
}

/// The files of a partition directory with their sizes, by name.
fn files(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let size = entry.metadata()?.len();
        files.push((entry.file_name().to_string_lossy().into_owned(), size));
    }
    files.sort();
    Ok(files)
}
