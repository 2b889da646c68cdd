//! OffsetCommit: where a group is in each partition.
//!
//! Where it sits: consumer → Fetch → process → **OffsetCommit** → `__consumer_offsets`
//! (see [`super::offset_store`]); read back by [`super::offset_fetch`].
//!
//! OffsetCommit (v2–v9), checked as Kafka's `validateOffsetCommit` (in this order):
//!
//! | case                                                  | answer                   |
//! |-------------------------------------------------------|--------------------------|
//! | generation -1, group unknown or Empty (simple commit) | stored                   |
//! | generation ≥ 0, group unknown                         | ILLEGAL_GENERATION (v9: GROUP_ID_NOT_FOUND) |
//! | instance id (v7+) held by another member id           | FENCED_INSTANCE_ID       |
//! | member not in the group                               | UNKNOWN_MEMBER_ID        |
//! | generation not the group's                            | ILLEGAL_GENERATION       |
//! | group CompletingRebalance                             | REBALANCE_IN_PROGRESS    |
//! | TxnOffsetCommit: group unknown                        | created Empty, then as above |
//! | TxnOffsetCommit: no member id, generation -1 (v0–v2)  | stored, whatever the state |
//! | TxnOffsetCommit: group CompletingRebalance            | stored (a member of the generation) |
//! | partition unknown to the broker                       | UNKNOWN_TOPIC_OR_PARTITION |
//! | metadata longer than 4096 bytes                       | OFFSET_METADATA_TOO_LARGE |
//!
//! v9 is the first version KIP-848 consumers may send; for a classic group it is v8, except
//! that an unknown group is named as such (GROUP_ID_NOT_FOUND).
//!
//! What must stay true:
//! - Each partition is answered on its own; a rejected one stores nothing.
//! - Accepted offsets are one record per partition, appended to `__consumer_offsets` in
//!   one batch on the blocking pool with the group lock released; the in-memory view
//!   OffsetFetch reads changes only after that append succeeded.
//! - A failed append answers COORDINATOR_NOT_AVAILABLE (retriable) for all its partitions.
//! - An accepted commit from a member counts as a heartbeat.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::coordinator::now_ms;
use super::offset_record::CommittedOffset;
use super::state::{Group, GroupState};
use super::{comma_list, GroupCoordinator};
use crate::error_codes::error_name;

/// Kafka's `offset.metadata.max.bytes`.
pub const MAX_METADATA_BYTES: usize = 4096;

/// OffsetCommit v2–v9.
pub async fn handle(
    c: &GroupCoordinator,
    req: OffsetCommitRequest,
    version: i16,
) -> (OffsetCommitResponse, String) {
    let offsets = comma_list(req.topics.iter().flat_map(|t| {
        t.partitions.iter().map(move |p| {
            format!(
                "{}[{}]={}",
                t.name.0.as_str(),
                p.partition_index,
                p.committed_offset
            )
        })
    }));
    let head = format!("offset_commit {} {offsets}", req.group_id.0.as_str());
    let resp = commit(c, req, version).await;
    let errors: Vec<String> = resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.error_code != 0)
                .map(move |p| {
                    format!(
                        "{}[{}] {}",
                        t.name.0.as_str(),
                        p.partition_index,
                        error_name(p.error_code)
                    )
                })
        })
        .collect();
    let line = if errors.is_empty() {
        head
    } else {
        format!("{head} -> {}", errors.join(", "))
    };
    (resp, line)
}

/// Checks the commit, stores the accepted offsets, and answers per partition.
async fn commit(
    c: &GroupCoordinator,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let group_id = req.group_id.0.to_string();
    let verdict = check_commit(
        c,
        &group_id,
        Committer {
            generation: req.generation_id_or_member_epoch,
            member_id: &req.member_id,
            instance_id: req.group_instance_id.as_deref(),
            transactional: false,
        },
        version,
    );
    let now = now_ms();
    let mut answers: Vec<(String, Vec<(i32, i16)>)> = Vec::new();
    let mut writes: Vec<(String, i32, CommittedOffset)> = Vec::new();
    for topic in &req.topics {
        let name = topic.name.0.to_string();
        let mut parts = Vec::new();
        for p in &topic.partitions {
            let metadata = p.committed_metadata.as_deref().unwrap_or("").to_string();
            let code = if let Err(e) = verdict {
                e.code()
            } else if c.topics.partition(&name, p.partition_index).is_none() {
                ResponseError::UnknownTopicOrPartition.code()
            } else if metadata.len() > MAX_METADATA_BYTES {
                ResponseError::OffsetMetadataTooLarge.code()
            } else {
                writes.push((
                    name.clone(),
                    p.partition_index,
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        commit_timestamp: now,
                    },
                ));
                0
            };
            parts.push((p.partition_index, code));
        }
        answers.push((name, parts));
    }
    if !writes.is_empty() {
        let store = c.store.clone();
        let group = group_id.clone();
        let written = writes.clone();
        let result = tokio::task::spawn_blocking(move || store.commit(&group, &written)).await;
        let failed = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("the writing task failed: {e}")),
        };
        if let Some(reason) = failed {
            tracing::warn!("group {group_id}: offset commit not stored: {reason}");
            // Nothing was applied: tell the client to retry, as Kafka does on a storage error.
            for (topic, parts) in &mut answers {
                for (partition, code) in parts.iter_mut() {
                    if writes.iter().any(|(t, p, _)| t == topic && p == partition) {
                        *code = ResponseError::CoordinatorNotAvailable.code();
                    }
                }
            }
        } else {
            let list: Vec<String> = writes
                .iter()
                .map(|(t, p, v)| format!("{t}-{p}={}", v.offset))
                .collect();
            tracing::debug!("group {group_id}: committed {}", list.join(", "));
        }
    }
    {
        let mut v = OffsetCommitResponse::default();
        v.topics = answers
            .into_iter()
            .map(|(name, parts)| {
                let mut v = OffsetCommitResponseTopic::default();
                v.name = TopicName(StrBytes::from_string(name));
                v.partitions = parts
                    .into_iter()
                    .map(|(partition_index, error_code)| {
                        let mut v = OffsetCommitResponsePartition::default();
                        v.partition_index = partition_index;
                        v.error_code = error_code;
                        v
                    })
                    .collect();
                v
            })
            .collect();
        v
    }
}

/// Who commits: the generation, member id and instance id of the request, and whether
/// a transactional producer commits for the group (TxnOffsetCommit).
pub(super) struct Committer<'a> {
    pub(super) generation: i32,
    pub(super) member_id: &'a str,
    pub(super) instance_id: Option<&'a str>,
    pub(super) transactional: bool,
}

/// May this member of this generation commit now? (The table in the module docs.)
///
/// A transactional commit (TxnOffsetCommit) is checked as Kafka's
/// `GroupCoordinator.validateOffsetCommit` checks it with `isTransactional`: an unknown
/// group is created Empty first; without a member id and generation (TxnOffsetCommit
/// v0–v2, which have no such fields) it is taken whatever the group's state; and a
/// group in CompletingRebalance does not refuse it.
pub(super) fn check_commit(
    c: &GroupCoordinator,
    group_id: &str,
    who: Committer<'_>,
    version: i16,
) -> Result<(), ResponseError> {
    if !c.is_active() {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let generation = who.generation;
    let mut groups = c.groups();
    if who.transactional && !groups.contains_key(group_id) {
        groups.insert(
            group_id.to_string(),
            Group::new(group_id, c.settings.explain, c.settings.events.clone()),
        );
    }
    let Some(group) = groups.get_mut(group_id) else {
        if generation < 0 {
            // A group that only stores offsets (no membership): list it as Empty, as Kafka.
            groups.insert(
                group_id.to_string(),
                Group::new(group_id, c.settings.explain, c.settings.events.clone()),
            );
            return Ok(());
        }
        return Err(if version >= 9 {
            ResponseError::GroupIdNotFound
        } else {
            ResponseError::IllegalGeneration
        });
    };
    if group.state == GroupState::Dead {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if generation < 0 && group.state == GroupState::Empty {
        return Ok(());
    }
    if generation >= 0 || !who.member_id.is_empty() || who.instance_id.is_some() {
        group.check_member(who.member_id, who.instance_id)?;
        if generation != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
    } else if !who.transactional && group.state != GroupState::Empty {
        // No member id and no generation: only an Empty group takes such a commit (a
        // transactional producer's is taken from any state, as in Kafka).
        return Err(ResponseError::UnknownMemberId);
    }
    if who.transactional {
        return Ok(());
    }
    if group.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    // A commit is a sign of life too (Kafka completes the heartbeat on commit).
    if let Some(member) = group.members.get_mut(who.member_id) {
        member.last_seen = Instant::now();
    }
    Ok(())
}
