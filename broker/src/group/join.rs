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
//! 2. No member id: mint `<client_id>-<uuid>`. A dynamic member (no `group.instance.id`)
//!    gets MEMBER_ID_REQUIRED with it from v4 on and rejoins with it; before v4 it is added
//!    at once. A static member (v5+, `group.instance.id`, KIP-345) is never asked to rejoin:
//!    - its instance id is new to the group: it is added, as a new member;
//!    - its instance id is known: it **takes the old member's place** under the new id
//!      ([`replace_static_member`]), keeping the assignment. In a Stable group whose
//!      protocol stays the same this is answered at once, without a rebalance; the old member
//!      id is fenced from then on (FENCED_INSTANCE_ID).
//! 3. A known member id (checked with its instance id by `Group::check_member`: a replaced
//!    one gets FENCED_INSTANCE_ID), or a known one whose metadata changed (or the leader
//!    rejoining a Stable group), starts a rebalance; its JoinGroup waits until every member has
//!    rejoined or the rebalance timeout passes (`GroupCoordinator::try_complete_join`).
//! 4. A known member rejoining with the same metadata while the group is Stable or
//!    CompletingRebalance gets the current generation back at once.
//!
//! Versions: v0–v9. v1 adds the rebalance timeout, v4 MEMBER_ID_REQUIRED, v5 the instance
//! id, v8 the client's `reason` (shown in the log line and the rebalance's reason), v9
//! `skip_assignment` (a static leader coming back to a Stable group is told it leads, with
//! the member list, but must not assign; before v9 it is told the old leader id instead).
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
    /// v8+: why the client (re)joins, e.g. "rebalance failed due to ...", for the log.
    reason: Option<String>,
}

impl JoinArgs {
    /// `; client reason: ...` for a rebalance's reason, when the client gave one (v8+).
    fn because(&self) -> String {
        self.reason
            .as_deref()
            .map(|r| format!("; client reason: {r}"))
            .unwrap_or_default()
    }
}

/// JoinGroup v0–v9. The answer may wait until the rebalance completes.
pub async fn handle(
    c: &GroupCoordinator,
    req: JoinGroupRequest,
    version: i16,
    client: &ClientInfo,
) -> (JoinGroupResponse, String) {
    let instance = req
        .group_instance_id
        .as_ref()
        .map(|i| format!(" instance {:?}", i.as_str()))
        .unwrap_or_default();
    let reason = req
        .reason
        .as_ref()
        .map(|r| format!(" (client reason: {r})"))
        .unwrap_or_default();
    let head = format!(
        "join_group {} member {:?}{instance}{reason}",
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
    let skip = if resp.skip_assignment {
        " (skip assignment: the group is Stable)"
    } else {
        ""
    };
    let line = format!(
        "{head} -> generation {}, member {:?}, leader {:?}{skip}{}",
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
        reason: req.reason.map(|r| r.to_string()),
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
        if let Some(instance) = args.group_instance_id.clone() {
            if let Some(old_id) = group.static_member(&instance).map(str::to_string) {
                return replace_static_member(c, group, &old_id, new_id, args, version);
            }
        } else if version >= 4 {
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
    if let Err(e) = group.check_member(&member_id, args.group_instance_id.as_deref()) {
        if e == ResponseError::FencedInstanceId {
            let instance = args.group_instance_id.as_deref().unwrap_or_default();
            crate::explain::always(
                group.explain,
                "group/state.rs Group::check_member",
                format_args!(
                    "group {}: member {member_id} is fenced (FENCED_INSTANCE_ID): instance {instance:?} now belongs to {}",
                    group.id,
                    group.static_member(instance).unwrap_or_default()
                ),
            );
        }
        return fail(e);
    }
    let Some(member) = group.members.get(&member_id) else {
        return fail(ResponseError::UnknownMemberId);
    };
    let same = member.protocols == args.protocols;
    let is_leader = group.leader.as_deref() == Some(member_id.as_str());
    let because = args.because();
    match group.state {
        GroupState::PreparingRebalance => {
            update_member(c, group, args, &format!("rejoined{because}"))
        }
        GroupState::CompletingRebalance if same => Outcome::Done(group.join_response(&member_id)),
        GroupState::CompletingRebalance => update_member(
            c,
            group,
            args,
            &format!("rejoined with new metadata{because}"),
        ),
        GroupState::Stable if same && !is_leader => Outcome::Done(group.join_response(&member_id)),
        GroupState::Stable => {
            let what = if same {
                "(the leader) rejoined"
            } else {
                "rejoined with new metadata"
            };
            update_member(c, group, args, &format!("{what}{because}"))
        }
        GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
    }
}

/// Kafka's `updateStaticMemberAndRebalance`: a static member came back (a restarted
/// process, or a second one with the same `group.instance.id`) without a member id. It
/// takes `old_id`'s place under `new_id`; `old_id` is fenced from now on.
///
/// | group state         | what happens                                                   |
/// |---------------------|----------------------------------------------------------------|
/// | Stable, same protocol | answered at once, same generation: no rebalance; its SyncGroup gets the old assignment |
/// | Stable, protocol would change | a rebalance                                          |
/// | CompletingRebalance | a rebalance (the leader may be assigning to the old id)        |
/// | PreparingRebalance  | it waits for the rebalance like any member that rejoined       |
fn replace_static_member(
    c: &GroupCoordinator,
    group: &mut Group,
    old_id: &str,
    new_id: String,
    args: JoinArgs,
    version: i16,
) -> Outcome {
    let instance = args.group_instance_id.clone().unwrap_or_default();
    let old_leader = group.leader.clone().unwrap_or_default();
    group.replace_static_member(old_id, &new_id);
    let text = format!(
        "group {}: static member {instance:?} came back as {new_id}; it takes the place (and the partitions) of {old_id}, which is fenced from now on",
        group.id
    );
    crate::explain::always(
        group.explain,
        "group/join.rs replace_static_member",
        format_args!("{text}"),
    );
    group.events.record(EventKind::MemberJoined, text);
    c.spawn_session_timer(&group.id, &new_id);
    let (tx, rx) = oneshot::channel();
    let because = args.because();
    let Some(member) = group.members.get_mut(&new_id) else {
        return Outcome::Done(join_error(ResponseError::UnknownMemberId, &new_id));
    };
    member.protocols = args.protocols;
    member.session_timeout = args.session_timeout;
    member.rebalance_timeout = args.rebalance_timeout;
    member.last_seen = Instant::now();
    let stays = group.state == GroupState::Stable && group.select_protocol() == group.protocol;
    if !stays {
        // It waits for the rebalance like any member that rejoined.
        if let Some(member) = group.members.get_mut(&new_id) {
            member.awaiting_join = Some(tx);
        }
    }
    match group.state {
        GroupState::Stable if stays => {
            crate::explain::always(
                group.explain,
                "group/join.rs replace_static_member",
                format_args!(
                    "group {}: no rebalance: the group is Stable and its protocol stays {}; generation {} goes on",
                    group.id,
                    group.protocol.as_deref().unwrap_or("none"),
                    group.generation
                ),
            );
            let is_leader = group.leader.as_deref() == Some(new_id.as_str());
            let mut response = group.join_response(&new_id);
            if version >= 9 {
                // The leader learns it leads (it keeps watching metadata) but must not
                // run the assignor: a Stable group would ignore the new assignment.
                response.skip_assignment = is_leader;
            } else {
                // Before v9 the old leader id is named, so a returning leader acts as a
                // follower and just fetches its assignment.
                response.leader = old_leader.into();
                response.members.clear();
            }
            Outcome::Done(response)
        }
        GroupState::Stable => {
            c.prepare_rebalance(
                group,
                &format!("static member {instance:?} came back with a change of protocol{because}"),
            );
            c.try_complete_join(group, false);
            Outcome::Wait(rx)
        }
        GroupState::CompletingRebalance => {
            c.prepare_rebalance(
                group,
                &format!(
                    "static member {instance:?} came back while the leader was assigning{because}"
                ),
            );
            c.try_complete_join(group, false);
            Outcome::Wait(rx)
        }
        GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {
            c.try_complete_join(group, false);
            Outcome::Wait(rx)
        }
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
    let static_ = match &args.group_instance_id {
        Some(instance) => format!(" (static, instance {instance:?})"),
        None => String::new(),
    };
    let because = args.because();
    let names: Vec<&str> = args.protocols.iter().map(|(n, _)| n.as_str()).collect();
    let text = format!(
        "group {}: member {}{static_} joined (client id {:?}, protocols [{}])",
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
        c.prepare_rebalance(
            group,
            &format!("member {}{static_} joined{because}", args.member_id),
        );
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
