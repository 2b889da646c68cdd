//! The consumer-group coordinator (classic protocol).
//!
//! CONTRACT (the protocol layer calls these; keep the signatures).
//! TODO(groups helper): state machine, one file per step, offsets in `__consumer_offsets`.

use std::sync::Arc;

use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};

use crate::topics::{TopicError, Topics};
use crate::Config;

/// The group APIs this coordinator implements, as `(api_key, min_version, max_version)`.
/// The protocol layer adds them to what ApiVersions advertises. Empty until implemented.
pub const SUPPORTED_APIS: &[(i16, i16, i16)] = &[];

/// Where clients reach this broker, for FindCoordinator.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// The coordinator of every group on this broker. Shared as `Arc<GroupCoordinator>`.
#[derive(Debug)]
pub struct GroupCoordinator {
    _private: (),
}

#[allow(clippy::todo, unused_variables)]
impl GroupCoordinator {
    /// Opens (or creates) `__consumer_offsets` and replays it into memory.
    pub fn open(topics: Arc<Topics>, config: &Config) -> Result<Arc<GroupCoordinator>, TopicError> {
        todo!()
    }
    pub async fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
        node: &NodeInfo,
    ) -> FindCoordinatorResponse {
        todo!()
    }
    pub async fn join_group(&self, req: JoinGroupRequest, version: i16) -> JoinGroupResponse {
        todo!()
    }
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        todo!()
    }
    pub async fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        todo!()
    }
    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        todo!()
    }
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        todo!()
    }
    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        todo!()
    }
    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        todo!()
    }
    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        todo!()
    }
    /// Stops the timers (session and rebalance timeouts). Called on broker shutdown.
    pub async fn shutdown(&self) {
        todo!()
    }
}
