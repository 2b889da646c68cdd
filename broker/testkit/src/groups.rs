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
use minikafka_broker::config::LogConfig;
use minikafka_broker::group::{self, ClientInfo, GroupCoordinator};
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
    let sub =
        ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| s(t)).collect());
    versioned(&sub)
}

/// ConsumerProtocolAssignment v0 bytes.
pub fn assignment(parts: &[(&str, &[i32])]) -> Bytes {
    let parts = parts.iter().map(|(t, ps)| {
        TopicPartition::default()
            .with_topic(TopicName(s(t)))
            .with_partitions(ps.to_vec())
    });
    versioned(&ConsumerProtocolAssignment::default().with_assigned_partitions(parts.collect()))
}

/// Version 0's prefix, then `body` encoded at version 0.
fn versioned(body: &impl Encodable) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    body.encode(&mut buf, 0)
        .expect("encode the consumer protocol");
    buf.freeze()
}

pub fn join_req(
    group: &str,
    member_id: &str,
    protocols: &[&str],
    session: Duration,
) -> JoinGroupRequest {
    let protocols = protocols.iter().map(|p| {
        JoinGroupRequestProtocol::default()
            .with_name(s(p))
            .with_metadata(subscription(&[TOPIC]))
    });
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member_id))
        .with_session_timeout_ms(session.as_millis() as i32)
        .with_rebalance_timeout_ms(session.as_millis() as i32)
        .with_protocol_type(s("consumer"))
        .with_protocols(protocols.collect())
}

pub fn sync_req(
    group: &str,
    member_id: &str,
    generation: i32,
    assignments: &[(&str, Bytes)],
) -> SyncGroupRequest {
    let assignments = assignments.iter().map(|(m, a)| {
        SyncGroupRequestAssignment::default()
            .with_member_id(s(m))
            .with_assignment(a.clone())
    });
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member_id))
        .with_generation_id(generation)
        .with_assignments(assignments.collect())
}

pub fn heartbeat_req(group: &str, member_id: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member_id))
        .with_generation_id(generation)
}

/// Joins a new member with JoinGroup v5: MEMBER_ID_REQUIRED first, then the real join.
/// Returns the second response (it waits until the rebalance completes).
pub async fn join_new(c: &GroupCoordinator, group: &str, session: Duration) -> JoinGroupResponse {
    let first = group::join::handle(
        c,
        join_req(group, "", &["roundrobin"], session),
        5,
        &ClientInfo::default(),
    )
    .await
    .0;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED first");
    assert!(!first.member_id.is_empty());
    group::join::handle(
        c,
        join_req(group, &first.member_id, &["roundrobin"], session),
        5,
        &ClientInfo::default(),
    )
    .await
    .0
}

/// [`join_new`] over the wire: the same two JoinGroup v5 steps, sent by a real
/// client connection to a running broker. Returns the second response; its
/// `member_id` is the new member's.
pub async fn join_new_over_wire(
    c: &mut crate::wire::Client,
    group: &str,
    protocols: &[&str],
    session: Duration,
) -> JoinGroupResponse {
    use kafka_protocol::messages::ApiKey;
    let first: JoinGroupResponse = c
        .call(
            ApiKey::JoinGroup,
            5,
            &join_req(group, "", protocols, session),
        )
        .await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED first: {first:?}");
    let id = first.member_id.to_string();
    c.call(
        ApiKey::JoinGroup,
        5,
        &join_req(group, &id, protocols, session),
    )
    .await
}

pub fn commit_req(
    group: &str,
    member_id: &str,
    generation: i32,
    offsets: &[(i32, i64, &str)],
) -> OffsetCommitRequest {
    let partitions = offsets.iter().map(|(p, o, m)| {
        OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(s(m)))
    });
    let topic = OffsetCommitRequestTopic::default()
        .with_name(TopicName(s(TOPIC)))
        .with_partitions(partitions.collect());
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member_id))
        .with_generation_id_or_member_epoch(generation)
        .with_topics(vec![topic])
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
    let topics = partitions.map(|ps| {
        let topic = OffsetFetchRequestTopic::default().with_name(TopicName(s(TOPIC)));
        vec![topic.with_partition_indexes(ps.to_vec())]
    });
    OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(topics)
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

/// The committed offsets of `group` once they are stable: OffsetFetch v7 with
/// `require_stable`, retried while the coordinator loads or a partition is
/// UNSTABLE_OFFSET_COMMIT (a transaction holds a commit). Fails the test if they never
/// become stable: a transaction was left open. (topic, partition) → offset.
pub async fn fetch_stable(addr: std::net::SocketAddr, group: &str) -> BTreeMap<(String, i32), i64> {
    let mut client = crate::within("connect", crate::wire::Client::connect(addr)).await;
    let request = fetch_req(group, None).with_require_stable(true);
    let mut last = None;
    for _ in 0..500 {
        let resp: OffsetFetchResponse = crate::within(
            "OffsetFetch",
            client.call(kafka_protocol::messages::ApiKey::OffsetFetch, 7, &request),
        )
        .await;
        let unstable = resp
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.error_code != 0);
        if resp.error_code == 0 && !unstable {
            return fetched(&resp)
                .into_iter()
                .map(|(tp, (offset, _))| (tp, offset))
                .collect();
        }
        last = Some(resp);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("group {group}: OffsetFetch never stable: {last:?}")
}
