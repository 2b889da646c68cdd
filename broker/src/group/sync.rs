//! SyncGroup: the leader hands in the assignment; every member gets its own share.
//!
//! Where it sits: consumer → JoinGroup → **SyncGroup** → Heartbeat/Fetch of its partitions.
//!
//! The broker never computes an assignment: the leader (the first member to join) received
//! every member's subscription in its JoinGroup response, ran the assignor the group agreed
//! on, and sends one opaque byte string per member here. Followers' SyncGroups wait until the
//! leader's arrives; then the group is Stable. If a new rebalance begins first, waiting
//! members get REBALANCE_IN_PROGRESS and rejoin.
//!
//! Errors, as Kafka: unknown group or member → UNKNOWN_MEMBER_ID; a member id whose
//! `group.instance.id` now belongs to another member id → FENCED_INSTANCE_ID (see
//! `Group::check_member`); another generation →
//! ILLEGAL_GENERATION; a rebalance under way → REBALANCE_IN_PROGRESS; v5 protocol type or
//! name not the group's → INCONSISTENT_GROUP_PROTOCOL.
//!
//! What must stay true:
//! - Assignments are opaque: stored and handed back byte for byte (decoded only for the log
//!   line); a member the leader left out gets an empty one.
//! - A parked SyncGroup is always answered: the assignment, REBALANCE_IN_PROGRESS (new
//!   rebalance or a newer SyncGroup from the same member), UNKNOWN_MEMBER_ID (removed), or
//!   COORDINATOR_NOT_AVAILABLE (shutdown).
//! - The group lock is released before the wait (`register` returns, then `handle` awaits).

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::assignment;
use super::coordinator::sync_error;
use super::state::{Group, GroupState};
use super::{outcome, GroupCoordinator};
use crate::events::EventKind;

enum Outcome {
    Done(SyncGroupResponse),
    Wait(oneshot::Receiver<SyncGroupResponse>),
}

/// SyncGroup v0–v5. A follower's answer waits for the leader's SyncGroup.
pub async fn handle(
    c: &GroupCoordinator,
    req: SyncGroupRequest,
    version: i16,
) -> (SyncGroupResponse, String) {
    let role = match req.assignments.len() {
        0 => "no assignment: a follower waits for the leader's".to_string(),
        n => format!(
            "the leader's assignment for {}",
            crate::explain::count(n, "member")
        ),
    };
    let head = format!(
        "sync_group {} generation {} member {:?} ({role})",
        req.group_id.0.as_str(),
        req.generation_id,
        req.member_id.as_str(),
    );
    let resp = match register(c, req, version) {
        Outcome::Done(response) => response,
        Outcome::Wait(rx) => rx
            .await
            .unwrap_or_else(|_| sync_error(ResponseError::CoordinatorNotAvailable)),
    };
    let line = format!(
        "{head} -> {} assignment bytes{}",
        resp.assignment.len(),
        outcome(resp.error_code)
    );
    (resp, line)
}

fn register(c: &GroupCoordinator, req: SyncGroupRequest, version: i16) -> Outcome {
    let fail = |e: ResponseError| Outcome::Done(sync_error(e));
    if !c.is_active() {
        return fail(ResponseError::CoordinatorNotAvailable);
    }
    let member_id = req.member_id.to_string();
    let mut groups = c.groups();
    let Some(group) = groups.get_mut(req.group_id.0.as_str()) else {
        return fail(ResponseError::UnknownMemberId);
    };
    if group.state == GroupState::Dead {
        return fail(ResponseError::CoordinatorNotAvailable);
    }
    if let Err(e) = group.check_member(&member_id, req.group_instance_id.as_deref()) {
        return fail(e);
    }
    if req.generation_id != group.generation {
        return fail(ResponseError::IllegalGeneration);
    }
    if version >= 5 {
        let type_ok = req
            .protocol_type
            .as_ref()
            .is_none_or(|t| group.protocol_type.as_deref() == Some(t.as_str()));
        let name_ok = req
            .protocol_name
            .as_ref()
            .is_none_or(|n| group.protocol.as_deref() == Some(n.as_str()));
        if !type_ok || !name_ok {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
        GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
        GroupState::Stable => {
            let Some(member) = group.members.get_mut(&member_id) else {
                return fail(ResponseError::UnknownMemberId);
            };
            member.last_seen = Instant::now();
            let assignment = member.assignment.clone();
            Outcome::Done(response(group, assignment))
        }
        GroupState::CompletingRebalance => {
            let (tx, rx) = oneshot::channel();
            let Some(member) = group.members.get_mut(&member_id) else {
                return fail(ResponseError::UnknownMemberId);
            };
            member.last_seen = Instant::now();
            if let Some(old) = member.awaiting_sync.replace(tx) {
                let _ = old.send(sync_error(ResponseError::RebalanceInProgress));
            }
            if group.leader.as_deref() == Some(member_id.as_str()) {
                let assignments: HashMap<String, Bytes> = req
                    .assignments
                    .into_iter()
                    .map(|a| (a.member_id.to_string(), a.assignment))
                    .collect();
                complete_sync(group, assignments);
            }
            Outcome::Wait(rx)
        }
    }
}

/// Stores the leader's assignment, makes the group Stable and answers every waiting member.
fn complete_sync(group: &mut Group, mut assignments: HashMap<String, Bytes>) {
    for member in group.members.values_mut() {
        // A member the leader left out gets an empty assignment, as in Kafka.
        member.assignment = assignments.remove(&member.id).unwrap_or_default();
    }
    let shares: Vec<String> = group
        .members
        .values()
        .map(|m| {
            format!(
                "{}={}",
                m.id,
                assignment::describe(group.protocol_type.as_deref(), &m.assignment)
            )
        })
        .collect();
    let text = format!(
        "group {}: {} -> generation {}; assignment: {}",
        group.id,
        group.rebalance_reason,
        group.generation,
        shares.join(", ")
    );
    tracing::info!("{text}");
    group.events.record(EventKind::Assignment, text);
    group.transition(GroupState::Stable, "the leader sent the assignment");
    let protocol_type = group.protocol_type.clone();
    let protocol = group.protocol.clone();
    let now = Instant::now();
    for member in group.members.values_mut() {
        if let Some(tx) = member.awaiting_sync.take() {
            member.last_seen = now;
            let _ = tx.send({
                let mut v = SyncGroupResponse::default();
                v.protocol_type = protocol_type.clone().map(StrBytes::from_string);
                v.protocol_name = protocol.clone().map(StrBytes::from_string);
                v.assignment = member.assignment.clone();
                v
            });
        }
    }
}

fn response(group: &Group, assignment: Bytes) -> SyncGroupResponse {
    {
        let mut v = SyncGroupResponse::default();
        v.protocol_type = group.protocol_type.clone().map(StrBytes::from_string);
        v.protocol_name = group.protocol.clone().map(StrBytes::from_string);
        v.assignment = assignment;
        v
    }
}
