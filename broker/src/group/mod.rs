//! The consumer-group coordinator (classic protocol).
//!
//! Where it sits: consumer → wire → protocol layer → here → `__consumer_offsets` partition
//! log. The protocol layer decodes a request and calls one method below with the request
//! struct and its API version; the method answers with the response struct.
//!
//! CONTRACT (the protocol layer calls these; keep the signatures).
//!
//! Reading order, one file per step of a consumer's life:
//! 1. [`find_coordinator`] — "which broker runs my group?" (always this one).
//! 2. [`state`] — one group's state machine (Empty → PreparingRebalance →
//!    CompletingRebalance → Stable, and Dead).
//! 3. [`join`] — JoinGroup, member ids, generations, the leader.
//! 4. [`sync`] — SyncGroup, the leader's assignment handed to every member.
//! 5. [`heartbeat`] — staying alive, and learning that a rebalance began.
//! 6. [`leave`] — LeaveGroup.
//! 7. [`offsets`] — OffsetCommit and OffsetFetch, on top of [`offset_store`]
//!    (`__consumer_offsets` and its replay at start-up).
//! 8. [`describe`] — ListGroups and DescribeGroups.
//! 9. [`coordinator`] — what every step shares: the group table and rebalances.
//! 10. [`timers`] — rebalance timeouts, the initial delay, member sessions.

// kafka-protocol marks its message structs non_exhaustive: they are built as
// `let mut v = T::default(); v.field = ...;`, which this lint would reject.
#![allow(clippy::field_reassign_with_default)]

pub mod coordinator;
pub mod describe;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join;
pub mod leave;
pub mod offset_store;
pub mod offsets;
pub mod state;
pub mod sync;
pub mod timers;

use std::sync::Arc;

use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};

pub use offset_store::OFFSETS_TOPIC;
pub use state::GroupState;

use crate::topics::{TopicError, Topics};
use crate::Config;

/// The group APIs this coordinator implements, as `(api_key, min_version, max_version)`.
/// The protocol layer adds them to what ApiVersions advertises.
pub const SUPPORTED_APIS: &[(i16, i16, i16)] = &[
    (8, 2, 8),  // OffsetCommit
    (9, 1, 8),  // OffsetFetch (v8: the multi-group format)
    (10, 0, 4), // FindCoordinator (v4: coordinator_keys)
    (11, 0, 7), // JoinGroup (v4+: MEMBER_ID_REQUIRED)
    (12, 0, 4), // Heartbeat
    (13, 0, 4), // LeaveGroup (v3+: a batch of members)
    (14, 0, 5), // SyncGroup (v5: protocol type and name)
    (15, 0, 5), // DescribeGroups
    (16, 0, 4), // ListGroups (v4: states filter)
];

/// Where clients reach this broker, for FindCoordinator.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// Who sent a JoinGroup, from the request header and the connection: Kafka builds member
/// ids from the client id and shows both in DescribeGroups.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The request header's `client_id` (empty when the client sent none).
    pub client_id: String,
    /// The peer address as Kafka prints it, e.g. `/127.0.0.1`.
    pub client_host: String,
}

/// The coordinator of every group on this broker. Shared as `Arc<GroupCoordinator>`.
#[derive(Debug)]
pub struct GroupCoordinator {
    inner: coordinator::Inner,
}

impl GroupCoordinator {
    /// Opens (or creates) `__consumer_offsets` and replays it into memory.
    /// Blocking (reads the whole offsets log): call it before serving, or in spawn_blocking.
    pub fn open(topics: Arc<Topics>, config: &Config) -> Result<Arc<GroupCoordinator>, TopicError> {
        GroupCoordinator::open_inner(topics, config)
    }
    pub async fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
        node: &NodeInfo,
    ) -> FindCoordinatorResponse {
        find_coordinator::handle(self, req, version, node)
    }
    /// JoinGroup without client details (member ids get the prefix `member`); the protocol
    /// layer should prefer [`GroupCoordinator::join_group_from`].
    pub async fn join_group(&self, req: JoinGroupRequest, version: i16) -> JoinGroupResponse {
        join::handle(self, req, version, &ClientInfo::default()).await
    }
    /// JoinGroup with the client id and host, so member ids read `<client_id>-<uuid>`.
    pub async fn join_group_from(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: &ClientInfo,
    ) -> JoinGroupResponse {
        join::handle(self, req, version, client).await
    }
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        sync::handle(self, req, version).await
    }
    pub async fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        heartbeat::handle(self, req, version)
    }
    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        leave::handle(self, req, version)
    }
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        offsets::commit(self, req, version).await
    }
    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        offsets::fetch(self, req, version)
    }
    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        describe::list(self, req, version)
    }
    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        describe::describe(self, req, version)
    }
    /// Stops the timers (session and rebalance timeouts). Called on broker shutdown.
    pub async fn shutdown(&self) {
        self.shutdown_inner();
    }
}
