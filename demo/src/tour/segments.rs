//! Chapter 7, segments: a topic with a small `segment.bytes` rolls to a new segment
//! every few batches; with a short `retention.ms`, the retention check then deletes the
//! old segments whole, and the log start offset moves up. Before and after, side by side.
//!
//! Where it sits: the bottom of the flow, partition log → segments; retention runs beside
//! it, every `log.retention.check.interval.ms` ([`super::RETENTION_CHECK_INTERVAL`]).
//!
//! What must stay true: the topic's small settings are topic configs (CreateTopics), so
//! no other topic of the tour rolls or loses data.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use minikafka_broker::snapshot::{PartitionView, Snapshot};
use minikafka_client::{Admin, NewTopic, Offset, PartitionReader, ReaderConfig};

use super::out::{count, offsets};
use super::{clients, refs, Tour, RETENTION_CHECK_INTERVAL};

pub const TITLE: &str = "Segments";
const TOPIC: &str = "tour-segments";
/// `segment.bytes` of the topic: about three of the demo's batches.
const SEGMENT_BYTES: u64 = 600;
/// `retention.ms` of the topic.
const RETENTION_MS: u64 = 2000;
/// How many messages it gets.
const COUNT: u64 = 10;

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        7,
        TITLE,
        &format!(
            "Topic {TOPIC} has 1 partition, segment.bytes={SEGMENT_BYTES} (Kafka: 1 GiB) and\n\
             retention.ms={RETENTION_MS} (Kafka: 7 days). Its log rolls to a new segment every\n\
             few messages, then retention deletes the old segments and the log start moves."
        ),
    );
    let admin = Admin::new(tour.producer_config().client).await?;
    admin
        .create_topics(&[NewTopic::new(TOPIC, 1)
            .config("segment.bytes", SEGMENT_BYTES.to_string())
            .config("retention.ms", RETENTION_MS.to_string())])
        .await
        .with_context(|| format!("cannot create {TOPIC}"))?;
    out.client(format!(
        "Admin::create_topics: {TOPIC}, 1 partition, topic configs segment.bytes={SEGMENT_BYTES} \
         and retention.ms={RETENTION_MS}"
    ));
    out.code(
        &refs::LOG_CONFIG,
        "applies a topic's configs over the broker's defaults",
    );

    out.client(format!(
        "{COUNT} messages to {TOPIC}, and the segment each one went into:"
    ));
    let mut segments_before = 1;
    let mut lines = Vec::new();
    clients::produce_to(tour, TOPIC, 0..COUNT, |meta| {
        let p = partition(&tour.snapshot()?)?;
        let active = p.segments.last().context("an active segment")?;
        let rolled = if p.segments.len() > segments_before {
            "   ← rolled: the previous segment was full (segment.bytes)"
        } else {
            ""
        };
        segments_before = p.segments.len();
        lines.push(format!(
            "{TOPIC} [0] @ {} → {}{rolled}",
            meta.offset,
            active.file.rsplit('/').next().unwrap_or_default()
        ));
        Ok(())
    })
    .await?;
    for line in &lines {
        out.line(line);
    }
    out.code(
        &refs::MAYBE_ROLL,
        "closes the active segment and opens the next",
    );

    let before = partition(&tour.snapshot()?)?;
    out.broker("before retention:");
    show_partition(tour, &before);
    ensure!(before.segments.len() > 1, "the log did not roll");

    let waiting = Instant::now();
    let after = tour
        .wait_for(
            "retention to delete the old segments",
            Duration::from_millis(RETENTION_MS) + Duration::from_secs(15),
            |snap| partition(snap).ok().filter(|p| p.log_start_offset > 0),
        )
        .await?;
    out.broker(format!(
        "after retention ({:.1} s later; it checks every {} ms and deletes a segment whose\n  \
         newest record is older than retention.ms):",
        waiting.elapsed().as_secs_f64(),
        RETENTION_CHECK_INTERVAL.as_millis()
    ));
    show_partition(tour, &after);
    let deleted: Vec<_> = before
        .segments
        .iter()
        .filter(|s| {
            !after
                .segments
                .iter()
                .any(|a| a.base_offset == s.base_offset)
        })
        .collect();
    for s in &deleted {
        let gone = !tour.data_dir.join(&s.file).exists();
        out.line(format!(
            "deleted {} ({}){}",
            s.file,
            offsets(s.base_offset, s.next_offset - 1),
            if gone { ": the file is gone" } else { "" }
        ));
    }
    out.key_line(format!(
        "log start offset: {} → {}",
        before.log_start_offset, after.log_start_offset
    ));
    out.code(
        &refs::APPLY_RETENTION,
        "deletes whole segments, oldest first, never the active one",
    );

    let mut reader = PartitionReader::assign(
        ReaderConfig::new(&tour.bootstrap),
        TOPIC,
        0,
        Offset::Earliest,
    )
    .await?;
    let first = tokio::time::timeout(Duration::from_secs(10), reader.next())
        .await
        .context("no record within 10 s")??;
    out.client(format!(
        "a reader asking for the earliest offset now starts at {} (offsets below it are gone)",
        first.offset
    ));
    ensure!(
        first.offset == after.log_start_offset,
        "the reader did not start at the log start"
    );
    out.note(
        "Notice: retention never deletes single records, only whole segments, and never the\n\
         active one; consumers behind the log start offset jump to it (auto.offset.reset).",
    );
    Ok(())
}

/// The topic's one partition.
fn partition(snapshot: &Snapshot) -> Result<PartitionView> {
    super::first_partition(snapshot, TOPIC)
}

fn show_partition(tour: &Tour, p: &PartitionView) {
    tour.out.line(format!(
        "log start offset {}, log end offset {}, {}:",
        p.log_start_offset,
        p.log_end_offset,
        count(p.segments.len(), "segment")
    ));
    for (i, s) in p.segments.iter().enumerate() {
        let active = if i + 1 == p.segments.len() {
            "  (active)"
        } else {
            ""
        };
        tour.out.line(format!(
            "  {}  {}, {} bytes{active}",
            s.file,
            offsets(s.base_offset, s.next_offset - 1),
            s.size_bytes
        ));
    }
}
