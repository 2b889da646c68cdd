//! JoinGroup: a consumer asks to be in a group; the answer comes when the rebalance completes.
//!
//! Where it sits: consumer → FindCoordinator → **JoinGroup** → SyncGroup → Heartbeat/Fetch.
//! Called by `protocol::handle_request` with the client id and host from the request.
//!
//! The steps, as Kafka's `GroupCoordinator.handleJoinGroup`:
//! 1. Check the request: a group id, a session timeout inside
//!    `[group.min.session.timeout.ms, group.max.session.timeout.ms]` (else
//!    INVALID_SESSION_TIMEOUT), a protocol type and protocols the group can share (else
//!    INCONSISTENT_GROUP_PROTOCOL).
//! 2. No member id: mint `<client_id>-<uuid>`. From v4 on, answer MEMBER_ID_REQUIRED with it
//!    and wait for the client to rejoin with it; before v4, add the member at once.
//! 3. A new member, or a known one whose metadata changed (or the leader rejoining a Stable
//!    group), starts a rebalance; its JoinGroup waits until every member has rejoined or the
//!    rebalance timeout passes (`GroupCoordinator::try_complete_join`).
//! 4. A known member rejoining with the same metadata while the group is Stable or
//!    CompletingRebalance gets the current generation back at once.
//!
//! Invariant: the response handed to a waiting member names its own member id; only the
//! leader's response lists the members and their subscriptions.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::coordinator::join_error;
use super::state::{Group, GroupState, Member};
use super::{outcome, ClientInfo, GroupCoordinator};
use crate::events::EventKind;

enum Outcome {
    Done(JoinGroupResponse),
    Wait(oneshot::Receiver<JoinGroupResponse>),
}

/// What the request asks for, checked and converted.
struct JoinArgs {
    group_id: String,
    member_id: String,
    group_instance_id: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
}

/// JoinGroup v0–v7. The answer may wait until the rebalance completes.
pub async fn handle(
    c: &GroupCoordinator,
    req: JoinGroupRequest,
    version: i16,
    client: &ClientInfo,
) -> (JoinGroupResponse, String) {
    let head = format!(
        "join_group {} member {:?}",
        req.group_id.0.as_str(),
        req.member_id.as_str()
    );
    let member_id = req.member_id.to_string();
    let resp = match register(c, req, version, client) {
        Outcome::Done(response) => response,
        // The sender is dropped without an answer only when the coordinator goes away.
        Outcome::Wait(rx) => rx
            .await
            .unwrap_or_else(|_| join_error(ResponseError::CoordinatorNotAvailable, &member_id)),
    };
    let line = format!(
        "{head} -> generation {}, member {:?}, leader {:?}{}",
        resp.generation_id,
        resp.member_id.as_str(),
        resp.leader.as_str(),
        outcome(resp.error_code)
    );
    (resp, line)
}

fn register(
    c: &GroupCoordinator,
    req: JoinGroupRequest,
    version: i16,
    client: &ClientInfo,
) -> Outcome {
    let member_id = req.member_id.to_string();
    let fail = |e: ResponseError| Outcome::Done(join_error(e, &member_id));
    if !c.is_active() {
        return fail(ResponseError::CoordinatorNotAvailable);
    }
    let group_id = req.group_id.0.to_string();
    if group_id.is_empty() {
        return fail(ResponseError::InvalidGroupId);
    }
    let settings = &c.settings;
    let session_timeout = Duration::from_millis(u64::try_from(req.session_timeout_ms).unwrap_or(0));
    if session_timeout < settings.min_session_timeout
        || session_timeout > settings.max_session_timeout
    {
        return fail(ResponseError::InvalidSessionTimeout);
    }
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_timeout = match u64::try_from(req.rebalance_timeout_ms) {
        Ok(ms) if version > 0 && ms > 0 => Duration::from_millis(ms),
        _ => session_timeout,
    };
    let args = JoinArgs {
        group_id,
        member_id: member_id.clone(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        session_timeout,
        rebalance_timeout,
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
    };

    let mut groups = c.groups();
    if !groups.contains_key(&args.group_id) {
        if !member_id.is_empty() {
            return fail(ResponseError::UnknownMemberId);
        }
        // Checked before the group exists, so a refused join leaves no empty group behind.
        if args.protocol_type.is_empty() || args.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
    }
    let group = groups.entry(args.group_id.clone()).or_insert_with(|| {
        Group::new(
            &args.group_id,
            c.settings.explain,
            c.settings.events.clone(),
        )
    });
    if group.state == GroupState::Dead {
        return fail(ResponseError::CoordinatorNotAvailable);
    }
    let changes_protocols = group
        .members
        .get(&member_id)
        .is_none_or(|m| m.protocols != args.protocols);
    if changes_protocols && !group.supports(&args.protocol_type, &args.protocols) {
        return fail(ResponseError::InconsistentGroupProtocol);
    }
    let now = Instant::now();
    group.prune_pending(now);

    if member_id.is_empty() {
        let new_id = c.new_member_id(&client.client_id);
        if version >= 4 {
            let expires = now + args.session_timeout;
            group.pending_members.insert(new_id.clone(), expires);
            c.spawn_pending_timer(&group.id, expires);
            tracing::debug!(
                "group {}: gave member id {new_id} (MEMBER_ID_REQUIRED)",
                group.id
            );
            return Outcome::Done(join_error(ResponseError::MemberIdRequired, &new_id));
        }
        return add_member(
            c,
            group,
            JoinArgs {
                member_id: new_id,
                ..args
            },
            client,
        );
    }
    if group.pending_members.remove(&member_id).is_some() {
        return add_member(c, group, args, client);
    }
    let Some(member) = group.members.get(&member_id) else {
        return fail(ResponseError::UnknownMemberId);
    };
    let same = member.protocols == args.protocols;
    let is_leader = group.leader.as_deref() == Some(member_id.as_str());
    match group.state {
        GroupState::PreparingRebalance => update_member(c, group, args, "rejoined"),
        GroupState::CompletingRebalance if same => Outcome::Done(group.join_response(&member_id)),
        GroupState::CompletingRebalance => {
            update_member(c, group, args, "rejoined with new metadata")
        }
        GroupState::Stable if same && !is_leader => Outcome::Done(group.join_response(&member_id)),
        GroupState::Stable => update_member(
            c,
            group,
            args,
            if same {
                "(the leader) rejoined"
            } else {
                "rejoined with new metadata"
            },
        ),
        GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
    }
}

/// Kafka's `addMemberAndRebalance`.
fn add_member(
    c: &GroupCoordinator,
    group: &mut Group,
    args: JoinArgs,
    client: &ClientInfo,
) -> Outcome {
    let (tx, rx) = oneshot::channel();
    if group.members.is_empty() {
        group.protocol_type = Some(args.protocol_type.clone());
    }
    if group.leader.is_none() {
        group.leader = Some(args.member_id.clone());
    }
    let names: Vec<&str> = args.protocols.iter().map(|(n, _)| n.as_str()).collect();
    let text = format!(
        "group {}: member {} joined (client id {:?}, protocols [{}])",
        group.id,
        args.member_id,
        client.client_id,
        names.join(", ")
    );
    tracing::info!("{text}");
    group.events.record(EventKind::MemberJoined, text);
    let member = Member {
        id: args.member_id.clone(),
        group_instance_id: args.group_instance_id,
        client_id: client.client_id.clone(),
        client_host: client.client_host.clone(),
        session_timeout: args.session_timeout,
        rebalance_timeout: args.rebalance_timeout,
        protocols: args.protocols,
        assignment: Bytes::new(),
        awaiting_join: Some(tx),
        awaiting_sync: None,
        last_seen: Instant::now(),
    };
    group.members.insert(args.member_id.clone(), member);
    c.spawn_session_timer(&group.id, &args.member_id);
    if group.state != GroupState::PreparingRebalance {
        c.prepare_rebalance(group, &format!("member {} joined", args.member_id));
    } else if group.join_not_before.is_some_and(|t| Instant::now() < t) {
        // Kafka's InitialDelayedJoin: each newcomer during the initial delay extends it
        // (the rebalance timeout still bounds the whole wait).
        c.extend_initial_delay(group);
    }
    c.try_complete_join(group, false);
    Outcome::Wait(rx)
}

/// Kafka's `updateMemberAndRebalance`.
fn update_member(c: &GroupCoordinator, group: &mut Group, args: JoinArgs, what: &str) -> Outcome {
    let (tx, rx) = oneshot::channel();
    let Some(member) = group.members.get_mut(&args.member_id) else {
        return Outcome::Done(join_error(ResponseError::UnknownMemberId, &args.member_id));
    };
    member.protocols = args.protocols;
    member.session_timeout = args.session_timeout;
    member.rebalance_timeout = args.rebalance_timeout;
    member.last_seen = Instant::now();
    if let Some(old) = member.awaiting_join.replace(tx) {
        let _ = old.send(join_error(
            ResponseError::RebalanceInProgress,
            &args.member_id,
        ));
    }
    if group.state == GroupState::PreparingRebalance {
        tracing::debug!("group {}: member {} {what}", group.id, args.member_id);
    } else {
        c.prepare_rebalance(group, &format!("member {} {what}", args.member_id));
    }
    c.try_complete_join(group, false);
    Outcome::Wait(rx)
}
