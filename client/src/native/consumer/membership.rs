//! Group membership, the classic protocol: JoinGroup, the leader's assignment, SyncGroup,
//! and LeaveGroup.
//!
//! Where it sits: consumer → FindCoordinator → **JoinGroup → (leader assigns) → SyncGroup**
//! → offsets → fetch … → **LeaveGroup**.
//!
//! A rebalance, seen from one member (Java's `AbstractCoordinator`):
//! 1. JoinGroup with our member id ("" the first time) and one protocol per assignor we
//!    offer (`roundrobin`, `range`), each carrying our subscription
//!    (see [`super::protocol`]). From v4 on, a first join is answered MEMBER_ID_REQUIRED
//!    with an id minted for us, and we join again with it.
//! 2. The broker answers once every member has (re)joined: the generation, the protocol
//!    all members support, the leader, and (to the leader only) every member's subscription.
//! 3. The leader looks up the partition counts of all subscribed topics and runs the
//!    chosen assignor; every member then sends SyncGroup (the leader with the assignments)
//!    and receives its own share.
//! 4. REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID (which also clears
//!    our member id) mean "join again"; coordinator errors go back to the caller, which
//!    finds the coordinator again.
//!
//! Invariant: the partitions returned are exactly what the leader assigned to us in this
//! generation; nothing is fetched before SyncGroup succeeds.

use std::collections::BTreeMap;

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{GroupId, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest};
use kafka_protocol::protocol::StrBytes;

use crate::assignor::{AssignmentStrategy, MemberSubscription};
use crate::config::ConsumerConfig;
use crate::consumer::TopicPartition;
use crate::error::{Error, KafkaCode, Result};
use crate::native::consumer::coordinator::Coordinator;
use crate::native::consumer::protocol;
use crate::native::metadata::Cluster;

/// Highest versions whose layouts this module fills in.
const JOIN_CAP: i16 = 9;
const SYNC_CAP: i16 = 5;
const LEAVE_CAP: i16 = 5;

/// The protocol type every consumer group uses.
const PROTOCOL_TYPE: &str = "consumer";

/// One completed rebalance, as this member sees it.
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    pub(crate) id: i32,
    pub(crate) member_id: String,
    pub(crate) leader: bool,
    /// Our partitions in this generation.
    pub(crate) assignment: Vec<TopicPartition>,
    /// Leader only: the partition count of each topic any member subscribes to (0 for a
    /// topic that does not exist), to notice added partitions or topics later.
    pub(crate) partition_counts: BTreeMap<String, i32>,
}

/// Join the group and sync until this member has a generation and an assignment.
///
/// `member_id` is updated as the coordinator assigns or forgets it, so a caller that gives
/// up halfway can still leave the group with the right id.
pub(crate) async fn join_and_sync(
    coordinator: &Coordinator,
    cluster: &Cluster,
    config: &ConsumerConfig,
    member_id: &mut String,
    topics: &[String],
) -> Result<Generation> {
    let group = &config.group_id;
    loop {
        let subscription = protocol::encode_subscription(topics, &[]);
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_session_timeout_ms(millis(config.session_timeout))
            .with_rebalance_timeout_ms(millis(config.rebalance_timeout))
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(
                config
                    .assignment_strategies
                    .iter()
                    .map(|s| {
                        JoinGroupRequestProtocol::default()
                            .with_name(StrBytes::from_static_str(s.name()))
                            .with_metadata(subscription.clone())
                    })
                    .collect(),
            );
        tracing::debug!(%group, member = %member_id, "joining");
        let resp = coordinator.call_long(&req, JOIN_CAP).await?;
        match KafkaCode::from_code(resp.error_code) {
            _ if resp.error_code == 0 => {}
            KafkaCode::MemberIdRequired => {
                *member_id = resp.member_id.to_string();
                continue;
            }
            KafkaCode::UnknownMemberId => {
                member_id.clear();
                continue;
            }
            KafkaCode::RebalanceInProgress => continue,
            _ => {
                return Err(Error::kafka(
                    resp.error_code,
                    format!("join group `{group}`"),
                ))
            }
        }
        *member_id = resp.member_id.to_string();
        let generation = resp.generation_id;
        let protocol_name = resp
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| config.assignment_strategies[0].name().to_string());
        let leader = resp.leader.as_str() == member_id.as_str();

        let (assignments, partition_counts) = if leader {
            let (a, counts) = leader_assign(
                cluster,
                config,
                topics,
                &protocol_name,
                generation,
                &resp.members,
            )
            .await?;
            (a, counts)
        } else {
            (Vec::new(), BTreeMap::new())
        };

        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
            .with_protocol_name(Some(StrBytes::from_string(protocol_name.clone())))
            .with_assignments(assignments);
        let resp = coordinator.call_long(&req, SYNC_CAP).await?;
        match KafkaCode::from_code(resp.error_code) {
            _ if resp.error_code == 0 => {}
            KafkaCode::UnknownMemberId => {
                member_id.clear();
                continue;
            }
            KafkaCode::RebalanceInProgress | KafkaCode::IllegalGeneration => continue,
            _ => {
                return Err(Error::kafka(
                    resp.error_code,
                    format!("sync group `{group}` generation {generation}"),
                ))
            }
        }
        let assignment =
            protocol::decode_assignment(&resp.assignment).map_err(|message| Error::Protocol {
                addr: coordinator.addr.clone(),
                api: "SyncGroup",
                message: format!("our assignment in group `{group}`: {message}"),
            })?;
        let list: Vec<String> = assignment.iter().map(|tp| tp.to_string()).collect();
        tracing::info!(
            "group {group}: member {member_id} joined generation {generation} ({protocol_name}{}); assigned [{}]",
            if leader { ", leader" } else { "" },
            list.join(", ")
        );
        return Ok(Generation {
            id: generation,
            member_id: member_id.clone(),
            leader,
            assignment,
            partition_counts,
        });
    }
}

/// The leader's part: read every member's subscription, look up the partition counts and
/// run the assignor the group agreed on.
async fn leader_assign(
    cluster: &Cluster,
    config: &ConsumerConfig,
    own_topics: &[String],
    protocol_name: &str,
    generation: i32,
    members: &[JoinGroupResponseMember],
) -> Result<(Vec<SyncGroupRequestAssignment>, BTreeMap<String, i32>)> {
    let group = &config.group_id;
    let strategy = AssignmentStrategy::from_name(protocol_name).ok_or_else(|| Error::Kafka {
        code: KafkaCode::InconsistentGroupProtocol,
        context: format!(
            "group `{group}` chose assignor `{protocol_name}`, which this client does not have"
        ),
    })?;
    let mut subscriptions = Vec::new();
    let mut min_version = protocol::WRITE_VERSION;
    for m in members {
        let topics = match protocol::decode_subscription(&m.metadata) {
            Ok(s) => {
                min_version = min_version.min(s.version);
                s.topics
            }
            Err(e) => {
                tracing::warn!(%group, member = %m.member_id.as_str(), "unreadable subscription, assigning it nothing: {e}");
                Vec::new()
            }
        };
        subscriptions.push(MemberSubscription {
            member_id: m.member_id.to_string(),
            group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            topics,
        });
    }
    let counts = partition_counts(
        cluster,
        config,
        own_topics,
        subscriptions.iter().flat_map(|s| s.topics.iter()),
    )
    .await?;
    let existing: BTreeMap<String, i32> = counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(t, &n)| (t.clone(), n))
        .collect();
    let assignment = strategy.assign(&subscriptions, &existing);
    let described: Vec<String> = assignment
        .iter()
        .map(|(member, tps)| {
            let tps: Vec<String> = tps.iter().map(|(t, p)| format!("{t}-{p}")).collect();
            format!("{member}=[{}]", tps.join(", "))
        })
        .collect();
    tracing::info!(
        "group {group}: generation {generation} with {} members; {} assignment: {}",
        members.len(),
        strategy.name(),
        described.join(", ")
    );
    let assignments = assignment
        .into_iter()
        .map(|(member, tps)| {
            let tps: Vec<TopicPartition> = tps
                .into_iter()
                .map(|(t, p)| TopicPartition::new(t, p))
                .collect();
            SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member))
                .with_assignment(protocol::encode_assignment(&tps, min_version))
        })
        .collect();
    Ok((assignments, counts))
}

/// Partition count of each topic in `topics`, 0 for one that does not exist. Our own subscribed topics may be
/// auto-created (`allow.auto.create.topics`); other members' are only looked up.
pub(crate) async fn partition_counts<'a>(
    cluster: &Cluster,
    config: &ConsumerConfig,
    own_topics: &[String],
    topics: impl Iterator<Item = &'a String>,
) -> Result<BTreeMap<String, i32>> {
    let mut wanted: Vec<&String> = topics.collect();
    wanted.sort();
    wanted.dedup();
    let mut counts = BTreeMap::new();
    for topic in wanted {
        // Always ask the broker: partitions may have been added since the cache was filled.
        cluster.invalidate(topic);
        let auto_create = config.allow_auto_create_topics && own_topics.contains(topic);
        match cluster.topic(topic, auto_create).await {
            Ok(meta) => {
                counts.insert(topic.clone(), meta.partitions.len() as i32);
            }
            Err(Error::UnknownTopic { .. }) => {
                counts.insert(topic.clone(), 0);
                tracing::warn!(group = %config.group_id, %topic, "subscribed topic does not exist; it gets no members until it does");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(counts)
}

/// LeaveGroup: tell the coordinator we are gone, so the others rebalance now rather than
/// after our session timeout. Errors are only logged; the member is leaving anyway.
pub(crate) async fn leave(coordinator: &Coordinator, group: &str, member_id: &str) {
    if member_id.is_empty() {
        return;
    }
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        // v0–v2 name one member here; v3+ list members below.
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_members(vec![MemberIdentity::default()
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_reason(Some(StrBytes::from_static_str(
                "the consumer is closing",
            )))]);
    let version = match coordinator.conn.version_for::<LeaveGroupRequest>() {
        Ok(v) => v.min(LEAVE_CAP),
        Err(e) => {
            tracing::warn!(%group, error = %e, "cannot leave the group");
            return;
        }
    };
    let req = if version >= 3 {
        req.with_member_id(StrBytes::default())
    } else {
        req.with_members(Vec::new())
    };
    match coordinator.call(&req, version).await {
        Ok(resp) => {
            let code = if resp.error_code != 0 {
                resp.error_code
            } else {
                resp.members.first().map_or(0, |m| m.error_code)
            };
            if code != 0 {
                tracing::debug!(%group, member = %member_id, "LeaveGroup answered {}", KafkaCode::from_code(code));
            } else {
                tracing::info!("group {group}: member {member_id} left");
            }
        }
        Err(e) => {
            tracing::warn!(%group, error = %e, "LeaveGroup failed; the coordinator drops us after the session timeout")
        }
    }
}

fn millis(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
