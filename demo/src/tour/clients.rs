//! The tour's clients: the classroom producer's messages, group consumers with the tour's
//! timings, a group member running in its own task (so a chapter can watch several at
//! once), and the member that runs in a child process so chapter 4 can kill it.
//!
//! Where it sits: the two ends of the flow, producer → … → consumer, on the native
//! backend of `minikafka-client`.
//!
//! What must stay true:
//! - Every consumer uses [`super::SESSION_TIMEOUT`] and [`super::HEARTBEAT_INTERVAL`]:
//!   the timings the tour states at its start.
//! - A [`Member`] reports what its consumer was told ([`ConsumerEvent::Assigned`]), never
//!   what the broker thinks; the chapters put the two side by side.
//! - The child member prints one line per assignment on stdout and nothing else there.

use std::ops::Range;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use minikafka_client::{
    Consumer, ConsumerConfig, ConsumerEvent, ConsumerRecord, Producer, ProducerRecord,
    RecordMetadata, TopicPartition,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{Tour, HEARTBEAT_INTERVAL, SESSION_TIMEOUT, TOPIC};
use crate::DemoEvent;

/// A group consumer of the tour: `auto.offset.reset=earliest`, the tour's session timeout
/// and heartbeat, and commits only when the chapter says so.
pub fn consumer_config(bootstrap: &str, group: &str, client_id: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(bootstrap, group);
    config.client.client_id = client_id.to_string();
    config.session_timeout = SESSION_TIMEOUT;
    config.heartbeat_interval = HEARTBEAT_INTERVAL;
    config.enable_auto_commit = false;
    // Answer an empty fetch soon, so closing a consumer does not wait long.
    config.fetch_max_wait = Duration::from_millis(100);
    config
}

/// How often chapter 4's members auto-commit (Kafka's default: 5 s). Long, so that the
/// killed member surely dies with a read record not yet committed, however slow the
/// machine; they still commit whenever partitions are revoked and on close.
pub const AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(30);

/// `config` with auto-commit on, every [`AUTO_COMMIT_INTERVAL`].
pub fn auto_committing(mut config: ConsumerConfig) -> ConsumerConfig {
    config.enable_auto_commit = true;
    config.auto_commit_interval = AUTO_COMMIT_INTERVAL;
    config
}

/// Sends the classroom messages `ids` to `demo-topic`, one at a time as the `producer`
/// demo does, and returns each delivery report with its key and value.
pub async fn produce(tour: &Tour, ids: Range<u64>) -> Result<Vec<(DemoEvent, RecordMetadata)>> {
    produce_to(tour, TOPIC, ids, |_| Ok(())).await
}

/// [`produce`] to `topic`, calling `after` with each delivery report as it comes.
pub async fn produce_to(
    tour: &Tour,
    topic: &str,
    ids: Range<u64>,
    mut after: impl FnMut(&RecordMetadata) -> Result<()>,
) -> Result<Vec<(DemoEvent, RecordMetadata)>> {
    let producer = Producer::new(tour.producer_config())
        .await
        .context("cannot start the producer")?;
    let mut sent = Vec::new();
    for id in ids {
        let event = crate::demo_event(id);
        let record = ProducerRecord::new(topic)
            .key(event.key)
            .value(event.value.clone())
            .timestamp(event.timestamp);
        let meta = producer
            .send(record)
            .await
            .with_context(|| format!("sending message {id} to {topic}"))?;
        after(&meta)?;
        sent.push((event, meta));
    }
    producer.close().await;
    Ok(sent)
}

/// How long [`read_records`] waits for the records it expects.
const READ_WAIT: Duration = Duration::from_secs(15);

/// A consumer of `group` (the tour's settings, commits only when asked) subscribed to
/// `demo-topic`.
pub async fn subscribed(tour: &Tour, group: &str, client_id: &str) -> Result<Consumer> {
    let mut consumer = Consumer::new(tour.consumer_config(group, client_id))
        .await
        .with_context(|| format!("cannot start consumer {client_id}"))?;
    consumer.subscribe(&[TOPIC]).await?;
    Ok(consumer)
}

/// Receives until `count` records arrived (or `READ_WAIT` passed: an error), ignoring
/// rebalance events.
pub async fn read_records(consumer: &mut Consumer, count: i64) -> Result<Vec<ConsumerRecord>> {
    let (within, count) = (READ_WAIT, usize::try_from(count)?);
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while records.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(event) => {
                if let ConsumerEvent::Record(r) = event.context("the consumer failed")? {
                    records.push(r);
                }
            }
            Err(_) => bail!("got {} of {count} records within {within:?}", records.len()),
        }
    }
    Ok(records)
}

/// What a member's consumer was last told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Its member id, from the coordinator.
    pub member_id: String,
    /// The partitions of its latest `Assigned` (sorted).
    pub partitions: Vec<i32>,
    /// How many `Assigned` events it got so far.
    pub assignments: u32,
    /// (partition, offset) of every record it received, in order.
    pub records: Vec<(i32, i64)>,
}

/// A group member: an in-process consumer in its own task, or the child process.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    seen: watch::Receiver<Seen>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Task {
        close: Option<oneshot::Sender<()>>,
        task: JoinHandle<Result<()>>,
    },
    Child {
        child: Box<tokio::process::Child>,
        pid: u32,
        /// Held open while the member lives; dropped, the child sees EOF and exits.
        _stdin: Option<tokio::process::ChildStdin>,
    },
}

impl Member {
    /// A consumer of `group` subscribed to `demo-topic`, in its own task, auto-committing
    /// (see [`auto_committing`]).
    pub async fn spawn(tour: &Tour, group: &str, name: &str) -> Result<Member> {
        let config = auto_committing(tour.consumer_config(group, name));
        let mut consumer = Consumer::new(config)
            .await
            .with_context(|| format!("cannot start consumer {name}"))?;
        consumer.subscribe(&[TOPIC]).await?;
        let (tx, seen) = watch::channel(Seen::default());
        let (close, mut closing) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = &mut closing => break,
                    event = consumer.recv() => event?,
                };
                match event {
                    ConsumerEvent::Record(r) => {
                        tx.send_modify(|s| s.records.push((r.partition, r.offset)));
                    }
                    ConsumerEvent::Assigned(tps) => {
                        let id = consumer.member_id().unwrap_or_default();
                        tx.send_modify(|s| {
                            s.member_id = id;
                            s.partitions = partitions(&tps);
                            s.assignments += 1;
                        });
                    }
                    ConsumerEvent::Revoked(_) => {}
                }
            }
            consumer.close().await.context("leaving the group")
        });
        Ok(Member {
            name: name.to_string(),
            seen,
            kind: Kind::Task {
                close: Some(close),
                task,
            },
        })
    }

    /// The same member in a child process (this binary, `tour member`), so it can be
    /// killed with SIGKILL: no LeaveGroup, no last commit, just silence.
    pub fn spawn_child(tour: &Tour, group: &str, name: &str) -> Result<Member> {
        let exe = std::env::current_exe().context("cannot find the tour binary to re-run")?;
        let mut child = tokio::process::Command::new(exe)
            .args(["member", "--bootstrap", &tour.bootstrap])
            .args(["--topic", TOPIC, "--group", group])
            // The child reads its stdin only to notice the tour is gone (EOF): then it
            // exits, so a tour that dies never leaves a consumer behind.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the child member")?;
        let pid = child.id().unwrap_or_default();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the child's stdout")?;
        let (tx, seen) = watch::channel(Seen::default());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            // `assigned <member id> <p,p,…|->` and `record <partition> <offset>`: what
            // the child's consumer was told.
            while let Ok(Some(line)) = lines.next_line().await {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["assigned", id, ps] => {
                        let ps = ps.split(',').filter_map(|p| p.parse().ok()).collect();
                        tx.send_modify(|s| {
                            s.member_id = id.to_string();
                            s.partitions = ps;
                            s.assignments += 1;
                        });
                    }
                    ["record", p, o] => {
                        if let (Ok(p), Ok(o)) = (p.parse(), o.parse()) {
                            tx.send_modify(|s| s.records.push((p, o)));
                        }
                    }
                    _ => {}
                }
            }
        });
        Ok(Member {
            name: name.to_string(),
            seen,
            kind: Kind::Child {
                child: Box::new(child),
                pid,
                _stdin: stdin,
            },
        })
    }

    /// What its consumer was last told.
    pub fn seen(&self) -> Seen {
        self.seen.borrow().clone()
    }

    /// The child's process id (0 for an in-process member).
    pub fn pid(&self) -> u32 {
        match &self.kind {
            Kind::Child { pid, .. } => *pid,
            Kind::Task { .. } => 0,
        }
    }

    /// Waits until its consumer has received every record of `wanted`.
    pub async fn received(&mut self, wanted: &[(i32, i64)], within: Duration) -> Result<()> {
        let name = self.name.clone();
        tokio::time::timeout(
            within,
            self.seen
                .wait_for(|s| wanted.iter().all(|w| s.records.contains(w))),
        )
        .await
        .with_context(|| format!("{name} did not receive {wanted:?} within {within:?}"))?
        .with_context(|| format!("{name} stopped"))?;
        Ok(())
    }

    /// Leaves the group cleanly (LeaveGroup), as a consumer that is closed does.
    pub async fn leave(mut self) -> Result<()> {
        match &mut self.kind {
            Kind::Task { close, task } => {
                if let Some(close) = close.take() {
                    let _ = close.send(());
                }
                task.await.context("the member task")?
            }
            Kind::Child { child, .. } => child.kill().await.context("stopping the child member"),
        }
    }

    /// SIGKILL, for a child member: the process dies without a word to the broker.
    pub async fn kill(mut self) -> Result<()> {
        match &mut self.kind {
            Kind::Child { child, .. } => child.kill().await.context("killing the child member"),
            Kind::Task { .. } => bail!(
                "{} runs in this process: only a child can be killed",
                self.name
            ),
        }
    }
}

fn partitions(tps: &[TopicPartition]) -> Vec<i32> {
    let mut ps: Vec<i32> = tps.iter().map(|tp| tp.partition).collect();
    ps.sort_unstable();
    ps
}

/// `tour member`: the child process of chapter 4, a consumer with auto-commit as
/// [`Member::spawn`]'s. Prints `assigned <member id> <p,p>` at each assignment and
/// `record <partition> <offset>` for each record, and runs until killed, or until its
/// stdin closes (the tour is gone).
pub async fn child_member(bootstrap: &str, topic: &str, group: &str) -> Result<()> {
    tokio::spawn(async {
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
        std::process::exit(0);
    });
    let config = auto_committing(consumer_config(bootstrap, group, "consumer-c"));
    let mut consumer = Consumer::new(config).await?;
    consumer.subscribe(&[topic]).await?;
    loop {
        let event = consumer.recv().await?;
        if let ConsumerEvent::Record(r) = &event {
            println!("record {} {}", r.partition, r.offset);
        }
        if let ConsumerEvent::Assigned(tps) = event {
            let ps = partitions(&tps);
            let ps = if ps.is_empty() {
                "-".to_string()
            } else {
                ps.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let id = consumer.member_id().unwrap_or_default();
            println!("assigned {id} {ps}");
        }
    }
}
