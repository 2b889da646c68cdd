//! LeaveGroup: members say goodbye, so the group rebalances now instead of after a
//! session timeout.
//!
//! Where it sits: consumer `close()` → commit → **LeaveGroup** → the remaining members see
//! REBALANCE_IN_PROGRESS on their next heartbeat and rejoin.
//!
//! Versions: v0–v2 name one member (`member_id`) and answer with one error code; v3+ carry a
//! batch of members (`members`) and answer an error code per member, the top-level code
//! staying NONE unless the whole group is unknown to this coordinator.
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

use super::state::GroupState;
use super::{comma_list, outcome, GroupCoordinator};
use crate::events::EventKind;

/// LeaveGroup v0–v4.
pub async fn handle(
    c: &GroupCoordinator,
    req: LeaveGroupRequest,
    version: i16,
) -> (LeaveGroupResponse, String) {
    let members = if req.members.is_empty() {
        format!("{:?}", req.member_id.as_str())
    } else {
        comma_list(req.members.iter().map(|m| m.member_id.as_str()))
    };
    let head = format!(
        "leave_group {} member(s) {members}",
        req.group_id.0.as_str()
    );
    let resp = leave(c, req, version);
    let line = format!("{head}{}", outcome(resp.error_code));
    (resp, line)
}

/// Removes each leaving member; the answer has one code per member from v3 on.
fn leave(c: &GroupCoordinator, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
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
    let Some(group) = groups.get_mut(req.group_id.0.as_str()) else {
        return top(ResponseError::UnknownMemberId);
    };
    if group.state == GroupState::Dead {
        return top(ResponseError::CoordinatorNotAvailable);
    }
    let mut results = Vec::with_capacity(leaving.len());
    for (member_id, instance_id) in leaving {
        let error = if group.members.contains_key(&member_id) {
            c.remove_member(
                group,
                &member_id,
                EventKind::MemberLeft,
                "it sent LeaveGroup",
            );
            0
        } else if group.pending_members.remove(&member_id).is_some() {
            c.try_complete_join(group, false);
            0
        } else {
            ResponseError::UnknownMemberId.code()
        };
        results.push({
            let mut v = MemberResponse::default();
            v.member_id = member_id.into();
            v.group_instance_id = instance_id.map(Into::into);
            v.error_code = error;
            v
        });
    }
    if version >= 3 {
        {
            let mut v = LeaveGroupResponse::default();
            v.members = results;
            v
        }
    } else {
        {
            let mut v = LeaveGroupResponse::default();
            v.error_code = results.first().map_or(0, |r| r.error_code);
            v
        }
    }
}
