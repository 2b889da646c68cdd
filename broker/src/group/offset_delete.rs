//! OffsetDelete (key 47): delete a group's committed offsets for some partitions
//! (`kafka-consumer-groups --delete-offsets`).
//!
//! Where it sits: an admin client → **OffsetDelete** → [`super::offset_store`] appends a
//! tombstone per deleted offset to `__consumer_offsets` → OffsetFetch no longer finds
//! them, now and after a restart.
//!
//! | case                                                  | answer                         |
//! |-------------------------------------------------------|--------------------------------|
//! | coordinator shut down                                 | COORDINATOR_NOT_AVAILABLE (top) |
//! | empty group id                                        | INVALID_GROUP_ID (top)         |
//! | no such group, or Dead                                | GROUP_ID_NOT_FOUND (top)       |
//! | members, protocol type not `consumer`                 | NON_EMPTY_GROUP (top)          |
//! | partition of a topic a member subscribes to           | GROUP_SUBSCRIBED_TO_TOPIC      |
//! | partition the broker does not have                    | UNKNOWN_TOPIC_OR_PARTITION     |
//! | any other (with or without a committed offset)        | deleted (NONE)                 |
//!
//! What must stay true: a partition refused keeps its offset; the group lock is released
//! before the tombstones are written (on the blocking pool).

use std::collections::BTreeSet;

use bytes::Buf;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::Decodable;

use super::offset_record::OffsetKey;
use super::state::{Group, GroupState};
use super::{outcome, GroupCoordinator};

/// OffsetDelete v0.
pub async fn handle(
    c: &GroupCoordinator,
    req: OffsetDeleteRequest,
    version: i16,
) -> (OffsetDeleteResponse, String) {
    let group = req.group_id.0.to_string();
    let (resp, deleted) = match delete(c, &group, &req).await {
        Ok(done) => done,
        Err(e) => (OffsetDeleteResponse::default().with_error_code(e.code()), 0),
    };
    let refused = resp
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.error_code != 0)
        .count();
    let line = format!(
        "offset_delete v{version} {group}: {deleted} offset(s) tombstoned, {refused} partition(s) refused{}",
        outcome(resp.error_code)
    );
    (resp, line)
}

/// The topics the members of a `consumer` group subscribe to, from their JoinGroup
/// metadata (Kafka's ConsumerProtocolSubscription: version i16, then the fields).
fn subscribed_topics(group: &Group) -> BTreeSet<String> {
    let protocol = group.protocol.clone().unwrap_or_default();
    group
        .members
        .values()
        .filter_map(|m| {
            m.metadata_for(&protocol)
                .or_else(|| m.protocols.first().map(|(_, b)| b))
        })
        .filter_map(|bytes| {
            let mut bytes = bytes.clone();
            if bytes.remaining() < 2 {
                return None;
            }
            let version = bytes.get_i16().clamp(0, 3);
            ConsumerProtocolSubscription::decode(&mut bytes, version).ok()
        })
        .flat_map(|s| s.topics.into_iter().map(|t| t.to_string()))
        .collect()
}

async fn delete(
    c: &GroupCoordinator,
    id: &str,
    req: &OffsetDeleteRequest,
) -> Result<(OffsetDeleteResponse, usize), ResponseError> {
    if !c.is_active() {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let subscribed = {
        let groups = c.groups();
        let group = groups.get(id).ok_or(ResponseError::GroupIdNotFound)?;
        match group.state {
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            GroupState::Empty => BTreeSet::new(),
            _ if group.protocol_type.as_deref() == Some("consumer") => subscribed_topics(group),
            _ => return Err(ResponseError::NonEmptyGroup),
        }
    };
    let mut keys = Vec::new();
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let code = if c.topics.partition(&name, p.partition_index).is_none() {
                ResponseError::UnknownTopicOrPartition.code()
            } else if subscribed.contains(&name) {
                ResponseError::GroupSubscribedToTopic.code()
            } else {
                keys.push(OffsetKey {
                    group: id.to_string(),
                    topic: name.clone(),
                    partition: p.partition_index,
                });
                0
            };
            partitions.push(
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code),
            );
        }
        topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    let store = c.store.clone();
    let deleted = match tokio::task::spawn_blocking(move || store.delete(&keys)).await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::warn!("group {id}: offsets not deleted: {e}");
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        Err(e) => {
            tracing::warn!("group {id}: the deleting task failed: {e}");
            return Err(ResponseError::CoordinatorNotAvailable);
        }
    };
    Ok((OffsetDeleteResponse::default().with_topics(topics), deleted))
}
