//! A snapshot of what is inside the broker right now: every topic's partitions with
//! their offsets and segment files, every consumer group with its members, their
//! assignments, and the committed offsets with their lag; and the recent events of
//! `events.rs` (joins, rebalances, rolls, retention, cleaning); for a compacted topic,
//! which segments the log cleaner has been over and what its last pass did; and
//! transactions: each partition's last stable offset with the transactions open and
//! aborted in it, and every transactional id's state at the transaction coordinator.
//! The dashboard serves it as
//! JSON on `/api/state` (`http/`), the tour prints it (`minikafka-demo`'s `tour`), and
//! an embedding test can read it from [`crate::BrokerHandle::snapshot`].
//!
//! Where it sits: at the top, beside `server` and `http`: it reads the broker through
//! the same [`BrokerContext`] the protocol layer uses (the topic registry, the group
//! coordinator and the transaction coordinator), and no lower layer imports it.
//!
//! What must stay true:
//! - It only reads: taking a snapshot never changes the broker, and holds each lock only
//!   while copying out of it (the group table's, one partition log's at a time).
//! - It is a plain, serde-serialisable value, so JSON is its only other form: the field
//!   names are the JSON names `/api/state` documents (docs/metrics.md).
//! - A group is listed when it has members or committed offsets: after a restart a
//!   group has no members until they join again, but its commits are still there.
//! - Everything is sorted (topics, groups and transactional ids by name, partitions and
//!   members in order, open and aborted transactions by offset, events by `seq`), so two
//!   snapshots of an idle broker are equal.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::LogConfig;
use crate::events::Event;
use crate::group::assignment::{self, Assigned};
use crate::log::partition_log::CleanReport;
use crate::protocol::BrokerContext;
use crate::topics::catalog;

/// How many aborted transactions a partition's view lists at most (the newest).
pub const ABORTED_SHOWN: usize = 100;

/// Everything [`snapshot`] reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Topics by name, `__consumer_offsets` included (with `internal: true`).
    pub topics: Vec<TopicView>,
    /// Groups by id.
    pub groups: Vec<GroupView>,
    /// Transactional ids by id, as the transaction coordinator knows them.
    pub transactions: Vec<TransactionView>,
    /// The recent events still kept (the newest `events::KEPT`), oldest first.
    pub events: Vec<Event>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicView {
    pub name: String,
    /// Kafka's own topics (`__consumer_offsets`).
    pub internal: bool,
    pub partitions: Vec<PartitionView>,
}

/// One partition: its log, from the first offset still kept to the next one to come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionView {
    pub partition: i32,
    /// First offset still in the log (moves when retention deletes a segment).
    pub log_start_offset: i64,
    /// The offset the next record will get.
    pub log_end_offset: i64,
    /// What consumers may read up to (one node: the log end offset).
    pub high_watermark: i64,
    /// The last stable offset (LSO): what a `read_committed` consumer may read up to.
    /// The first offset of the oldest transaction still open here, or the high
    /// watermark when none is.
    pub last_stable_offset: i64,
    /// The transactions open here (records written, no marker yet), oldest first.
    pub open_transactions: Vec<OpenTxnView>,
    /// The newest [`ABORTED_SHOWN`] aborted transactions whose records are still in the
    /// log (the `.txnindex` entries), by marker offset: `read_committed` consumers skip
    /// their records. Bounded, as the dashboard draws only the newest records anyway.
    pub aborted_transactions: Vec<AbortedTxnView>,
    /// Bytes of all its `.log` files.
    pub size_bytes: u64,
    /// Its topic's `cleanup.policy`: `delete` (retention deletes old segments),
    /// `compact` (the log cleaner keeps the latest record per key) or `compact,delete`.
    pub cleanup_policy: String,
    /// Oldest first; the last one is the active segment, the one appended to.
    pub segments: Vec<SegmentView>,
    /// The last pass of the log cleaner that rewrote segments here, since the broker
    /// started (`None`: none yet, or not a compacted topic).
    pub last_clean: Option<CleanView>,
}

/// A producer's transaction open in a partition (`log/producer_state.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenTxnView {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Its first record here: the last stable offset cannot pass it.
    pub first_offset: i64,
}

/// An aborted transaction of a partition (`log/txn_index.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbortedTxnView {
    pub producer_id: i64,
    /// Its first record here.
    pub first_offset: i64,
    /// Its ABORT marker.
    pub last_offset: i64,
}

/// One transactional id at the transaction coordinator (`txn/metadata.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionView {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// `Empty`, `Ongoing`, `PrepareCommit`, `PrepareAbort`, `CompleteCommit`,
    /// `CompleteAbort` or `Dead`.
    pub state: String,
    /// `transaction.timeout.ms`: an Ongoing transaction older than this is aborted.
    pub timeout_ms: i32,
    /// The partitions in its transaction (empty when none is open).
    pub partitions: Vec<TopicPartitionView>,
    /// When its open transaction started (`None`: none open), ms since the epoch.
    pub start_ms: Option<i64>,
    /// When its state last changed, ms since the epoch.
    pub last_update_ms: i64,
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPartitionView {
    pub topic: String,
    pub partition: i32,
}

/// What one pass of the log cleaner did to a partition (`log/partition_log/clean.rs:
/// CleanReport`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanView {
    /// When it ran, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The dirty part began here (the cleaner checkpoint it started from).
    pub first_dirty: i64,
    /// It cleaned the offsets below this (the first uncleanable offset), and wrote it as
    /// the new checkpoint.
    pub cleaned_up_to: i64,
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_before: u64,
    pub records_after: u64,
    /// Tombstones dropped because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// The earliest delete horizon of the tombstones it kept: a later pass after this
    /// time removes them.
    pub next_delete_horizon_ms: Option<i64>,
}

impl From<CleanReport> for CleanView {
    fn from(r: CleanReport) -> Self {
        CleanView {
            at_ms: r.at_ms,
            first_dirty: r.first_dirty,
            cleaned_up_to: r.cleaned_up_to,
            segments_before: r.stats.segments_before,
            segments_after: r.stats.segments_after,
            bytes_before: r.stats.bytes_before,
            bytes_after: r.stats.bytes_after,
            records_before: r.stats.records_before,
            records_after: r.stats.records_after,
            tombstones_removed: r.stats.tombstones_removed,
            next_delete_horizon_ms: r.stats.next_horizon,
        }
    }
}

/// One segment: a `.log` file and its `.index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentView {
    /// The first offset in it, which is also its file name.
    pub base_offset: i64,
    /// The offset after its last record.
    pub next_offset: i64,
    pub size_bytes: u64,
    pub index_entries: usize,
    /// Its path under the data dir: `demo-topic-0/00000000000000000000.log`.
    pub file: String,
    /// The log cleaner has been over it (it lies below the cleaner checkpoint): it holds
    /// the latest record of each key as of that pass, and its offsets have gaps.
    pub cleaned: bool,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    pub group_id: String,
    /// `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable` or `Dead`; `Empty`
    /// for a group known only by its commits.
    pub state: String,
    /// One more per completed rebalance (0: never rebalanced since the broker started).
    pub generation: i32,
    /// `consumer` for consumer groups.
    pub protocol_type: Option<String>,
    /// The assignor of this generation (`range`, `roundrobin`, ...).
    pub protocol: Option<String>,
    /// The member that assigns (the first to join).
    pub leader: Option<String>,
    /// In the order they joined.
    pub members: Vec<MemberView>,
    /// By topic and partition.
    pub offsets: Vec<CommittedView>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    /// What the leader gave it in this generation; empty until it has synced (and for a
    /// protocol other than `consumer`, whose bytes the broker cannot read).
    pub assignment: Vec<Assigned>,
}

/// A group's committed offset for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommittedView {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will read there.
    pub committed_offset: i64,
    /// `None` when the partition no longer exists.
    pub log_end_offset: Option<i64>,
    /// Log end offset minus committed offset, never below 0.
    pub lag: Option<i64>,
}

/// Reads the whole broker state. Reads the logs' metadata under their locks: call it
/// off the async workers (`spawn_blocking`) when the broker is busy.
pub fn snapshot(ctx: &BrokerContext) -> Snapshot {
    let mut topics: Vec<TopicView> = ctx
        .topics
        .list()
        .iter()
        .map(|topic| TopicView {
            name: topic.name.clone(),
            internal: topic.internal,
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let dir = format!("{}-{}", topic.name, p.index);
                    let mut open_transactions: Vec<OpenTxnView> = p
                        .producers()
                        .entries()
                        .filter_map(|e| {
                            Some(OpenTxnView {
                                producer_id: e.producer_id,
                                producer_epoch: e.epoch,
                                first_offset: e.current_txn_first_offset?,
                            })
                        })
                        .collect();
                    open_transactions.sort_by_key(|t| (t.first_offset, t.producer_id));
                    PartitionView {
                        partition: p.index,
                        log_start_offset: p.log_start_offset(),
                        log_end_offset: p.log_end_offset(),
                        high_watermark: p.high_watermark(),
                        last_stable_offset: p.last_stable_offset(),
                        open_transactions,
                        aborted_transactions: p
                            .aborted_transactions(ABORTED_SHOWN)
                            .into_iter()
                            .map(|t| AbortedTxnView {
                                producer_id: t.producer_id,
                                first_offset: t.first_offset,
                                last_offset: t.last_offset,
                            })
                            .collect(),
                        size_bytes: p.size(),
                        cleanup_policy: cleanup_policy(&p.config()),
                        segments: p
                            .segments()
                            .into_iter()
                            .map(|s| SegmentView {
                                base_offset: s.base_offset,
                                next_offset: s.next_offset,
                                size_bytes: s.size,
                                index_entries: s.index_entries,
                                file: format!("{dir}/{:020}.log", s.base_offset),
                                cleaned: s.cleaned,
                            })
                            .collect(),
                        last_clean: p.last_clean().map(CleanView::from),
                    }
                })
                .collect(),
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));

    let mut groups: BTreeMap<String, GroupView> = ctx.groups.read_groups(|table| {
        table
            .values()
            .map(|g| {
                let view = GroupView {
                    group_id: g.id.clone(),
                    state: g.state.to_string(),
                    generation: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol: g.protocol.clone(),
                    leader: g.leader.clone(),
                    members: g
                        .members
                        .values()
                        .map(|m| MemberView {
                            member_id: m.id.clone(),
                            group_instance_id: m.group_instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            session_timeout_ms: u64::try_from(m.session_timeout.as_millis())
                                .unwrap_or(u64::MAX),
                            assignment: match g.protocol_type.as_deref() {
                                Some("consumer") => {
                                    assignment::decode(m.assignment.clone()).unwrap_or_default()
                                }
                                _ => Vec::new(),
                            },
                        })
                        .collect(),
                    offsets: Vec::new(),
                };
                (g.id.clone(), view)
            })
            .collect()
    });
    for (key, offset) in ctx.groups.committed_offsets() {
        let end = ctx
            .topics
            .partition(&key.topic, key.partition)
            .map(|p| p.log_end_offset());
        let group = groups
            .entry(key.group.clone())
            .or_insert_with(|| GroupView {
                group_id: key.group.clone(),
                state: crate::group::GroupState::Empty.to_string(),
                generation: 0,
                protocol_type: None,
                protocol: None,
                leader: None,
                members: Vec::new(),
                offsets: Vec::new(),
            });
        group.offsets.push(CommittedView {
            topic: key.topic,
            partition: key.partition,
            committed_offset: offset,
            log_end_offset: end,
            lag: end.map(|end| (end - offset).max(0)),
        });
    }
    let groups = groups
        .into_values()
        .map(|mut g| {
            g.offsets
                .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            g
        })
        .collect();
    let transactions = ctx
        .txn
        .transactions()
        .into_iter()
        .map(|m| TransactionView {
            transactional_id: m.transactional_id,
            producer_id: m.producer_id,
            producer_epoch: m.epoch,
            state: m.state.name().to_string(),
            timeout_ms: m.timeout_ms,
            partitions: m
                .partitions
                .into_iter()
                .map(|(topic, partition)| TopicPartitionView { topic, partition })
                .collect(),
            start_ms: (m.start >= 0).then_some(m.start),
            last_update_ms: m.last_update,
        })
        .collect();
    Snapshot {
        topics,
        groups,
        transactions,
        events: ctx.events.since(0),
    }
}

/// `cleanup.policy` as DescribeConfigs says it (`topics/catalog.rs: broker_value`).
fn cleanup_policy(config: &LogConfig) -> String {
    catalog::find("cleanup.policy").map_or_else(
        || "delete".to_string(),
        |def| catalog::broker_value(def, config),
    )
}
