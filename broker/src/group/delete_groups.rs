//! DeleteGroups (key 42): forget empty groups and their committed offsets. Test
//! harnesses clean up with it; `kafka-consumer-groups --delete` sends it.
//!
//! Where it sits: an admin client → **DeleteGroups** → the group table (the group goes
//! Dead and is removed) → [`super::offset_store`] appends a tombstone for each of its
//! committed offsets to `__consumer_offsets`, so a restart does not bring it back.
//!
//! | case                                       | answer             |
//! |--------------------------------------------|--------------------|
//! | coordinator shut down                      | COORDINATOR_NOT_AVAILABLE |
//! | empty group id                             | INVALID_GROUP_ID   |
//! | no such group (no members, no offsets), or Dead | GROUP_ID_NOT_FOUND |
//! | the group has members                      | NON_EMPTY_GROUP    |
//! | Empty                                      | deleted (NONE)     |
//!
//! What must stay true:
//! - Each group gets its own result; the group lock is released before the tombstones
//!   are written (on the blocking pool).
//! - A group is removed from the table only when it is Empty; its offsets are gone from
//!   memory only once their tombstones are on the log.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::offset_record::OffsetKey;
use super::state::GroupState;
use super::GroupCoordinator;
use crate::error_codes::error_name;

/// DeleteGroups v0–v2.
pub async fn handle(
    c: &GroupCoordinator,
    req: DeleteGroupsRequest,
    version: i16,
) -> (DeleteGroupsResponse, String) {
    let mut results = Vec::with_capacity(req.groups_names.len());
    let mut summary = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let name = id.0.to_string();
        let code = match delete_one(c, &name).await {
            Ok(offsets) => {
                summary.push(format!(
                    "{name} deleted ({offsets} committed offset(s) tombstoned)"
                ));
                0
            }
            Err(e) => {
                summary.push(format!("{name}: {}", error_name(e.code())));
                e.code()
            }
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code),
        );
    }
    let line = format!("delete_groups v{version} {}", summary.join(", "));
    (DeleteGroupsResponse::default().with_results(results), line)
}

/// Deletes one group; returns how many committed offsets went with it.
async fn delete_one(c: &GroupCoordinator, id: &str) -> Result<usize, ResponseError> {
    if !c.is_active() {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    {
        let mut groups = c.groups();
        let Some(group) = groups.get_mut(id) else {
            return Err(ResponseError::GroupIdNotFound);
        };
        match group.state {
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Err(ResponseError::NonEmptyGroup),
        }
        group.transition(GroupState::Dead, "deleted by DeleteGroups");
        groups.remove(id);
    }
    let keys: Vec<OffsetKey> = c
        .store
        .group_offsets(id)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let store = c.store.clone();
    let deleted = tokio::task::spawn_blocking(move || store.delete(&keys)).await;
    match deleted {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => {
            tracing::warn!("group {id}: offsets not deleted: {e}");
            Err(ResponseError::CoordinatorNotAvailable)
        }
        Err(e) => {
            tracing::warn!("group {id}: the deleting task failed: {e}");
            Err(ResponseError::CoordinatorNotAvailable)
        }
    }
}
