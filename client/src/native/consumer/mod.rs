//! The native group consumer: the application's side of it (`recv`, `commit`, `close`) and
//! the state it shares with the background member task.
//!
//! Where it sits: broker → fetcher → bounded queue → **`NativeConsumer::recv`** → application;
//! beside it, the member task (`driver`) runs the group protocol.
//!
//! Reading order:
//! 1. [`protocol`]: the subscription and assignment bytes of Kafka's consumer protocol.
//! 2. [`coordinator`]: FindCoordinator, and the coordinator's own connection.
//! 3. [`membership`]: JoinGroup, the leader's assignment, SyncGroup, LeaveGroup.
//! 4. [`offsets`]: OffsetFetch and `auto.offset.reset` when partitions arrive, OffsetCommit.
//! 5. [`fetcher`]: the pipelined fetch of the owned partitions.
//! 6. [`heartbeat`]: staying in the generation; learning that a rebalance began.
//! 7. [`commands`]: what the application asks of the member task (`commit`, `close`, …).
//! 8. [`driver`]: the member's life, tying the above together.
//!
//! Invariants:
//! - What the application has been handed is the truth for commits: `recv` moves a
//!   partition's consumed position under the [`Shared`] lock, and only for a partition the
//!   member owns in the current assignment *epoch*. Revoking bumps the epoch under the same
//!   lock and takes the positions, so a commit on revoke covers exactly what was handed
//!   out, and nothing fetched earlier can be handed out after it.
//! - Rebalance events travel on an unbounded channel that `recv` reads first, so the
//!   member task never blocks on a busy application, and `Assigned` is always seen before
//!   any record of its epoch (the fetcher starts only after `Assigned` is sent).
//! - The std `Mutex` is held for map updates only, never across `.await`.

pub(crate) mod commands;
pub(crate) mod coordinator;
pub(crate) mod driver;
pub(crate) mod fetcher;
pub(crate) mod heartbeat;
pub(crate) mod membership;
pub(crate) mod offsets;
pub(crate) mod protocol;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use commands::Command;

use crate::config::ConsumerConfig;
use crate::consumer::{ConsumerEvent, TopicPartition};
use crate::error::{Error, Result};
use crate::native::metadata::Cluster;
use crate::record::ConsumerRecord;

/// How many fetched batches may wait for the application.
const QUEUED_BATCHES: usize = 16;

/// Records of one partition, fetched for one assignment epoch.
#[derive(Debug)]
pub(crate) struct FetchedBatch {
    pub(crate) epoch: u64,
    pub(crate) records: Vec<ConsumerRecord>,
}

/// Rebalance events and errors for the application.
#[derive(Debug)]
pub(crate) enum Control {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Error(Error),
}

/// Ownership and consumed positions, shared by `recv` and the member task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<Positions>,
}

#[derive(Debug, Default)]
struct Positions {
    /// Bumped on every assignment and revocation.
    epoch: u64,
    /// Partition → offset of the next record to hand out (what a commit stores).
    consumed: BTreeMap<TopicPartition, i64>,
    /// The member id of the latest generation joined; `None` before the first join.
    member_id: Option<String>,
    /// That generation's id (-1 before the first join).
    generation: Option<i32>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Positions> {
        // Every update is a single assignment or map insert: a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take ownership of `positions` (partition → first offset) as `member_id`; returns
    /// the new epoch.
    pub(crate) fn assign(
        &self,
        member_id: &str,
        generation: i32,
        positions: BTreeMap<TopicPartition, i64>,
    ) -> u64 {
        let mut s = self.lock();
        s.epoch += 1;
        s.consumed = positions;
        s.member_id = Some(member_id.to_string());
        s.generation = Some(generation);
        s.epoch
    }

    /// Give up every partition; returns them with their consumed positions.
    pub(crate) fn revoke(&self) -> BTreeMap<TopicPartition, i64> {
        let mut s = self.lock();
        s.epoch += 1;
        std::mem::take(&mut s.consumed)
    }

    /// The consumed positions of the owned partitions, to commit.
    pub(crate) fn consumed(&self) -> BTreeMap<TopicPartition, i64> {
        self.lock().consumed.clone()
    }

    fn member_id(&self) -> Option<String> {
        self.lock().member_id.clone()
    }

    fn generation(&self) -> i32 {
        self.lock().generation.unwrap_or(-1)
    }

    fn owned(&self) -> Vec<TopicPartition> {
        self.lock().consumed.keys().cloned().collect()
    }

    /// Whether `record`, fetched in `epoch`, may be handed out now; if so, it counts as
    /// consumed.
    fn deliver(&self, epoch: u64, record: &ConsumerRecord) -> bool {
        let mut s = self.lock();
        if s.epoch != epoch {
            return false;
        }
        let tp = TopicPartition::new(record.topic.as_str(), record.partition);
        match s.consumed.get_mut(&tp) {
            Some(position) => {
                *position = record.offset + 1;
                true
            }
            None => false,
        }
    }
}

/// The pure-Rust group consumer behind [`crate::Consumer`].
#[derive(Debug)]
pub(crate) struct NativeConsumer {
    group: String,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    control: mpsc::UnboundedReceiver<Control>,
    records: mpsc::Receiver<FetchedBatch>,
    /// The batch being handed out, and the epoch it was fetched in.
    buffer: VecDeque<ConsumerRecord>,
    buffer_epoch: u64,
    subscribed: bool,
    closed: bool,
}

impl NativeConsumer {
    /// Check that a bootstrap server answers and start the member task (which waits for a
    /// subscription).
    pub(crate) async fn new(config: ConsumerConfig) -> Result<NativeConsumer> {
        let cluster = Cluster::new(config.client.clone())?;
        cluster.bootstrap().await?;
        let shared = Arc::new(Shared::default());
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (control_tx, control) = mpsc::unbounded_channel();
        let (records_tx, records) = mpsc::channel(QUEUED_BATCHES);
        let group = config.group_id.clone();
        driver::Driver::new(
            config,
            cluster,
            shared.clone(),
            control_tx,
            records_tx,
            commands_rx,
        )
        .spawn();
        Ok(NativeConsumer {
            group,
            shared,
            commands,
            control,
            records,
            buffer: VecDeque::new(),
            buffer_epoch: 0,
            subscribed: false,
            closed: false,
        })
    }

    fn closed_error(&self) -> Error {
        Error::ConsumerClosed {
            group: self.group.clone(),
        }
    }

    pub(crate) fn subscribe(&mut self, topics: Vec<String>) -> Result<()> {
        if self.closed {
            return Err(self.closed_error());
        }
        if topics.is_empty() {
            return Err(Error::Config {
                key: "subscription".into(),
                message: "subscribe to at least one topic".into(),
            });
        }
        self.commands
            .send(Command::Subscribe(topics))
            .map_err(|_| self.closed_error())?;
        self.subscribed = true;
        Ok(())
    }

    pub(crate) async fn recv(&mut self) -> Result<ConsumerEvent> {
        if self.closed {
            return Err(self.closed_error());
        }
        if !self.subscribed {
            return Err(Error::Config {
                key: "subscription".into(),
                message: "call subscribe(topics) before recv()".into(),
            });
        }
        loop {
            while let Some(record) = self.buffer.pop_front() {
                if self.shared.deliver(self.buffer_epoch, &record) {
                    return Ok(ConsumerEvent::Record(record));
                }
            }
            tokio::select! {
                biased;
                control = self.control.recv() => match control {
                    Some(Control::Assigned(tps)) => return Ok(ConsumerEvent::Assigned(tps)),
                    Some(Control::Revoked(tps)) => return Ok(ConsumerEvent::Revoked(tps)),
                    Some(Control::Error(e)) => return Err(e),
                    None => {
                        self.closed = true;
                        return Err(self.closed_error());
                    }
                },
                batch = self.records.recv() => match batch {
                    Some(batch) => {
                        self.buffer_epoch = batch.epoch;
                        self.buffer = batch.records.into();
                    }
                    None => {
                        self.closed = true;
                        return Err(self.closed_error());
                    }
                },
            }
        }
    }

    pub(crate) async fn commit(&self) -> Result<()> {
        if self.closed {
            return Err(self.closed_error());
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Commit(tx))
            .map_err(|_| self.closed_error())?;
        rx.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    pub(crate) fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.owned()
    }

    pub(crate) fn member_id(&self) -> Option<String> {
        self.shared.member_id()
    }

    /// What a transactional producer sends with this member's offsets.
    pub(crate) fn group_metadata(&self) -> crate::consumer::ConsumerGroupMetadata {
        crate::consumer::ConsumerGroupMetadata {
            group_id: self.group.clone(),
            generation_id: self.shared.generation(),
            member_id: self.shared.member_id().unwrap_or_default(),
            group_instance_id: None,
            #[cfg(feature = "rdkafka")]
            rdkafka: None,
        }
    }

    pub(crate) async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.buffer.clear();
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).is_err() {
            return Ok(()); // the member task already ended (and reported why)
        }
        rx.await.unwrap_or(Ok(()))
    }
}
