//! Chapter 4, load balancing: three consumers in one group share demo-topic's three
//! partitions, one each. One leaves cleanly and the group rebalances at once; then one
//! is killed (SIGKILL, in a child process) and its partitions move only when its session
//! timeout ([`super::SESSION_TIMEOUT`]) expires.
//!
//! Where it sits: the group coordinator, beside the flow: join → (leader assigns) → sync,
//! heartbeats, leave, and the session timer.
//!
//! What must stay true: each member's assignment is shown twice, as its consumer was told
//! (`ConsumerEvent::Assigned`) and as the broker holds it (the snapshot), and the chapter
//! waits until the two agree before printing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use minikafka_broker::snapshot::GroupView;

use super::clients::{self, Member};
use super::consumer_group::show_group;
use super::out::{count, list};
use super::{refs, Tour, HEARTBEAT_INTERVAL, SESSION_TIMEOUT};

pub const TITLE: &str = "Load balancing";
/// A record's (partition, offset).
type Position = (i32, i64);
const GROUP: &str = "tour-balance";

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        4,
        TITLE,
        &format!(
            "Three consumers join group tour-balance: the 3 partitions are shared out, one each.\n\
             Then one leaves, and later one is killed without a word. Watch who gets what.\n\
             (They auto-commit, as Kafka's consumers do by default: on each rebalance, on close,\n\
             and every auto.commit.interval.ms, {} here.)",
            clients::AUTO_COMMIT_INTERVAL.as_millis()
        ),
    );
    tour.ensure_demo_messages().await?;

    // The one to kill runs in a child process; it starts first so all three join at once.
    let child = Member::spawn_child(tour, GROUP, "consumer-c")?;
    let a = Member::spawn(tour, GROUP, "consumer-a").await?;
    let b = Member::spawn(tour, GROUP, "consumer-b").await?;
    let mut members = vec![a, b, child];
    let group = settle(tour, &members, "three members sharing the partitions").await?;
    out.client("each consumer's ConsumerEvent::Assigned:");
    show_members(tour, &members);
    out.broker(format!("the group {GROUP}:"));
    show_group(&out, &group);
    out.code(
        &refs::JOIN_HANDLE,
        "each member joins; the first is the leader",
    );
    out.code(
        &refs::ROUNDROBIN_ASSIGN,
        "the leader (a client!) computes the assignment",
    );
    out.code(&refs::SYNC_HANDLE, "the broker hands each member its part");
    let generation = group.generation;

    // 1. consumer-a leaves: LeaveGroup, and the others rebalance at once.
    let a = members.remove(0);
    let left = Instant::now();
    a.leave().await?;
    let group = settle(tour, &members, "two members after consumer-a left").await?;
    out.client(format!(
        "consumer-a called close(): a last commit, then LeaveGroup. {:.1} s later the other two\n  \
         hold all 3, and continue from consumer-a's commit:",
        left.elapsed().as_secs_f64()
    ));
    show_members(tour, &members);
    out.broker(format!(
        "generation {} → {}: the leave started a rebalance right away",
        generation, group.generation
    ));
    show_group(&out, &group);
    out.code(
        &refs::LEAVE_HANDLE,
        "removes the member and starts the rebalance",
    );

    // 2. New messages; consumer-c reads its share, and dies before committing it.
    let generation = group.generation;
    let next = u64::try_from(tour.demo_records()?)?;
    let sent = clients::produce(tour, next..next + 3).await?;
    let c_partitions = members[1].seen().partitions;
    let (on_c, on_b): (Vec<Position>, Vec<Position>) = sent
        .iter()
        .map(|(_, m)| (m.partition, m.offset))
        .partition(|(p, _)| c_partitions.contains(p));
    members[0].received(&on_b, Duration::from_secs(10)).await?;
    members[1].received(&on_c, Duration::from_secs(10)).await?;
    out.client(format!(
        "3 new messages; consumer-c read {}; its next auto-commit is not due yet",
        offsets(&on_c)
    ));
    let c = members.pop().context("consumer-c")?;
    let (pid, c_id) = (c.pid(), c.seen().member_id);
    let b_before = members[0].seen().records.len();
    let killed = Instant::now();
    c.kill().await?;
    out.key_line(format!(
        "{} consumer-c (pid {pid}) is killed with SIGKILL: no commit, no LeaveGroup",
        tour.clock()
    ));
    tokio::time::sleep(SESSION_TIMEOUT / 3).await;
    let still_there = super::group(&tour.snapshot()?, GROUP)
        .is_some_and(|g| g.members.iter().any(|m| m.member_id == c_id));
    out.broker(format!(
        "{:.1} s after the kill: {}",
        killed.elapsed().as_secs_f64(),
        if still_there {
            "consumer-c is still a member; its partitions are read by nobody"
        } else {
            "consumer-c is already gone"
        }
    ));
    let group = settle(tour, &members, "consumer-b alone after the session timeout").await?;
    let moved = killed.elapsed();
    out.broker(format!(
        "{:.1} s after the kill: consumer-c's last heartbeat is session.timeout.ms = {} ms old,",
        moved.as_secs_f64(),
        SESSION_TIMEOUT.as_millis()
    ));
    out.key_line(format!(
        "so the broker removed it: generation {} → {}, a rebalance after the session timeout",
        generation, group.generation
    ));
    show_group(&out, &group);
    out.code(&refs::SESSION_TIMER, "expires a silent member");
    out.code(&refs::REMOVE_MEMBER, "and rebalances the rest");
    members[0].received(&on_c, Duration::from_secs(10)).await?;
    out.client("consumer-b learned it from its next heartbeat, rejoined, and now holds:");
    show_members(tour, &members);
    let again: Vec<(i32, i64)> = members[0].seen().records[b_before..]
        .iter()
        .copied()
        .filter(|r| on_c.contains(r))
        .collect();
    ensure!(
        !again.is_empty(),
        "consumer-b did not get consumer-c's uncommitted records"
    );
    out.key_line(format!(
        "consumer-b got {} again: consumer-c had read it, but never committed (at-least-once)",
        offsets(&again)
    ));
    // The session counts from the last heartbeat, up to one interval before the kill.
    ensure!(
        moved >= SESSION_TIMEOUT - HEARTBEAT_INTERVAL,
        "the partitions moved {moved:?} after the kill, before the session timeout"
    );
    for m in members {
        m.leave().await?;
    }
    out.note(format!(
        "Notice: a clean leave commits and moves partitions at once; a crash takes the session\n\
         timeout ({} ms here, 45 s by default in Kafka), and what the dead member read but did\n\
         not commit is delivered again. Process each message so that twice is harmless.",
        SESSION_TIMEOUT.as_millis()
    ));
    Ok(())
}

/// `demo-topic [1] @ 4, demo-topic [2] @ 4`
fn offsets(records: &[(i32, i64)]) -> String {
    let all: Vec<String> = records
        .iter()
        .map(|(p, o)| format!("{} [{p}] @ {o}", super::TOPIC))
        .collect();
    list(&all)
}

/// Prints each member's last assignment as its consumer saw it.
fn show_members(tour: &Tour, members: &[Member]) {
    for m in members {
        let seen = m.seen();
        let place = if m.pid() != 0 {
            format!(" (child process, pid {})", m.pid())
        } else {
            String::new()
        };
        tour.out.line(format!(
            "{}{place}: partitions [{}], {} so far",
            m.name,
            list(&seen.partitions),
            count(seen.records.len(), "record")
        ));
    }
}

/// Waits until the group is Stable with exactly `members`, each consumer's own view of
/// its partitions matches the broker's, and together they hold every partition.
async fn settle(tour: &Tour, members: &[Member], what: &str) -> Result<GroupView> {
    tour.wait_for(what, SESSION_TIMEOUT + Duration::from_secs(15), |snap| {
        let group = super::group(snap, GROUP)?;
        if group.state != "Stable" || group.members.len() != members.len() {
            return None;
        }
        let mut all = BTreeSet::new();
        for m in members {
            let seen = m.seen();
            let view = group
                .members
                .iter()
                .find(|v| v.member_id == seen.member_id)?;
            let mut held: Vec<i32> = view
                .assignment
                .iter()
                .flat_map(|a| a.partitions.iter().copied())
                .collect();
            held.sort_unstable();
            if held != seen.partitions || held.is_empty() {
                return None;
            }
            all.extend(held);
        }
        (all.len() == 3).then(|| group.clone())
    })
    .await
}
