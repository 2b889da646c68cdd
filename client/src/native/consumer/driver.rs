//! The member task: one group member's life, from subscription to LeaveGroup.
//!
//! Where it sits: it runs beside the application and drives the group protocol:
//! subscribe → find the coordinator → join and sync → fetch committed offsets (or reset)
//! → `Assigned` + start the fetcher → heartbeats and auto-commits → a rebalance, a lost
//! generation or close → revoke (commit first) → join again, or LeaveGroup.
//!
//! ```text
//!           subscribe
//!               │
//!   ┌──► find coordinator ◄───────────── coordinator errors
//!   │           │
//!   │      join + sync ◄──────────────── REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
//!   │           │                        UNKNOWN_MEMBER_ID (inside membership.rs)
//!   │   offsets, Assigned, fetcher
//!   │           │
//!   │        stable: heartbeats, auto-commit, commit(), metadata check
//!   │           │
//!   │   revoke: stop fetcher, commit (unless the generation is lost), Revoked
//!   │           │
//!   └── rejoin ─┴── close: LeaveGroup, answer close()
//! ```
//!
//! Invariants:
//! - The protocol is eager, like Kafka's classic `roundrobin`/`range` assignors: every
//!   partition is revoked (and its position committed) before JoinGroup, so no two
//!   members ever fetch the same partition for the same generation.
//! - A commit on revoke uses the generation that is ending; the coordinator still accepts
//!   it while the group is PreparingRebalance. When the generation is already lost
//!   (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) nothing is committed: the partitions are
//!   someone else's now.
//! - Every wait (JoinGroup, finding the coordinator, backoffs) is raced against the
//!   application's commands, so `close()` always returns promptly.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::config::ConsumerConfig;
use crate::consumer::TopicPartition;
use crate::error::{Error, KafkaCode, Result};
use crate::native::consumer::commands::{Command, Commands};
use crate::native::consumer::coordinator::{coordinator_moved, Coordinator};
use crate::native::consumer::fetcher::Fetcher;
use crate::native::consumer::heartbeat::{self, Outcome};
use crate::native::consumer::membership::{self, Generation};
use crate::native::consumer::offsets::{self, Committer};
use crate::native::consumer::{Control, FetchedBatch, Shared};
use crate::native::metadata::Cluster;

/// `tokio::time::interval` needs a period above zero.
const MIN_TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// How a generation ended, for this member.
#[derive(Debug)]
enum End {
    /// The group is rebalancing (or our subscription changed): commit, then rejoin.
    Rejoin,
    /// The generation is over without us: rejoin without committing.
    Lost { forget_member_id: bool },
    /// The application closed the consumer (or dropped it).
    Close,
}

/// The member task's state.
pub(crate) struct Driver {
    config: ConsumerConfig,
    cluster: Arc<Cluster>,
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    records: mpsc::Sender<FetchedBatch>,
    cmds: Commands,
    /// Our member id; empty until the coordinator gives us one.
    member_id: String,
    coordinator: Option<Coordinator>,
    /// What the coordinator holds for our partitions, so unchanged ones are not resent.
    last_committed: BTreeMap<TopicPartition, i64>,
}

impl Driver {
    pub(crate) fn new(
        config: ConsumerConfig,
        cluster: Arc<Cluster>,
        shared: Arc<Shared>,
        control: mpsc::UnboundedSender<Control>,
        records: mpsc::Sender<FetchedBatch>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Driver {
        Driver {
            config,
            cluster,
            shared,
            control,
            records,
            cmds: Commands::new(commands),
            member_id: String::new(),
            coordinator: None,
            last_committed: BTreeMap::new(),
        }
    }

    pub(crate) fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        let backoff = self.config.client.retry_backoff;
        loop {
            if self.cmds.close.is_some() {
                return self.finish(Ok(())).await;
            }
            if self.cmds.topics.is_empty() {
                let command = self.cmds.rx.recv().await;
                self.cmds.absorb(command);
                self.answer_pending(Ok(())); // nothing owned, nothing to commit
                continue;
            }
            self.cmds.resubscribed = false;
            let coordinator = match self.coordinator.clone() {
                Some(c) => c,
                None => match self.find_coordinator().await {
                    Some(c) => c,
                    None => continue, // closing, or a fatal error was reported
                },
            };
            if self.cmds.close.is_some() {
                continue;
            }
            let topics = self.cmds.topics.clone();
            let joined = self
                .cmds
                .interruptible(membership::join_and_sync(
                    &coordinator,
                    &self.cluster,
                    &self.config,
                    &mut self.member_id,
                    &topics,
                ))
                .await;
            let generation = match joined {
                None => continue,
                Some(Ok(g)) => g,
                Some(Err(e)) => {
                    if !self.recoverable(e).await {
                        return;
                    }
                    self.cmds.interruptible(tokio::time::sleep(backoff)).await;
                    continue;
                }
            };
            let started = self
                .cmds
                .interruptible(offsets::starting_positions(
                    &self.config,
                    &self.cluster,
                    &coordinator,
                    &generation.assignment,
                ))
                .await;
            let (positions, committed) = match started {
                None => continue,
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    if !self.recoverable(e).await {
                        return;
                    }
                    self.cmds.interruptible(tokio::time::sleep(backoff)).await;
                    continue;
                }
            };
            self.last_committed = committed;
            let owned: Vec<TopicPartition> = positions.keys().cloned().collect();
            let epoch = self
                .shared
                .assign(&generation.member_id, generation.id, positions.clone());
            let _ = self.control.send(Control::Assigned(owned.clone()));
            let fetcher = Fetcher {
                config: self.config.clone(),
                cluster: self.cluster.clone(),
                epoch,
                records: self.records.clone(),
                control: self.control.clone(),
            }
            .spawn(positions);

            let end = self.stable(&generation).await;

            fetcher.abort();
            let consumed = self.shared.revoke();
            let mut result = Ok(());
            if self.config.enable_auto_commit && !matches!(end, End::Lost { .. }) {
                if let Err(e) = self.commit_positions(&generation, &consumed).await {
                    tracing::warn!(group = %self.config.group_id, "commit on revoke failed: {e}");
                    result = Err(e);
                }
            }
            tracing::debug!(group = %self.config.group_id, generation = generation.id, ?end, "partitions revoked");
            let _ = self.control.send(Control::Revoked(owned));
            match end {
                End::Close => return self.finish(result).await,
                End::Lost { forget_member_id } => {
                    if forget_member_id {
                        self.member_id.clear();
                    }
                }
                End::Rejoin => {}
            }
        }
    }

    /// The generation's steady state: until a rebalance, a lost generation or close.
    async fn stable(&mut self, generation: &Generation) -> End {
        let Some(coordinator) = self.coordinator.clone() else {
            return End::Rejoin;
        };
        let (mut beats, mut beat_end) = self.heartbeats(coordinator, generation);
        let mut auto_commit = tokio::time::interval(self.config.auto_commit_interval.max(MIN_TICK));
        auto_commit.set_missed_tick_behavior(MissedTickBehavior::Delay);
        auto_commit.tick().await;
        let mut metadata = tokio::time::interval(self.config.client.metadata_max_age.max(MIN_TICK));
        metadata.set_missed_tick_behavior(MissedTickBehavior::Delay);
        metadata.tick().await;

        let end = loop {
            for reply in std::mem::take(&mut self.cmds.pending) {
                let result = self.commit_now(generation).await;
                let lost = result.as_ref().err().and_then(lost_generation);
                let _ = reply.send(result);
                if let Some(end) = lost {
                    beats.abort();
                    return end;
                }
            }
            if self.cmds.close.is_some() {
                break End::Close;
            }
            if self.cmds.resubscribed {
                break End::Rejoin;
            }
            tokio::select! {
                outcome = &mut beat_end => match outcome {
                    Ok(Outcome::Rejoin) => break End::Rejoin,
                    Ok(Outcome::Lost { forget_member_id }) => break End::Lost { forget_member_id },
                    Ok(Outcome::CoordinatorLost(e)) => {
                        tracing::warn!(group = %self.config.group_id, "lost the coordinator ({e}); finding it again");
                        self.coordinator = None;
                        match self.find_coordinator().await {
                            Some(c) => (beats, beat_end) = self.heartbeats(c, generation),
                            None => break End::Close,
                        }
                    }
                    Err(_) => break End::Rejoin, // the heartbeat task died: start over
                },
                _ = auto_commit.tick(), if self.config.enable_auto_commit => {
                    if let Err(e) = self.commit_now(generation).await {
                        tracing::warn!(group = %self.config.group_id, "auto-commit failed: {e}");
                        if let Some(end) = lost_generation(&e) {
                            break end;
                        }
                    }
                }
                _ = metadata.tick(), if generation.leader => {
                    if self.partitions_changed(generation).await {
                        tracing::info!(group = %self.config.group_id, "subscribed topics changed their partitions; rebalancing");
                        break End::Rejoin;
                    }
                }
                command = self.cmds.rx.recv() => self.cmds.absorb(command),
            }
        };
        beats.abort();
        end
    }

    fn heartbeats(
        &self,
        coordinator: Coordinator,
        generation: &Generation,
    ) -> (JoinHandle<()>, oneshot::Receiver<Outcome>) {
        heartbeat::spawn(
            coordinator,
            self.config.group_id.clone(),
            generation.id,
            generation.member_id.clone(),
            self.config.heartbeat_interval,
            self.config.session_timeout,
        )
    }

    /// Find the coordinator, retrying until found. `None` when close was asked for, or
    /// after reporting an error no retry can fix.
    async fn find_coordinator(&mut self) -> Option<Coordinator> {
        loop {
            let found = self
                .cmds
                .interruptible(Coordinator::find(&self.cluster, &self.config))
                .await?;
            match found {
                Ok(c) => {
                    self.coordinator = Some(c.clone());
                    return Some(c);
                }
                Err(e) if e.is_retriable() => {
                    tracing::warn!(group = %self.config.group_id, "cannot reach the group coordinator yet: {e}");
                    let backoff = self.config.client.retry_backoff * 10;
                    self.cmds.interruptible(tokio::time::sleep(backoff)).await?;
                }
                Err(e) => {
                    self.fail(e).await;
                    return None;
                }
            }
        }
    }

    /// Sort an error from joining or starting out: `true` to try again (after forgetting
    /// the coordinator when it moved), `false` after reporting a fatal one.
    async fn recoverable(&mut self, e: Error) -> bool {
        if coordinator_moved(&e) {
            tracing::debug!(group = %self.config.group_id, error = %e, "coordinator moved");
            self.coordinator = None;
            return true;
        }
        if e.is_retriable() || lost_generation(&e).is_some() {
            tracing::debug!(group = %self.config.group_id, error = %e, "rejoining");
            return true;
        }
        self.fail(e).await;
        false
    }

    /// Commit what `recv` has handed out so far.
    async fn commit_now(&mut self, generation: &Generation) -> Result<()> {
        let consumed = self.shared.consumed();
        self.commit_positions(generation, &consumed).await
    }

    /// Commit the positions that differ from what the coordinator already holds.
    async fn commit_positions(
        &mut self,
        generation: &Generation,
        positions: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        let changed: BTreeMap<TopicPartition, i64> = positions
            .iter()
            .filter(|(tp, o)| self.last_committed.get(*tp) != Some(*o))
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        // A coordinator connection that failed since the last heartbeat is replaced first.
        let usable = self.coordinator.clone().filter(|c| !c.conn.is_closed());
        let coordinator = match usable {
            Some(c) => c,
            None => {
                let found = Coordinator::find(&self.cluster, &self.config).await?;
                self.coordinator = Some(found.clone());
                found
            }
        };
        let who = Committer {
            group: self.config.group_id.clone(),
            member_id: generation.member_id.clone(),
            generation: generation.id,
        };
        offsets::commit(&coordinator, &who, &changed).await?;
        self.last_committed.extend(changed);
        Ok(())
    }

    /// Leader only: whether a subscribed topic appeared or changed its partition count.
    async fn partitions_changed(&self, generation: &Generation) -> bool {
        let topics: Vec<String> = generation.partition_counts.keys().cloned().collect();
        match membership::partition_counts(&self.cluster, &self.config, &[], topics.iter()).await {
            Ok(now) => now != generation.partition_counts,
            Err(e) => {
                tracing::debug!(error = %e, "metadata check failed");
                false
            }
        }
    }

    /// A fatal error: report it to the application; the task then ends.
    async fn fail(&mut self, e: Error) {
        tracing::error!(group = %self.config.group_id, "the consumer stops: {e}");
        for reply in std::mem::take(&mut self.cmds.pending) {
            let _ = reply.send(Err(e.clone()));
        }
        let _ = self.control.send(Control::Error(e));
        if let Some(Some(reply)) = self.cmds.close.take() {
            let _ = reply.send(Ok(()));
        }
    }

    /// Close: LeaveGroup, then answer `close()` with the final commit's result.
    async fn finish(mut self, result: Result<()>) {
        if let Some(coordinator) = &self.coordinator {
            membership::leave(coordinator, &self.config.group_id, &self.member_id).await;
        }
        self.answer_pending(Ok(()));
        if let Some(Some(reply)) = self.cmds.close.take() {
            let _ = reply.send(result);
        }
    }

    fn answer_pending(&mut self, result: Result<()>) {
        for reply in std::mem::take(&mut self.cmds.pending) {
            let _ = reply.send(result.clone());
        }
    }
}

/// Whether a commit error means our generation is over.
fn lost_generation(e: &Error) -> Option<End> {
    match e {
        Error::Kafka { code, .. } => match code {
            KafkaCode::IllegalGeneration | KafkaCode::RebalanceInProgress => Some(End::Lost {
                forget_member_id: false,
            }),
            KafkaCode::UnknownMemberId => Some(End::Lost {
                forget_member_id: true,
            }),
            _ => None,
        },
        _ => None,
    }
}
