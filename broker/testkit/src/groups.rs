//! For the group-coordinator tests: a real `Topics` in a temp dir, a real
//! `GroupCoordinator` on it, and request builders that speak the consumer protocol.
//!
//! Flow: tests drive `minikafka_broker::group` directly (or through the [`crate::wire`]
//! client) with the same request structs the protocol layer decodes from the wire.
//!
//! What must stay true: the bytes built here are what Kafka's Java consumer sends
//! (ConsumerProtocolSubscription/Assignment v0 with their version prefix).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use minikafka_broker::group::GroupCoordinator;
use minikafka_broker::log::LogConfig;
use minikafka_broker::topics::Topics;
use minikafka_broker::Config;

pub const TOPIC: &str = "demo-topic";

pub fn config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    }
}

/// Opens (or reopens) the data dir; creates `demo-topic` with 3 partitions the first time.
pub fn open(data_dir: &Path, config: &Config) -> (Arc<Topics>, Arc<GroupCoordinator>) {
    let topics = Arc::new(Topics::open(data_dir, LogConfig::default()).expect("open topics"));
    if topics.get(TOPIC).is_none() {
        topics
            .create(TOPIC, 3, BTreeMap::new())
            .expect("create demo-topic");
    }
    let coordinator = GroupCoordinator::open(topics.clone(), config).expect("open coordinator");
    (topics, coordinator)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// ConsumerProtocolSubscription v0 bytes (version prefix + body), as consumers send them.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default();
    sub.topics = topics.iter().map(|t| s(t)).collect();
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    sub.encode(&mut buf, 0).expect("encode subscription");
    buf.freeze()
}

/// ConsumerProtocolAssignment v0 bytes.
pub fn assignment(parts: &[(&str, &[i32])]) -> Bytes {
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = parts
        .iter()
        .map(|(t, ps)| {
            let mut tp = TopicPartition::default();
            tp.topic = TopicName(s(t));
            tp.partitions = ps.to_vec();
            tp
        })
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    a.encode(&mut buf, 0).expect("encode assignment");
    buf.freeze()
}

pub fn join_req(
    group: &str,
    member_id: &str,
    protocols: &[&str],
    session: Duration,
) -> JoinGroupRequest {
    let mut req = JoinGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.member_id = s(member_id);
    req.session_timeout_ms = session.as_millis() as i32;
    req.rebalance_timeout_ms = session.as_millis() as i32;
    req.protocol_type = s("consumer");
    req.protocols = protocols
        .iter()
        .map(|p| {
            let mut proto = JoinGroupRequestProtocol::default();
            proto.name = s(p);
            proto.metadata = subscription(&[TOPIC]);
            proto
        })
        .collect();
    req
}

pub fn sync_req(
    group: &str,
    member_id: &str,
    generation: i32,
    assignments: &[(&str, Bytes)],
) -> SyncGroupRequest {
    let mut req = SyncGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.member_id = s(member_id);
    req.generation_id = generation;
    req.assignments = assignments
        .iter()
        .map(|(m, a)| {
            let mut sa = SyncGroupRequestAssignment::default();
            sa.member_id = s(m);
            sa.assignment = a.clone();
            sa
        })
        .collect();
    req
}

pub fn heartbeat_req(group: &str, member_id: &str, generation: i32) -> HeartbeatRequest {
    let mut req = HeartbeatRequest::default();
    req.group_id = GroupId(s(group));
    req.member_id = s(member_id);
    req.generation_id = generation;
    req
}

/// Joins a new member with JoinGroup v5: MEMBER_ID_REQUIRED first, then the real join.
/// Returns the second response (it waits until the rebalance completes).
pub async fn join_new(c: &GroupCoordinator, group: &str, session: Duration) -> JoinGroupResponse {
    let first = c
        .join_group(join_req(group, "", &["roundrobin"], session), 5)
        .await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED first");
    assert!(!first.member_id.is_empty());
    c.join_group(
        join_req(group, &first.member_id, &["roundrobin"], session),
        5,
    )
    .await
}

pub fn commit_req(
    group: &str,
    member_id: &str,
    generation: i32,
    offsets: &[(i32, i64, &str)],
) -> OffsetCommitRequest {
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(s(group));
    req.member_id = s(member_id);
    req.generation_id_or_member_epoch = generation;
    let mut topic = OffsetCommitRequestTopic::default();
    topic.name = TopicName(s(TOPIC));
    topic.partitions = offsets
        .iter()
        .map(|(p, o, m)| {
            let mut part = OffsetCommitRequestPartition::default();
            part.partition_index = *p;
            part.committed_offset = *o;
            part.committed_metadata = Some(s(m));
            part
        })
        .collect();
    req.topics = vec![topic];
    req
}

/// Every (partition, error code) of an OffsetCommit response.
pub fn commit_errors(resp: &OffsetCommitResponse) -> Vec<(i32, i16)> {
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
        })
        .collect()
}

/// OffsetFetch v7 for `partitions` of demo-topic, or every committed partition when `None`.
pub fn fetch_req(group: &str, partitions: Option<&[i32]>) -> OffsetFetchRequest {
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(s(group));
    req.topics = partitions.map(|ps| {
        let mut t = OffsetFetchRequestTopic::default();
        t.name = TopicName(s(TOPIC));
        t.partition_indexes = ps.to_vec();
        vec![t]
    });
    req
}

/// (topic, partition) → (offset, metadata) from an OffsetFetch v1–v7 response.
pub fn fetched(resp: &OffsetFetchResponse) -> BTreeMap<(String, i32), (i64, String)> {
    assert_eq!(resp.error_code, 0);
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                assert_eq!(p.error_code, 0);
                (
                    (t.name.0.to_string(), p.partition_index),
                    (
                        p.committed_offset,
                        p.metadata.as_deref().unwrap_or("").to_string(),
                    ),
                )
            })
        })
        .collect()
}
