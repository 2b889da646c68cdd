//! Chapter 5, broadcast: two consumers in two different groups each read every message.
//! A group is a subscription of its own: the log is stored once, and each group keeps
//! its own committed offsets in it.
//!
//! Where it sits: fetch → consumer, twice; the offset store keys commits by
//! (group, topic, partition).
//!
//! What must stay true: both groups read the same stored records (same offsets), and
//! the broker shows two independent sets of committed offsets.

use anyhow::{ensure, Context, Result};

use super::consumer_group::show_group;
use super::out::count;
use super::{clients, refs, Tour};

pub const TITLE: &str = "Broadcast";
const GROUPS: [&str; 2] = ["tour-analytics", "tour-billing"];

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        5,
        TITLE,
        "Two consumers in two different groups, tour-analytics and tour-billing, subscribe\n\
         to demo-topic. Each group gets every message: one log, two readers.",
    );
    tour.ensure_demo_messages().await?;
    let total = tour.demo_records()?;

    let mut consumers = Vec::new();
    for group in GROUPS {
        consumers.push(clients::subscribed(tour, group, &format!("{group}-1")).await?);
    }
    out.client("what each group's consumer received:");
    let mut seen = Vec::new();
    for (group, c) in GROUPS.iter().zip(&mut consumers) {
        let records = clients::read_records(c, total).await?;
        let mut offsets: Vec<(i32, i64)> =
            records.iter().map(|r| (r.partition, r.offset)).collect();
        offsets.sort_unstable();
        let partitions: std::collections::BTreeSet<i32> =
            records.iter().map(|r| r.partition).collect();
        out.line(format!(
            "{group}: {} of {total}, from {}",
            count(records.len(), "message"),
            count(partitions.len(), "partition")
        ));
        c.commit().await.context("the commit failed")?;
        seen.push(offsets);
    }
    ensure!(seen[0] == seen[1], "the two groups read different records");
    out.line("the same (partition, offset) pairs, twice: each group read the whole log.");

    let snapshot = tour.snapshot()?;
    for group in GROUPS {
        let g =
            super::group(&snapshot, group).with_context(|| format!("group {group} is missing"))?;
        out.broker(format!("group {group}:"));
        show_group(&out, g);
    }
    out.code(
        &refs::OFFSET_STORE_COMMIT,
        "keys each commit by (group, topic, partition)",
    );
    for c in &mut consumers {
        c.close().await.context("leaving the group")?;
    }
    out.note(
        "Notice: the messages were stored once; a second group costs the broker only a\n\
         second cursor. Inside one group they are shared out (chapter 4); across groups,\n\
         every group gets everything.",
    );
    Ok(())
}
