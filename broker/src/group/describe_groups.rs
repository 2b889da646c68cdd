//! DescribeGroups: what `kafka-consumer-groups --describe` shows.
//!
//! Where it sits: operator tools and tests, beside the consumer's own flow.
//!
//! DescribeGroups (v0–v5) gives each group's state, protocol type, protocol and members.
//! As Kafka does, member metadata and assignments are shown only while the group is Stable,
//! and an unknown group is described as `Dead` with no error.
//!
//! What must stay true:
//! - Read-only: describing never creates or changes a group (an unknown id is not added).
//! - One entry per group asked for, in request order, all read under one brief lock.
//! - Outside Stable, `protocol_data`, member metadata and assignments are empty.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::state::GroupState;
use super::{comma_list, GroupCoordinator};

/// DescribeGroups v0–v5.
pub async fn handle(
    c: &GroupCoordinator,
    req: DescribeGroupsRequest,
    _version: i16,
) -> (DescribeGroupsResponse, String) {
    let line = format!(
        "describe_groups {}",
        comma_list(req.groups.iter().map(|g| g.0.as_str()))
    );
    (describe(c, req), line)
}

/// Each group asked for, as it is now.
fn describe(c: &GroupCoordinator, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = c.groups();
    let described = req
        .groups
        .into_iter()
        .map(|id| {
            if !c.is_active() {
                return {
                    let mut v = DescribedGroup::default();
                    v.error_code = ResponseError::CoordinatorNotAvailable.code();
                    v.group_id = id;
                    v
                };
            }
            let Some(g) = groups.get(id.0.as_str()) else {
                return {
                    let mut v = DescribedGroup::default();
                    v.group_id = id;
                    v.group_state = StrBytes::from_static_str(GroupState::Dead.as_str());
                    v
                };
            };
            let stable = g.state == GroupState::Stable;
            let protocol = g.protocol.clone().unwrap_or_default();
            {
                let mut v = DescribedGroup::default();
                v.group_id = id;
                v.group_state = StrBytes::from_static_str(g.state.as_str());
                v.protocol_type =
                    StrBytes::from_string(g.protocol_type.clone().unwrap_or_default());
                v.protocol_data = StrBytes::from_string(if stable {
                    protocol.clone()
                } else {
                    String::new()
                });
                v.members = g
                    .members
                    .values()
                    .map(|m| {
                        let mut v = DescribedGroupMember::default();
                        v.member_id = StrBytes::from_string(m.id.clone());
                        v.group_instance_id =
                            m.group_instance_id.clone().map(StrBytes::from_string);
                        v.client_id = StrBytes::from_string(m.client_id.clone());
                        v.client_host = StrBytes::from_string(m.client_host.clone());
                        v.member_metadata = if stable {
                            m.metadata_for(&protocol).cloned().unwrap_or_default()
                        } else {
                            Default::default()
                        };
                        v.member_assignment = if stable {
                            m.assignment.clone()
                        } else {
                            Default::default()
                        };
                        v
                    })
                    .collect();
                v
            }
        })
        .collect();
    {
        let mut v = DescribeGroupsResponse::default();
        v.groups = described;
        v
    }
}
