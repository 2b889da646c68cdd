//! ListGroups and DescribeGroups: what `kafka-consumer-groups --list/--describe` shows.
//!
//! Where it sits: operator tools and tests, beside the consumer's own flow.
//!
//! ListGroups (v0–v4) lists every group this coordinator knows, including groups that only
//! have committed offsets (Empty, protocol type ""); v4 filters by state names.
//! DescribeGroups (v0–v5) gives each group's state, protocol type, protocol and members.
//! As Kafka does, member metadata and assignments are shown only while the group is Stable,
//! and an unknown group is described as `Dead` with no error.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::state::GroupState;
use super::GroupCoordinator;

pub(super) fn list(
    c: &GroupCoordinator,
    req: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    if !c.is_active() {
        return {
            let mut v = ListGroupsResponse::default();
            v.error_code = ResponseError::CoordinatorNotAvailable.code();
            v
        };
    }
    let wanted: Vec<String> = if version >= 4 {
        req.states_filter.iter().map(|s| s.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let groups = c.groups();
    let mut listed: Vec<ListedGroup> = groups
        .values()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.state.as_str().to_lowercase()))
        .map(|g| {
            let mut v = ListedGroup::default();
            v.group_id = GroupId(StrBytes::from_string(g.id.clone()));
            v.protocol_type = StrBytes::from_string(g.protocol_type.clone().unwrap_or_default());
            v.group_state = StrBytes::from_static_str(g.state.as_str());
            v.group_type = StrBytes::from_static_str("classic");
            v
        })
        .collect();
    listed.sort_by(|a, b| a.group_id.0.cmp(&b.group_id.0));
    {
        let mut v = ListGroupsResponse::default();
        v.groups = listed;
        v
    }
}

pub(super) fn describe(
    c: &GroupCoordinator,
    req: DescribeGroupsRequest,
    _version: i16,
) -> DescribeGroupsResponse {
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
