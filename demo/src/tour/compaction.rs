//! Chapter 8, compaction: a topic with `cleanup.policy=compact` gets account balances,
//! several updates per key and a tombstone; a pass of the log cleaner then keeps only the
//! latest record of each key, at its original offset, merges the cleaned segments, and
//! stamps the tombstone's batch with a delete horizon; a pass after that horizon drops
//! the tombstone. Before and after, side by side, and what a consumer reads each time.
//!
//! Where it sits: the bottom of the flow, partition log → segments; the log cleaner runs
//! beside it. The broker's timer would clean every `log.cleaner.backoff.ms`; the tour
//! sets that to an hour ([`super::LOG_CLEANER_BACKOFF`]) and runs each pass itself with
//! `BrokerHandle::clean_now`, so the before and after are exactly one pass apart.
//!
//! What must stay true:
//! - The topic's settings are topic configs (CreateTopics), so no other topic of the tour
//!   is compacted.
//! - Nothing here parses bytes itself: records and headers come from
//!   `minikafka_broker::inspect` (`dump`, `hex::annotate_header`), the broker's decoders.
//! - Segments roll by time (`segment.ms`), between rounds of updates, so each round starts
//!   a segment; the lesson's words are computed from what the broker did, not assumed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use minikafka_broker::events::EventKind;
use minikafka_broker::inspect::{self, DumpReport, Shown};
use minikafka_broker::snapshot::{PartitionView, Snapshot};
use minikafka_client::{
    Admin, NewTopic, Offset, PartitionReader, Producer, ProducerRecord, ReaderConfig,
};

use super::out::{count, offsets};
use super::{refs, Tour, LOG_CLEANER_BACKOFF};

pub const TITLE: &str = "Compaction";
const TOPIC: &str = "tour-balances";
/// `segment.ms` of the topic: a segment rolls at the first append this long after it
/// was opened.
const SEGMENT_MS: u64 = 400;
/// The pause between two rounds of updates: longer than [`SEGMENT_MS`], so each round
/// starts a new segment.
const ROUND_PAUSE: Duration = Duration::from_millis(500);
/// `delete.retention.ms` of the topic: how long the cleaner keeps a tombstone.
const DELETE_RETENTION_MS: u64 = 1500;
/// `min.cleanable.dirty.ratio` of the topic (Kafka: 0.5).
const DIRTY_RATIO: &str = "0.01";

/// The balances, in rounds: `(user, Some(balance))`, or `None` to close the account (a
/// tombstone). The last round lands in the active segment.
const ROUNDS: [&[(&str, Option<u32>)]; 4] = [
    &[
        ("student_1", Some(100)),
        ("student_2", Some(50)),
        ("student_3", Some(75)),
    ],
    &[
        ("student_1", Some(80)),
        ("student_2", Some(65)),
        ("student_1", Some(60)),
    ],
    &[("student_3", None), ("student_2", Some(90))],
    &[("student_4", Some(10))],
];

/// A record as the chapter shows it: offset, key, value (`None`: a tombstone).
type Shown3 = (i64, String, Option<String>);

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        8,
        TITLE,
        &format!(
            "Topic {TOPIC} is compacted (cleanup.policy=compact): instead of deleting old\n\
             segments whole, the log cleaner keeps the latest record of every key and drops\n\
             the older ones. A key's latest value is its current state: the topic is a table\n\
             as well as a log."
        ),
    );
    let admin = Admin::new(tour.producer_config().client).await?;
    admin
        .create_topics(&[NewTopic::new(TOPIC, 1)
            .config("cleanup.policy", "compact")
            .config("segment.ms", SEGMENT_MS.to_string())
            .config("min.cleanable.dirty.ratio", DIRTY_RATIO)
            .config("delete.retention.ms", DELETE_RETENTION_MS.to_string())])
        .await
        .with_context(|| format!("cannot create {TOPIC}"))?;
    out.client(format!(
        "Admin::create_topics: {TOPIC}, 1 partition, cleanup.policy=compact, segment.ms={SEGMENT_MS},\n  \
         min.cleanable.dirty.ratio={DIRTY_RATIO} (Kafka: 0.5), delete.retention.ms={DELETE_RETENTION_MS} (Kafka: 1 day)"
    ));
    out.code(
        &refs::LOG_CONFIG,
        "applies a topic's configs over the broker's defaults",
    );

    out.client(format!(
        "account balances keyed by user, in rounds {} ms apart (so each round starts a segment,\n  \
         segment.ms={SEGMENT_MS}); a null value, a tombstone, closes student_3's account:",
        ROUND_PAUSE.as_millis()
    ));
    let produced = produce_rounds(tour).await?;

    let before = partition(&tour.snapshot()?)?;
    ensure!(
        before.segments.len() >= 3,
        "the log did not roll by segment.ms"
    );
    let before_records = records_by_segment(tour, &before)?;
    out.broker("before cleaning:");
    show_segments(tour, &before, &before_records, &BTreeMap::new(), "");

    // The first pass.
    let report = clean_now(tour).await?;
    let s = &report.stats;
    out.broker(format!(
        "BrokerHandle::clean_now: one pass of the log cleaner (the broker runs one every\n  \
         log.cleaner.backoff.ms; the tour set it to {} s to run them itself):",
        LOG_CLEANER_BACKOFF.as_secs()
    ));
    if let Some(why) = why(tour) {
        out.line(format!("why now: {why}"));
    }
    out.line(format!(
        "offsets below {} cleaned: the active segment's base, the first uncleanable offset",
        report.cleaned_up_to
    ));
    out.line(format!(
        "{} → {}, {} → {}, {} → {} bytes",
        count(s.segments_before, "segment"),
        s.segments_after,
        count(s.records_before as usize, "record"),
        s.records_after,
        s.bytes_before,
        s.bytes_after
    ));
    let after = partition(&tour.snapshot()?)?;
    for line in merged(&before, &after) {
        out.line(line);
    }
    out.code(
        &refs::CLEAN_NOW,
        "runs one pass now, for tests that embed the broker (and this tour)",
    );
    out.code(
        &refs::CLEANER_PLAN,
        "picks the segments: not the active one, nor any too young",
    );
    out.code(
        &refs::CLEANER_OFFSET_MAP,
        "key → offset of its latest record in the dirty part",
    );
    out.code(
        &refs::CLEANER_RETAINS,
        "keeps a record unless a later one has its key",
    );

    let after_records = records_by_segment(tour, &after)?;
    out.broker("after cleaning:");
    show_segments(
        tour,
        &after,
        &after_records,
        &gone(&before_records, &after_records),
        "a later record has the same key",
    );
    out.key_line(
        "the latest record of each key stays at its original offset; the offsets in between are gaps",
    );
    out.line("(a fetch from a gap returns the next batch after it: offsets only increase)");

    let horizon = show_tombstone_batch(tour, &after)?;
    let checkpoint_path = tour
        .data_dir
        .join(format!("{TOPIC}-0"))
        .join("cleaner-checkpoint");
    let checkpoint = std::fs::read_to_string(&checkpoint_path)
        .with_context(|| format!("cannot read {}", checkpoint_path.display()))?;
    out.broker(format!(
        "{TOPIC}-0/cleaner-checkpoint: {}  (the next pass's dirty part starts here)",
        checkpoint.trim()
    ));
    out.code(
        &refs::PARTITION_LOG_CLEAN,
        "one pass over a partition: plan, rewrite, swap, checkpoint",
    );

    let end = after.log_end_offset;
    let read = read_all(tour, end).await?;
    out.client(format!(
        "a reader from the earliest offset gets {}: the latest value of each key, at its\n  \
         original offset (a consumer restoring the table reads just these):",
        count(read.len(), "record")
    ));
    show_read(tour, &read);
    ensure!(
        read == after_cleaning(&produced, report.cleaned_up_to, false),
        "the reader got {read:?}"
    );

    // The second pass, after the delete horizon.
    let wait = horizon.saturating_sub(now_ms()).max(0) as u64 + 100;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let second = clean_now(tour).await?;
    out.broker(format!(
        "{:.1} s later, past the delete horizon, a second pass{}:",
        wait as f64 / 1000.0,
        why(tour).map(|w| format!(" ({w})")).unwrap_or_default()
    ));
    let last = partition(&tour.snapshot()?)?;
    let last_records = records_by_segment(tour, &last)?;
    let removed = gone(&after_records, &last_records);
    out.key_line(format!(
        "{} removed: {}",
        count(second.stats.tombstones_removed as usize, "tombstone"),
        removed
            .iter()
            .map(|(o, k)| format!("@{o} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    show_segments(
        tour,
        &last,
        &last_records,
        &removed,
        "its delete horizon passed",
    );
    let read = read_all(tour, end).await?;
    out.client(format!(
        "the reader from the earliest offset now gets {}; student_3 is gone for good:",
        count(read.len(), "record")
    ));
    show_read(tour, &read);
    ensure!(
        read == after_cleaning(&produced, report.cleaned_up_to, true),
        "after the second pass the reader got {read:?}"
    );
    out.code(&refs::SWAP_COMMIT, "the swap's commit point: one rename");
    out.code(
        &refs::SWAP_RECOVER,
        "after a crash: finishes a committed swap or deletes a .cleaned file",
    );
    out.note(
        "Notice: Kafka compacts a topic whose records are updates to keys: a changelog of a\n\
         table (Kafka Streams' state stores, Connect's configs), or __consumer_offsets, where\n\
         only each group's latest commit per partition matters. Reading it from the start\n\
         rebuilds the table, and compaction keeps that read short. (minikafka's\n\
         __consumer_offsets is not compacted yet: it keeps every commit.)\n\
         The active segment is never cleaned: it is still being written. A pass writes the\n\
         new segment beside the old ones (.cleaned), renames it to <base>-<end>.log.swap (the\n\
         commit point), deletes the old files, then renames it to <base>.log. A crash before\n\
         the rename leaves the old segments; after it, recovery finishes the swap: never a mix.",
    );
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why the last pass over the topic ran, in the words of its log line (the newest
/// `segment-cleaned` event: `… log cleaner (<why>): …`).
fn why(tour: &Tour) -> Option<String> {
    let snapshot = tour.snapshot().ok()?;
    let event = snapshot
        .events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::SegmentCleaned && e.text.starts_with(TOPIC))?;
    let rest = event.text.split_once("log cleaner (")?.1;
    Some(rest.split_once("):")?.0.to_string())
}

/// `{"user":…,"balance":…}`, the value of one update.
fn balance(user: &str, balance: u32) -> String {
    serde_json::json!({ "user": user, "balance": balance }).to_string()
}

/// Produces [`ROUNDS`], one record at a time, pausing [`ROUND_PAUSE`] between rounds, and
/// prints each delivery report. Returns what was sent, with the offsets.
async fn produce_rounds(tour: &Tour) -> Result<Vec<Shown3>> {
    let producer = Producer::new(tour.producer_config())
        .await
        .context("cannot start the producer")?;
    let mut sent = Vec::new();
    for (i, round) in ROUNDS.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        for (user, amount) in round.iter() {
            let value = amount.map(|a| balance(user, a));
            let mut record = ProducerRecord::new(TOPIC).key(user.to_string());
            if let Some(v) = &value {
                record = record.value(v.clone());
            }
            let meta = producer
                .send(record)
                .await
                .with_context(|| format!("sending {user}'s balance to {TOPIC}"))?;
            tour.out.line(format!(
                "{TOPIC} [0] @ {}  key={user}  value={}",
                meta.offset,
                value.as_deref().unwrap_or("null   (a tombstone)")
            ));
            sent.push((meta.offset, user.to_string(), value));
        }
    }
    producer.close().await;
    Ok(sent)
}

/// Runs one cleaning pass and returns its report for the topic's partition.
async fn clean_now(tour: &Tour) -> Result<minikafka_broker::log::partition_log::CleanReport> {
    let mut reports = tour.clean_now().await?;
    reports
        .remove(&format!("{TOPIC}-0"))
        .with_context(|| format!("the log cleaner had nothing to do on {TOPIC}-0"))
}

/// The topic's one partition.
fn partition(snapshot: &Snapshot) -> Result<PartitionView> {
    super::first_partition(snapshot, TOPIC)
}

/// The records of each segment (by base offset), read from its file with `inspect`.
fn records_by_segment(tour: &Tour, p: &PartitionView) -> Result<BTreeMap<i64, Vec<Shown3>>> {
    let mut out = BTreeMap::new();
    for s in &p.segments {
        let path = tour.data_dir.join(&s.file);
        let DumpReport::Log(log) = inspect::dump(&path, false)? else {
            bail!("{} is not a log", path.display());
        };
        let records = log
            .batches
            .iter()
            .flat_map(|b| &b.records)
            .map(|r| {
                (
                    r.offset,
                    text(r.key.as_ref()).unwrap_or_default(),
                    text(r.value.as_ref()),
                )
            })
            .collect();
        out.insert(s.base_offset, records);
    }
    Ok(out)
}

/// A key or value as text (`None` for null).
fn text(s: Option<&Shown>) -> Option<String> {
    match s {
        Some(Shown::Text(t)) => Some(t.clone()),
        None => None,
        other => Some(inspect::shown(other)),
    }
}

/// The records of `before` that `after` no longer holds: offset → key.
fn gone(
    before: &BTreeMap<i64, Vec<Shown3>>,
    after: &BTreeMap<i64, Vec<Shown3>>,
) -> BTreeMap<i64, String> {
    before
        .values()
        .flatten()
        .filter(|(o, _, _)| !after.values().flatten().any(|(a, _, _)| a == o))
        .map(|(o, k, _)| (*o, k.clone()))
        .collect()
}

/// Each segment with its records; `gone`: offsets the last pass removed, and `why`.
fn show_segments(
    tour: &Tour,
    p: &PartitionView,
    records: &BTreeMap<i64, Vec<Shown3>>,
    gone: &BTreeMap<i64, String>,
    why: &str,
) {
    let out = tour.out;
    out.line(format!(
        "log start offset {}, log end offset {}, {}:",
        p.log_start_offset,
        p.log_end_offset,
        count(p.segments.len(), "segment")
    ));
    for (i, s) in p.segments.iter().enumerate() {
        let active = i + 1 == p.segments.len();
        // A segment's offsets run to the next one's base: a cleaned one may end in a gap.
        let end = p
            .segments
            .get(i + 1)
            .map_or(s.next_offset, |n| n.base_offset);
        let recs = records.get(&s.base_offset).map_or(&[][..], Vec::as_slice);
        let state = if active {
            "  (active: never cleaned)"
        } else if s.cleaned {
            "  (cleaned)"
        } else {
            ""
        };
        out.line(format!(
            "  {}  {}, {}, {} bytes{state}",
            s.file.rsplit('/').next().unwrap_or_default(),
            if end > s.base_offset {
                offsets(s.base_offset, end - 1)
            } else {
                "no offsets yet".to_string()
            },
            count(recs.len(), "record"),
            s.size_bytes
        ));
        let gaps: Vec<String> = gone
            .range(s.base_offset..end)
            .map(|(o, k)| format!("@{o} {k}"))
            .collect();
        if !gaps.is_empty() {
            out.line(format!("      gone: {} ({why})", gaps.join(", ")));
        }
        for (o, k, v) in recs {
            let tombstone = match (v, s.cleaned) {
                (Some(_), _) => "",
                (None, false) => "   ← a tombstone: a null value deletes the key",
                (None, true) => "   ← the tombstone, kept until its delete horizon",
            };
            out.line(format!(
                "      @{o}  {k}  {}{tombstone}",
                v.as_deref().unwrap_or("null")
            ));
        }
    }
}

/// The header fields of the batch holding the tombstone, as chapter 2 shows a header:
/// the attribute bit the cleaner set and the delete horizon in baseTimestamp. Returns
/// the horizon.
fn show_tombstone_batch(tour: &Tour, p: &PartitionView) -> Result<i64> {
    for s in &p.segments {
        let path = tour.data_dir.join(&s.file);
        let DumpReport::Log(log) = inspect::dump(&path, true)? else {
            bail!("{} is not a log", path.display());
        };
        let Some(b) = log.batches.iter().find(|b| b.delete_horizon.is_some()) else {
            continue;
        };
        let horizon = b.delete_horizon.context("a delete horizon")?;
        let out = tour.out;
        out.broker(format!(
            "the tombstone's batch, at position {} of {}: the cleaner set attribute bit 6\n  \
             (0x40) and wrote the delete horizon into baseTimestamp (KIP-534):",
            b.position,
            s.file.rsplit('/').next().unwrap_or_default()
        ));
        let fields = b.header_bytes.as_deref().unwrap_or_default();
        out.line(format!(
            "{:<8} {:<14} {:<23}  value",
            "bytes", "field", "hex"
        ));
        for f in fields
            .iter()
            .filter(|f| ["attributes", "baseTimestamp"].contains(&f.field))
        {
            out.line(format!(
                "{:<8} {:<14} {:<23}  {}",
                format!("{}..{}", f.start, f.end),
                f.field,
                f.hex,
                f.value
            ));
        }
        out.line(format!(
            "the horizon is the pass's time + delete.retention.ms ({DELETE_RETENTION_MS} ms): until then a \
             consumer\n  reading the log sees the tombstone, and learns that student_3 was deleted."
        ));
        out.code(
            &refs::BATCH_DELETE_HORIZON,
            "reads bit 6 and the horizon back",
        );
        return Ok(horizon);
    }
    bail!("no batch of {TOPIC} has a delete horizon")
}

/// Every record of the partition from the earliest offset up to `end`, with our client's
/// reader (as any consumer would read it).
async fn read_all(tour: &Tour, end: i64) -> Result<Vec<Shown3>> {
    let mut reader = PartitionReader::assign(
        ReaderConfig::new(&tour.bootstrap),
        TOPIC,
        0,
        Offset::Earliest,
    )
    .await?;
    let mut read = Vec::new();
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    while read.last().is_none_or(|(o, _, _): &Shown3| o + 1 < end) {
        let r = tokio::time::timeout(Duration::from_secs(10), reader.next())
            .await
            .context("no record within 10 s")??;
        read.push((
            r.offset,
            text(r.key.as_deref()).unwrap_or_default(),
            text(r.value.as_deref()),
        ));
    }
    Ok(read)
}

fn show_read(tour: &Tour, read: &[Shown3]) {
    for (o, k, v) in read {
        tour.out.line(format!(
            "read @ {o}  key={k}  value={}",
            v.as_deref()
                .unwrap_or("null   (a tombstone: this key was deleted)")
        ));
    }
}

/// Which segments of `before` each cleaned segment of `after` replaced.
fn merged(before: &PartitionView, after: &PartitionView) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, s) in after.segments.iter().enumerate().filter(|(_, s)| s.cleaned) {
        let end = after
            .segments
            .get(i + 1)
            .map_or(s.next_offset, |n| n.base_offset);
        let olds: Vec<&str> = before
            .segments
            .iter()
            .filter(|b| (s.base_offset..end).contains(&b.base_offset))
            .map(|b| b.file.rsplit('/').next().unwrap_or_default())
            .collect();
        let name = s.file.rsplit('/').next().unwrap_or_default();
        lines.push(if olds.len() > 1 {
            format!("merged {} → {name}", olds.join(" + "))
        } else {
            format!("rewrote {name}")
        });
    }
    lines
}

/// What the reader must get after a pass that cleaned the offsets below `up_to`: there,
/// the latest record of each key (a tombstone too, unless `tombstones_gone`); from
/// `up_to` on, everything.
fn after_cleaning(produced: &[Shown3], up_to: i64, tombstones_gone: bool) -> Vec<Shown3> {
    let mut latest = BTreeMap::new();
    for (o, k, _) in produced.iter().filter(|(o, _, _)| *o < up_to) {
        latest.insert(k.clone(), *o);
    }
    produced
        .iter()
        .filter(|(o, k, v)| {
            *o >= up_to || (latest.get(k) == Some(o) && !(tombstones_gone && v.is_none()))
        })
        .cloned()
        .collect()
}
