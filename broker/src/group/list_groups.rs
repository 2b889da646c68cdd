//! ListGroups: what `kafka-consumer-groups --list` shows.
//!
//! Where it sits: operator tools and tests, beside the consumer's own flow.
//!
//! ListGroups (v0–v5) lists every group this coordinator knows, including groups that only
//! have committed offsets (Empty, protocol type ""); v4 filters by state names, v5 by group
//! type (KIP-848: `classic`, `consumer`, `share`). The list is sorted by group id.
//!
//! What must stay true:
//! - Read-only: listing never changes a group, and takes the group lock once, briefly.
//! - The v4 state filter and the v5 type filter compare names case-insensitively; an empty
//!   filter means all.
//! - Every listed group has `group_type` "classic" (the only protocol served here), so a
//!   type filter without `classic` lists nothing, as Kafka's classic coordinator answers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{comma_list, outcome, GroupCoordinator};

/// ListGroups v0–v5.
pub async fn handle(
    c: &GroupCoordinator,
    req: ListGroupsRequest,
    version: i16,
) -> (ListGroupsResponse, String) {
    let mut filters = String::new();
    if !req.states_filter.is_empty() {
        let states = comma_list(req.states_filter.iter().map(|s| s.as_str()));
        filters.push_str(&format!(" in states [{states}]"));
    }
    if !req.types_filter.is_empty() {
        let types = comma_list(req.types_filter.iter().map(|s| s.as_str()));
        filters.push_str(&format!(" of types [{types}]"));
    }
    let resp = list(c, req, version);
    let line = format!(
        "list_groups{filters} -> {} group(s){}",
        resp.groups.len(),
        outcome(resp.error_code)
    );
    (resp, line)
}

/// Every group, or those in the states (v4) and of the types (v5) asked for.
fn list(c: &GroupCoordinator, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
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
    let classic_wanted = version < 5
        || req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    if !classic_wanted {
        return ListGroupsResponse::default();
    }
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
