//! Heartbeat: a member says "still here", and learns whether it must rejoin.
//!
//! Where it sits: consumer (background thread/task) → **Heartbeat** every
//! `heartbeat.interval.ms`, between JoinGroup/SyncGroup and LeaveGroup.
//!
//! Each accepted heartbeat moves the member's session deadline (see
//! [`super::state::Member::session_deadline`]). Answers, as Kafka's `handleHeartbeat`:
//!
//! | group state          | answer (member known, right generation)             |
//! |----------------------|-----------------------------------------------------|
//! | Stable               | NONE                                                |
//! | CompletingRebalance  | NONE (members heartbeat while the leader assigns)   |
//! | PreparingRebalance   | REBALANCE_IN_PROGRESS: rejoin now                   |
//! | Empty                | UNKNOWN_MEMBER_ID                                   |
//! | Dead                 | COORDINATOR_NOT_AVAILABLE                           |
//!
//! An unknown group or member gets UNKNOWN_MEMBER_ID; a member id whose `group.instance.id`
//! (v3+) now belongs to another member id gets FENCED_INSTANCE_ID, the answer that stops a
//! replaced static member (see `Group::check_member`); another generation gets
//! ILLEGAL_GENERATION.
//!
//! What must stay true:
//! - Only a known member of the current generation has its session moved, including
//!   during PreparingRebalance, so it stays alive while it rejoins.
//! - A heartbeat never changes the group's state and never waits: it answers at once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use tokio::time::Instant;

use super::state::GroupState;
use super::{outcome, GroupCoordinator};

/// Heartbeat v0–v4.
pub async fn handle(
    c: &GroupCoordinator,
    req: HeartbeatRequest,
    _version: i16,
) -> (HeartbeatResponse, String) {
    let error = check(c, &req).map_or_else(|e| e.code(), |()| 0);
    let resp = {
        let mut v = HeartbeatResponse::default();
        v.error_code = error;
        v
    };
    let instance = req
        .group_instance_id
        .as_ref()
        .map(|i| format!(" instance {:?}", i.as_str()))
        .unwrap_or_default();
    let line = format!(
        "heartbeat {} generation {} member {:?}{instance}{}",
        req.group_id.0.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        outcome(resp.error_code)
    );
    (resp, line)
}

fn check(c: &GroupCoordinator, req: &HeartbeatRequest) -> Result<(), ResponseError> {
    if !c.is_active() {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    let mut groups = c.groups();
    let group = groups
        .get_mut(req.group_id.0.as_str())
        .ok_or(ResponseError::UnknownMemberId)?;
    if group.state == GroupState::Dead {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    group.check_member(req.member_id.as_str(), req.group_instance_id.as_deref())?;
    if req.generation_id != group.generation {
        return Err(ResponseError::IllegalGeneration);
    }
    if group.state == GroupState::Empty {
        return Err(ResponseError::UnknownMemberId);
    }
    let member = group
        .members
        .get_mut(req.member_id.as_str())
        .ok_or(ResponseError::UnknownMemberId)?;
    member.last_seen = Instant::now();
    if group.state == GroupState::PreparingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    Ok(())
}
