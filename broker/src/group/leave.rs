//! LeaveGroup: members say goodbye, so the group rebalances now instead of after a
//! session timeout.
//!
//! Where it sits: consumer `close()` → commit → **LeaveGroup** → the remaining members see
//! REBALANCE_IN_PROGRESS on their next heartbeat and rejoin.
//!
//! Versions: v0–v2 name one member (`member_id`) and answer with one error code; v3+ carry a
//! batch of members (`members`, each a member id and/or a `group.instance.id`) and answer an
//! error code per member, the top-level code staying NONE unless the whole group is unknown
//! to this coordinator; v5 adds a `reason` per member, shown in the log.
//!
//! Each leaving member, as Kafka's `handleLeaveGroup`:
//! - member id empty, instance id given: an operator removes a static member by its
//!   instance id (`kafka-consumer-groups --delete ... --instance-id`-style tools); unknown
//!   instance → UNKNOWN_MEMBER_ID;
//! - a pending member id (MEMBER_ID_REQUIRED, not joined yet) is forgotten;
//! - otherwise `Group::check_member`: the instance id, if given, must be held by that member
//!   id (else FENCED_INSTANCE_ID), and the member must exist (else UNKNOWN_MEMBER_ID).
//!
//! Static members (KIP-345) do not send LeaveGroup when they close: their session timeout
//! decides when they are gone, so a restart within it costs no rebalance.
//!
//! What must stay true:
//! - Each leaving member is answered on its own: an unknown one gets UNKNOWN_MEMBER_ID
//!   without stopping the others from leaving.
//! - A member leaves through `GroupCoordinator::remove_member`, which answers its parked
//!   JoinGroup/SyncGroup and starts the rebalance; a still-pending member is dropped and
//!   the join phase re-checked.
//! - Leaving never touches the group's committed offsets.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::state::{Group, GroupState};
use super::{comma_list, outcome, GroupCoordinator};
use crate::error_codes::error_name;
use crate::events::EventKind;

/// One member named in a LeaveGroup.
struct Leaving {
    member_id: String,
    instance_id: Option<String>,
    reason: Option<String>,
}

/// LeaveGroup v0–v5.
pub async fn handle(
    c: &GroupCoordinator,
    req: LeaveGroupRequest,
    version: i16,
) -> (LeaveGroupResponse, String) {
    let members = if req.members.is_empty() {
        format!("{:?}", req.member_id.as_str())
    } else {
        comma_list(req.members.iter().map(|m| {
            let mut who = format!("{:?}", m.member_id.as_str());
            if let Some(instance) = &m.group_instance_id {
                who.push_str(&format!(" instance {:?}", instance.as_str()));
            }
            if let Some(reason) = &m.reason {
                who.push_str(&format!(" (client reason: {reason})"));
            }
            who
        }))
    };
    let head = format!(
        "leave_group {} member(s) {members}",
        req.group_id.0.as_str()
    );
    let resp = leave(c, req, version);
    let errors: Vec<String> = resp
        .members
        .iter()
        .filter(|m| m.error_code != 0)
        .map(|m| {
            let who = match &m.group_instance_id {
                Some(i) if m.member_id.is_empty() => format!("instance {:?}", i.as_str()),
                _ => format!("{:?}", m.member_id.as_str()),
            };
            format!("{who} {}", error_name(m.error_code))
        })
        .collect();
    let line = if errors.is_empty() {
        format!("{head}{}", outcome(resp.error_code))
    } else {
        format!("{head} -> {}", errors.join(", "))
    };
    (resp, line)
}

/// Removes each leaving member; the answer has one code per member from v3 on.
fn leave(c: &GroupCoordinator, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let leaving: Vec<Leaving> = if version >= 3 {
        req.members
            .iter()
            .map(|m| Leaving {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                reason: m.reason.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![Leaving {
            member_id: req.member_id.to_string(),
            instance_id: None,
            reason: None,
        }]
    };
    let top = |e: ResponseError| {
        let mut v = LeaveGroupResponse::default();
        v.error_code = e.code();
        v
    };
    if !c.is_active() {
        return top(ResponseError::CoordinatorNotAvailable);
    }
    let mut groups = c.groups();
    let group = groups.get_mut(req.group_id.0.as_str());
    if group.as_ref().is_some_and(|g| g.state == GroupState::Dead) {
        return top(ResponseError::CoordinatorNotAvailable);
    }
    let mut results = Vec::with_capacity(leaving.len());
    let mut group = group;
    for who in leaving {
        // An unknown group: every member is unknown (Kafka answers per member).
        let error = match group.as_deref_mut() {
            None => ResponseError::UnknownMemberId.code(),
            Some(group) => leave_one(c, group, &who),
        };
        results.push({
            let mut v = MemberResponse::default();
            v.member_id = who.member_id.into();
            v.group_instance_id = who.instance_id.map(Into::into);
            v.error_code = error;
            v
        });
    }
    let mut v = LeaveGroupResponse::default();
    if version >= 3 {
        v.members = results;
    } else {
        v.error_code = results.first().map_or(0, |r| r.error_code);
    }
    v
}

/// One member leaves; its error code (0 when it left).
fn leave_one(c: &GroupCoordinator, group: &mut Group, who: &Leaving) -> i16 {
    let why = match &who.reason {
        Some(r) => format!("it sent LeaveGroup; client reason: {r}"),
        None => "it sent LeaveGroup".to_string(),
    };
    if who.member_id.is_empty() {
        // Removal by instance id only (an operator's tool, v3+).
        let current = who
            .instance_id
            .as_deref()
            .and_then(|i| group.static_member(i))
            .map(str::to_string);
        return match current {
            Some(id) => {
                c.remove_member(group, &id, EventKind::MemberLeft, &why);
                0
            }
            None => ResponseError::UnknownMemberId.code(),
        };
    }
    if group.pending_members.remove(&who.member_id).is_some() {
        c.try_complete_join(group, false);
        return 0;
    }
    match group.check_member(&who.member_id, who.instance_id.as_deref()) {
        Ok(()) => {
            c.remove_member(group, &who.member_id, EventKind::MemberLeft, &why);
            0
        }
        Err(e) => e.code(),
    }
}
