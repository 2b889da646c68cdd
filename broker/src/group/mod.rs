//! The consumer-group coordinator (classic protocol).
//!
//! Where it sits: consumer → wire → protocol layer → **one handler here per group API** →
//! `__consumer_offsets` partition log. `protocol::handle_request` decodes a request and
//! calls that API's handler directly, with the same shape as every other handler:
//! `handle(&GroupCoordinator, request, version[, what else it needs]) -> (response, log line)`.
//!
//! Reading order, one file per step of a consumer's life:
//! 1. [`find_coordinator`] — "which broker runs my group?" (always this one).
//! 2. [`state`] — one group's state machine (Empty → PreparingRebalance →
//!    CompletingRebalance → Stable, and Dead).
//! 3. [`join`] — JoinGroup, member ids, generations, the leader; a static member
//!    (`group.instance.id`, KIP-345) coming back takes its old place without a rebalance,
//!    and the id it replaced is fenced (`state::Group::check_member`) in every step below.
//! 4. [`sync`] — SyncGroup, the leader's assignment handed to every member.
//! 5. [`heartbeat`] — staying alive, and learning that a rebalance began.
//! 6. [`leave`] — LeaveGroup.
//! 7. [`offset_commit`] and [`offset_fetch`] — OffsetCommit and OffsetFetch, on top of
//!    [`offset_store`] (`__consumer_offsets` and its replay at start-up), whose records
//!    [`offset_record`] encodes.
//! 8. [`list_groups`] and [`describe_groups`] — what operator tools show; [`assignment`]
//!    reads a member's consumer-protocol assignment for them (and for the log).
//! 9. [`coordinator`] — the [`GroupCoordinator`] every step shares: the group table and
//!    rebalances.
//! 10. [`timers`] — rebalance timeouts, the initial delay, member sessions.
//! 11. [`delete_groups`] and [`offset_delete`] — the admin side: forget an empty group,
//!     or some of a group's offsets (tombstones in `__consumer_offsets`).
//!
//! What must stay true:
//! - The group table's lock is never held across `.await` (see [`coordinator`]).
//! - Committed offsets survive a restart (`__consumer_offsets`); membership does not.
//! - After `GroupCoordinator::shutdown` every group API answers COORDINATOR_NOT_AVAILABLE.

// kafka-protocol marks its message structs non_exhaustive: they are built as
// `let mut v = T::default(); v.field = ...;`, which this lint would reject.
#![allow(clippy::field_reassign_with_default)]

pub mod assignment;
pub mod coordinator;
pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join;
pub mod leave;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_record;
pub mod offset_store;
pub mod state;
pub mod sync;
pub mod timers;
pub mod txn_offset_commit;

pub use coordinator::GroupCoordinator;
pub use offset_store::OFFSETS_TOPIC;
pub use state::GroupState;

use crate::error_codes::error_name;

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

/// The end of a log line for a top-level error code: nothing for NONE,
/// ` -> REBALANCE_IN_PROGRESS` otherwise.
fn outcome(code: i16) -> String {
    if code == 0 {
        String::new()
    } else {
        format!(" -> {}", error_name(code))
    }
}

/// `a, b, c`, for log lines.
fn comma_list<'a>(items: impl Iterator<Item = impl AsRef<str> + 'a>) -> String {
    items
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
