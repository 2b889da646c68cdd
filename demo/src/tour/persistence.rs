//! Chapter 6, persistence: a consumer stops and a new one in its group resumes from the
//! group's committed offsets; then the broker itself restarts on the same data dir and
//! port, and the records and the committed offsets are all still there.
//!
//! Where it sits: OffsetFetch at a consumer's start; the broker's shutdown (sync, clean
//! markers) and start (load the segments, replay `__consumer_offsets`).
//!
//! What must stay true: the chapter fails unless the log end offsets and the committed
//! offsets read after the restart equal those read before it.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};
use minikafka_broker::snapshot::Snapshot;

use super::out::{count, list};
use super::{clients, end_offsets, refs, Tour, TOPIC};

pub const TITLE: &str = "Persistence";
const GROUP: &str = "tour-persist";

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        6,
        TITLE,
        "A consumer reads and commits, stops, and a new one in its group picks up where it\n\
         left off. Then the broker itself is restarted: the log and the offsets survive.",
    );
    tour.ensure_demo_messages().await?;
    let total = tour.demo_records()?;

    // 1. Read everything, commit, stop.
    let got = read_in_group(tour, "tour-persist-1", total).await?;
    out.client(format!(
        "consumer tour-persist-1 read {}, committed and stopped",
        count(got.len(), "message")
    ));
    let first_commit = committed(&tour.snapshot()?);
    out.line(format!(
        "the group's committed offsets: {}",
        show(&first_commit)
    ));

    // 2. Three new messages while no one reads, then a new consumer of the group.
    let next = u64::try_from(total)?;
    clients::produce(tour, next..next + 3).await?;
    out.client("3 new messages were produced while the group had no consumer");
    let got = read_in_group(tour, "tour-persist-2", 3).await?;
    out.client("a new consumer, tour-persist-2, in the same group, got exactly the new ones:");
    for (partition, offset) in &got {
        let start = first_commit.get(partition).copied().unwrap_or(0);
        out.line(format!(
            "{TOPIC} [{partition}] @ {offset}   (the group had committed {start} there)"
        ));
    }
    ensure!(
        got.iter()
            .all(|(p, o)| *o >= first_commit.get(p).copied().unwrap_or(0)),
        "the new consumer re-read records before the committed offsets"
    );
    out.code(
        &refs::OFFSET_FETCH_HANDLE,
        "tells a new member where its group stopped",
    );

    // 3. Restart the broker.
    let before = tour.snapshot()?;
    let down = tour.restart_broker().await?;
    let after = tour.snapshot()?;
    out.broker(format!(
        "the broker was shut down and started again on the same data dir and port ({:.2} s)",
        down.as_secs_f64()
    ));
    out.line(format!("{:<28} {:>10}  {:>10}", "", "before", "after"));
    let (ends_before, ends_after) = (end_offsets(&before), end_offsets(&after));
    for (p, end) in &ends_before {
        out.line(format!(
            "{:<28} {:>10}  {:>10}",
            format!("{TOPIC} [{p}] log end offset"),
            end,
            ends_after.get(p).map_or("-".into(), ToString::to_string)
        ));
    }
    let (committed_before, committed_after) = (committed(&before), committed(&after));
    for (p, c) in &committed_before {
        out.line(format!(
            "{:<28} {:>10}  {:>10}",
            format!("{GROUP} committed [{p}]"),
            c,
            committed_after
                .get(p)
                .map_or("-".into(), ToString::to_string)
        ));
    }
    ensure!(
        ends_before == ends_after,
        "the log end offsets changed over the restart"
    );
    ensure!(
        committed_before == committed_after,
        "the committed offsets changed over the restart"
    );
    out.key_line("the same offsets after the restart: the records and the commits were on disk");
    out.code(
        &refs::BROKER_SHUTDOWN,
        "syncs the logs, writes the clean-shutdown markers",
    );
    out.code(
        &refs::RECOVERY_LOAD,
        "reopens each partition's segments at start",
    );
    out.code(
        &refs::OFFSET_STORE_OPEN,
        "replays __consumer_offsets into the offsets table",
    );

    // 4. And the group still resumes where it was.
    clients::produce(tour, next + 3..next + 4).await?;
    let got = read_in_group(tour, "tour-persist-3", 1).await?;
    out.client(format!(
        "after the restart, one more message; a consumer of {GROUP} got only it: {}",
        got.iter()
            .map(|(p, o)| format!("{TOPIC} [{p}] @ {o}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.note(
        "Notice: the consumer's position is not in the consumer; it is the group's commit,\n\
         kept by the broker on disk. Any consumer of the group continues from it.",
    );
    Ok(())
}

/// A consumer of the group reads `count` records, commits and leaves; returns
/// (partition, offset) of each, sorted.
async fn read_in_group(tour: &Tour, client_id: &str, count: i64) -> Result<Vec<(i32, i64)>> {
    let mut consumer = clients::subscribed(tour, GROUP, client_id).await?;
    let records = clients::read_records(&mut consumer, count).await?;
    consumer.commit().await.context("the commit failed")?;
    consumer.close().await.context("leaving the group")?;
    let mut got: Vec<(i32, i64)> = records.iter().map(|r| (r.partition, r.offset)).collect();
    got.sort_unstable();
    Ok(got)
}

/// The group's committed offset for each partition of demo-topic.
fn committed(snapshot: &Snapshot) -> BTreeMap<i32, i64> {
    super::group(snapshot, GROUP)
        .into_iter()
        .flat_map(|g| &g.offsets)
        .filter(|o| o.topic == TOPIC)
        .map(|o| (o.partition, o.committed_offset))
        .collect()
}

/// `[0] 3, [1] 4, [2] 3`
fn show(offsets: &BTreeMap<i32, i64>) -> String {
    let parts: Vec<String> = offsets.iter().map(|(p, o)| format!("[{p}] {o}")).collect();
    list(&parts)
}
