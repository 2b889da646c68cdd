//! OffsetFetch: where a (re)starting consumer resumes.
//!
//! Where it sits: consumer start → JoinGroup/SyncGroup → **OffsetFetch** for its
//! partitions → Fetch from there. Answered from the in-memory view of
//! [`super::offset_store`], which [`super::offset_commit`] keeps up to date.
//!
//! OffsetFetch (v1–v9) answers offset, leader epoch and metadata per partition, -1 with empty
//! metadata when nothing was committed; `topics = null` (v2+) means every committed
//! partition of the group. v8 carries several groups per request. v9 adds a member id and
//! member epoch per group, which Kafka checks only for KIP-848 (`consumer` protocol) groups:
//! for the classic groups served here they are ignored, as Kafka ignores them.
//!
//! What must stay true:
//! - Read-only and in memory: never reads the log, never changes a group, and asks for no
//!   membership (any client may read a group's offsets).
//! - Nothing committed is offset -1, leader epoch -1, empty metadata, and no error.
//! - A transaction's offset commits (TxnOffsetCommit) are not seen before its COMMIT
//!   marker; with `require_stable` (v7+, read_committed consumers) a partition such a
//!   commit waits for answers UNSTABLE_OFFSET_COMMIT, and the consumer asks again.
//! - It sees exactly the commits whose append to `__consumer_offsets` succeeded.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::offset_record::CommittedOffset;
use super::{comma_list, outcome, GroupCoordinator};

/// One partition's answer: `None` offset when nothing was committed; `true` when an
/// open transaction holds a commit for it and the reader asked for stable offsets.
type Answer = (i32, Option<CommittedOffset>, bool);

/// The committed offsets asked for; `topics = None` means all of the group's.
fn lookup(
    c: &GroupCoordinator,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<(String, Vec<Answer>)> {
    let store = &c.store;
    let unstable = |topic: &str, p: i32| require_stable && store.has_pending(group_id, topic, p);
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let answers = partitions
                    .into_iter()
                    .map(|p| (p, store.get(group_id, &topic, p), unstable(&topic, p)))
                    .collect();
                (topic, answers)
            })
            .collect(),
        None => {
            let mut out: Vec<(String, Vec<Answer>)> = Vec::new();
            for (key, value) in store.group_offsets(group_id) {
                let pending = unstable(&key.topic, key.partition);
                match out.last_mut() {
                    Some((topic, answers)) if *topic == key.topic => {
                        answers.push((key.partition, Some(value), pending));
                    }
                    _ => out.push((key.topic, vec![(key.partition, Some(value), pending)])),
                }
            }
            out
        }
    }
}

fn parts(answers: Vec<Answer>, error: i16) -> impl Iterator<Item = (i32, i64, i32, String, i16)> {
    answers.into_iter().map(move |(p, v, unstable)| match v {
        // KIP-447: a reader that asked for stable offsets waits for the transaction.
        _ if unstable => (
            p,
            -1,
            -1,
            String::new(),
            ResponseError::UnstableOffsetCommit.code(),
        ),
        Some(v) => (p, v.offset, v.leader_epoch, v.metadata, error),
        None => (p, -1, -1, String::new(), error),
    })
}

/// OffsetFetch v1–v9.
pub async fn handle(
    c: &GroupCoordinator,
    req: OffsetFetchRequest,
    version: i16,
) -> (OffsetFetchResponse, String) {
    let group_names = if req.groups.is_empty() {
        req.group_id.0.as_str().to_string()
    } else {
        comma_list(req.groups.iter().map(|g| g.group_id.0.as_str()))
    };
    let resp = fetch(c, req, version);
    let line = format!(
        "offset_fetch {group_names} -> {}{}",
        committed_list(&resp),
        outcome(resp.error_code)
    );
    (resp, line)
}

/// What the answer holds, for the log: `demo-topic[0]=5, demo-topic[1]=none` (`none`:
/// nothing committed, the consumer falls back to auto.offset.reset).
fn committed_list(resp: &OffsetFetchResponse) -> String {
    let show = |offset: i64| {
        if offset < 0 {
            "none".to_string()
        } else {
            offset.to_string()
        }
    };
    let mut parts: Vec<String> = resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                format!(
                    "{}[{}]={}",
                    t.name.0.as_str(),
                    p.partition_index,
                    show(p.committed_offset)
                )
            })
        })
        .collect();
    for g in &resp.groups {
        for t in &g.topics {
            for p in &t.partitions {
                parts.push(format!(
                    "{}[{}]={}",
                    t.name.0.as_str(),
                    p.partition_index,
                    show(p.committed_offset)
                ));
            }
        }
    }
    if parts.is_empty() {
        "nothing committed".to_string()
    } else {
        parts.join(", ")
    }
}

/// The committed offsets asked for, in the layout of `version`.
fn fetch(c: &GroupCoordinator, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let error = if c.is_active() {
        0
    } else {
        ResponseError::CoordinatorNotAvailable.code()
    };
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let found = if error == 0 {
                    lookup(c, g.group_id.0.as_str(), topics, req.require_stable)
                } else {
                    Vec::new()
                };
                {
                    let mut v = OffsetFetchResponseGroup::default();
                    v.group_id = g.group_id;
                    v.error_code = error;
                    v.topics = found
                        .into_iter()
                        .map(|(name, answers)| {
                            let mut v = OffsetFetchResponseTopics::default();
                            v.name = TopicName(StrBytes::from_string(name));
                            v.partitions = parts(answers, 0)
                                .map(|(p, offset, epoch, metadata, code)| {
                                    let mut v = OffsetFetchResponsePartitions::default();
                                    v.partition_index = p;
                                    v.committed_offset = offset;
                                    v.committed_leader_epoch = epoch;
                                    v.metadata = Some(StrBytes::from_string(metadata));
                                    v.error_code = code;
                                    v
                                })
                                .collect();
                            v
                        })
                        .collect();
                    v
                }
            })
            .collect();
        return {
            let mut v = OffsetFetchResponse::default();
            v.groups = groups;
            v
        };
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect::<Vec<_>>()
    });
    let found = if error == 0 {
        lookup(c, req.group_id.0.as_str(), topics, req.require_stable)
    } else {
        // v1 has no top-level error: put it on every partition asked for.
        topics
            .unwrap_or_default()
            .into_iter()
            .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None, false)).collect()))
            .collect()
    };
    {
        let mut v = OffsetFetchResponse::default();
        v.error_code = error;
        v.topics = found
            .into_iter()
            .map(|(name, answers)| {
                let mut v = OffsetFetchResponseTopic::default();
                v.name = TopicName(StrBytes::from_string(name));
                v.partitions = parts(answers, error)
                    .map(|(p, offset, epoch, metadata, code)| {
                        let mut v = OffsetFetchResponsePartition::default();
                        v.partition_index = p;
                        v.committed_offset = offset;
                        v.committed_leader_epoch = epoch;
                        v.metadata = Some(StrBytes::from_string(metadata));
                        v.error_code = code;
                        v
                    })
                    .collect();
                v
            })
            .collect();
        v
    }
}
