//! Chapter 3, a consumer group: one consumer joins group `tour-readers`, reads every
//! message of demo-topic and commits. Inside: the group's generation, member and
//! assignment, the committed offsets with their lag, and the commits as the records of
//! `__consumer_offsets` they are stored as, decoded.
//!
//! Where it sits: the end of the flow, fetch → **consumer**, and beside it the group
//! coordinator (join, sync, offset commit → `__consumer_offsets`).
//!
//! What must stay true: the `__consumer_offsets` records are decoded by
//! `inspect::dump`, which uses the offset store's own codec.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use minikafka_broker::inspect::{self, DumpReport};
use minikafka_broker::snapshot::GroupView;

use super::out::{count, list, Out};
use super::{clients, consumer_offsets_dirs, group, refs, Tour, TOPIC};

pub const TITLE: &str = "A consumer group";
const GROUP: &str = "tour-readers";

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        3,
        TITLE,
        "A consumer joins group tour-readers, reads demo-topic from the start and commits\n\
         how far it got. The broker keeps the commit as a record of __consumer_offsets.",
    );
    tour.ensure_demo_messages().await?;
    let total = tour.demo_records()?;

    let mut consumer = clients::subscribed(tour, GROUP, "tour-reader").await?;
    let records = clients::read_records(&mut consumer, total).await?;
    out.client(format!(
        "consumer tour-reader (member {}) got {}:",
        consumer.member_id().unwrap_or_default(),
        count(records.len(), "record")
    ));
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in &records {
        per_partition.entry(r.partition).or_default().push(r.offset);
    }
    for (p, offsets) in &per_partition {
        out.line(format!(
            "{TOPIC} [{p}]: offsets {} (in order, within the partition)",
            list(offsets)
        ));
    }
    consumer.commit().await.context("the commit failed")?;
    out.line("then commit(): \"next time, start after these\"");
    out.code(&refs::FETCH_HANDLE, "served the records");

    let snapshot = tour.snapshot()?;
    let group = group(&snapshot, GROUP).context("the group is missing")?;
    out.broker(format!("the group {GROUP}, read in-process:"));
    show_group(&out, group);
    out.code(
        &refs::JOIN_HANDLE,
        "JoinGroup: members in, a generation out",
    );
    out.code(
        &refs::SYNC_HANDLE,
        "SyncGroup: hands out the leader's assignment",
    );
    out.code(&refs::OFFSET_COMMIT_HANDLE, "OffsetCommit");

    out.broker("the commits, as records of __consumer_offsets (decoded):");
    show_commit_records(tour, GROUP, 3)?;
    out.code(&refs::ENCODE_VALUE, "the bytes of one commit record");
    out.code(
        &refs::OFFSET_STORE_COMMIT,
        "appends them, then updates the table",
    );

    consumer.close().await.context("leaving the group")?;
    out.note(
        "Notice: a committed offset is the next offset to read (the last one read + 1), and\n\
         lag = log end offset - committed offset. The commit is just another record in a log.",
    );
    Ok(())
}

/// A group's state, generation, members with their assignment, and committed offsets.
pub fn show_group(out: &Out, g: &GroupView) {
    out.line(format!(
        "state {}, generation {}, protocol {}, {}",
        g.state,
        g.generation,
        g.protocol.as_deref().unwrap_or("-"),
        count(g.members.len(), "member")
    ));
    for m in &g.members {
        let assigned: Vec<String> = m
            .assignment
            .iter()
            .map(|a| format!("{} [{}]", a.topic, list(&a.partitions)))
            .collect();
        let leader = if g.leader.as_deref() == Some(m.member_id.as_str()) {
            " (leader)"
        } else {
            ""
        };
        out.line(format!(
            "member {}{leader}: client {}, session {} ms, assigned {}",
            m.member_id,
            m.client_id,
            m.session_timeout_ms,
            if assigned.is_empty() {
                "(nothing)".to_string()
            } else {
                assigned.join(", ")
            }
        ));
    }
    for o in &g.offsets {
        out.line(format!(
            "committed {} [{}]: offset {}, log end {}, lag {}",
            o.topic,
            o.partition,
            o.committed_offset,
            o.log_end_offset.map_or("-".into(), |e| e.to_string()),
            o.lag.map_or("-".into(), |l| l.to_string()),
        ));
    }
}

/// The last `last` commit records of `group` in `__consumer_offsets`, decoded.
pub fn show_commit_records(tour: &Tour, group: &str, last: usize) -> Result<()> {
    let out = tour.out;
    let mut shown = Vec::new();
    for dir in consumer_offsets_dirs(&tour.data_dir) {
        let mut segments: Vec<_> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        segments.sort();
        for path in segments {
            let DumpReport::Log(log) = inspect::dump(&path, false)? else {
                continue;
            };
            let name = format!(
                "{}/{}",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                log.file
            );
            for b in &log.batches {
                for r in &b.records {
                    let Some(c) = r.commit.as_ref().filter(|c| c.group == group) else {
                        continue;
                    };
                    let what = if c.tombstone {
                        "tombstone (offset deleted)".to_string()
                    } else {
                        format!(
                            "offset {}, metadata {:?}",
                            c.offset.unwrap_or(-1),
                            c.metadata.as_deref().unwrap_or("")
                        )
                    };
                    shown.push(format!(
                        "{name} offset {}: key (group {}, {} [{}]) → value: {what}",
                        r.offset, c.group, c.topic, c.partition
                    ));
                }
            }
        }
    }
    let skip = shown.len().saturating_sub(last);
    if skip > 0 {
        out.line(format!("… {} earlier, then:", count(skip, "commit record")));
    }
    for line in &shown[skip..] {
        out.line(line);
    }
    Ok(())
}
