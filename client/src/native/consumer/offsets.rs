//! Where the group is in each partition: OffsetCommit, OffsetFetch, and `auto.offset.reset`
//! (ListOffsets) for partitions the group has never committed.
//!
//! Where it sits: assignment → **OffsetFetch / reset** → fetch → application →
//! **OffsetCommit** → the coordinator's `__consumer_offsets`.
//!
//! Invariants:
//! - A committed offset is the offset of the *next* record to read (last handed out + 1),
//!   as in Kafka; the metadata string is empty, the leader epoch unknown (-1).
//! - A commit carries the member id and generation, so the coordinator rejects it
//!   (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS) once the member's
//!   generation is over; a rejected commit changes nothing.
//! - OffsetFetch answers -1 for "nothing committed"; only those partitions are reset.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    GroupId, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::config::{ClientConfig, ConsumerConfig, OffsetReset};
use crate::consumer::TopicPartition;
use crate::error::{Error, KafkaCode, Result};
use crate::native::connection::Connection;
use crate::native::consumer::coordinator::Coordinator;
use crate::native::metadata::{topic_name, Cluster};

/// OffsetFetch v8+ carries several groups in another layout; v7 is enough here.
const OFFSET_FETCH_CAP: i16 = 7;
/// OffsetCommit v9 is the last version for the classic protocol.
const OFFSET_COMMIT_CAP: i16 = 9;

/// Who commits: the group, the member and its generation.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    pub(crate) group: String,
    pub(crate) member_id: String,
    pub(crate) generation: i32,
}

/// Commit `offsets` (next offset to read, per partition). The first partition error wins.
pub(crate) async fn commit(
    coordinator: &Coordinator,
    who: &Committer,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, &offset) in offsets {
        by_topic.entry(&tp.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::from_static_str(""))),
        );
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(who.group.clone())))
        .with_generation_id_or_member_epoch(who.generation)
        .with_member_id(StrBytes::from_string(who.member_id.clone()))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = coordinator.call(&req, OFFSET_COMMIT_CAP).await?;
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                return Err(Error::kafka(
                    p.error_code,
                    format!(
                        "commit of group `{}` generation {} for {}-{}",
                        who.group,
                        who.generation,
                        t.name.as_str(),
                        p.partition_index
                    ),
                ));
            }
        }
    }
    let list: Vec<String> = offsets.iter().map(|(tp, o)| format!("{tp}={o}")).collect();
    tracing::debug!(group = %who.group, "committed {}", list.join(", "));
    Ok(())
}

/// The group's committed offsets for `partitions`; partitions never committed are absent.
pub(crate) async fn fetch_committed(
    coordinator: &Coordinator,
    group: &str,
    partitions: &[TopicPartition],
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, i64>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps)
                })
                .collect(),
        ))
        // read_committed: wait for offsets an open transaction holds (KIP-447).
        .with_require_stable(require_stable);
    let resp = coordinator.call(&req, OFFSET_FETCH_CAP).await?;
    let context = || format!("fetch the committed offsets of group `{group}`");
    if resp.error_code != 0 {
        return Err(Error::kafka(resp.error_code, context()));
    }
    let mut out = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                return Err(Error::kafka(p.error_code, context()));
            }
            if p.committed_offset >= 0 {
                out.insert(
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(out)
}

/// Where `auto.offset.reset` puts each of `partitions`: the log start or the log end,
/// with one ListOffsets per partition leader.
pub(crate) async fn reset_positions(
    cluster: &Cluster,
    policy: OffsetReset,
    isolation: crate::config::IsolationLevel,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, i64>> {
    let timestamp = match policy {
        OffsetReset::Earliest => -2,
        OffsetReset::Latest => -1,
    };
    let mut by_leader: BTreeMap<String, (Arc<Connection>, Vec<&TopicPartition>)> = BTreeMap::new();
    for tp in partitions {
        let conn = cluster
            .leader_connection(&tp.topic, tp.partition, false)
            .await?;
        by_leader
            .entry(conn.addr().to_string())
            .or_insert_with(|| (conn.clone(), Vec::new()))
            .1
            .push(tp);
    }
    let mut out = BTreeMap::new();
    for (conn, tps) in by_leader.into_values() {
        let mut by_topic: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for tp in &tps {
            by_topic.entry(&tp.topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_timestamp(timestamp),
            );
        }
        let req = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_isolation_level(isolation.as_i8())
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = match conn.request(&req).await {
            Ok(r) => r,
            Err(e) => {
                cluster.forget_connection(conn.addr());
                return Err(e);
            }
        };
        for t in &resp.topics {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                if p.error_code != 0 {
                    if Error::kafka(p.error_code, "").needs_metadata_refresh() {
                        cluster.invalidate(&tp.topic);
                    }
                    return Err(Error::kafka(
                        p.error_code,
                        format!("auto.offset.reset={policy:?} for {tp}"),
                    ));
                }
                out.insert(tp, p.offset);
            }
        }
    }
    Ok(out)
}

/// Committed offsets for our new partitions, and `auto.offset.reset` for the others.
/// Returns (start positions, what is committed).
pub(crate) async fn starting_positions(
    config: &ConsumerConfig,
    cluster: &Cluster,
    coordinator: &Coordinator,
    assigned: &[TopicPartition],
) -> Result<(BTreeMap<TopicPartition, i64>, BTreeMap<TopicPartition, i64>)> {
    let client = &config.client;
    let group = &config.group_id;
    let committed = with_retries(client, "OffsetFetch", || {
        fetch_committed(
            coordinator,
            group,
            assigned,
            config.isolation_level == crate::config::IsolationLevel::ReadCommitted,
        )
    })
    .await?;
    let missing: Vec<TopicPartition> = assigned
        .iter()
        .filter(|tp| !committed.contains_key(*tp))
        .cloned()
        .collect();
    let mut positions = committed.clone();
    if !missing.is_empty() {
        let policy = config.auto_offset_reset;
        let reset = with_retries(client, "ListOffsets", || {
            reset_positions(cluster, policy, config.isolation_level, &missing)
        })
        .await?;
        positions.extend(reset);
    }
    let starts: Vec<String> = positions
        .iter()
        .map(|(tp, o)| format!("{tp}@{o}"))
        .collect();
    tracing::debug!(%group, "starting at {}", starts.join(", "));
    Ok((positions, committed))
}

/// Run `f` until it succeeds or fails for good: retriable errors are retried `retries`
/// times with `retry.backoff.ms` between attempts.
pub(crate) async fn with_retries<T, F, Fut>(
    client: &ClientConfig,
    what: &str,
    mut f: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            // An open transaction holds a commit (read_committed): wait for its end,
            // however many tries that takes, as Kafka's consumer does.
            Err(Error::Kafka {
                code: KafkaCode::UnstableOffsetCommit,
                ..
            }) => tokio::time::sleep(client.retry_backoff).await,
            Err(e) if e.is_retriable() && attempt < client.retries => {
                attempt += 1;
                tracing::debug!(attempt, error = %e, "{what} failed, retrying");
                tokio::time::sleep(client.retry_backoff).await;
            }
            Err(e) => return Err(e),
        }
    }
}
