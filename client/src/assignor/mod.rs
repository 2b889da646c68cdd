//! Partition assignment, computed by the group leader on the client side.
//!
//! In Kafka's classic group protocol the broker never looks inside an assignment: the
//! member chosen as leader receives every member's subscription in its JoinGroup
//! response, runs an assignor, and sends the result in SyncGroup. The assignor is picked
//! by name, and the names go on the wire exactly as Kafka spells them (`roundrobin`,
//! `range`), so a group that mixes our members with librdkafka's or Java's can agree.
//!
//! Invariants of every assignor here: each partition of a subscribed topic goes to
//! exactly one member subscribed to that topic; the result depends only on the set of
//! members and topics, never on the order they are given in.

mod range;
mod roundrobin;

use std::collections::BTreeMap;

/// One member's view, as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    /// `group.instance.id` of a static member; static members sort first.
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
}

/// Member id → its `(topic, partition)` list, sorted.
pub type Assignment = BTreeMap<String, Vec<(String, i32)>>;

/// The assignment strategies (Kafka: `partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentStrategy {
    /// Kafka's RoundRobinAssignor: deal every partition out in turn.
    #[default]
    RoundRobin,
    /// Kafka's RangeAssignor: per topic, contiguous ranges.
    Range,
}

impl AssignmentStrategy {
    /// The protocol name on the wire, as Kafka and librdkafka name it.
    pub fn name(self) -> &'static str {
        match self {
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::Range => "range",
        }
    }

    /// The strategy with this wire name.
    pub fn from_name(name: &str) -> Option<AssignmentStrategy> {
        match name {
            "roundrobin" => Some(AssignmentStrategy::RoundRobin),
            "range" => Some(AssignmentStrategy::Range),
            _ => None,
        }
    }

    /// Assigns the partitions of `partitions_per_topic` (topic → partition count)
    /// among `members`. Every member appears in the result, possibly with nothing.
    pub fn assign(
        self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Assignment {
        let sorted = sorted_members(members);
        let mut assignment: Assignment = sorted
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        match self {
            AssignmentStrategy::RoundRobin => {
                roundrobin::assign(&sorted, partitions_per_topic, &mut assignment)
            }
            AssignmentStrategy::Range => {
                range::assign(&sorted, partitions_per_topic, &mut assignment)
            }
        }
        for partitions in assignment.values_mut() {
            partitions.sort();
        }
        assignment
    }
}

impl std::str::FromStr for AssignmentStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssignmentStrategy::from_name(s)
            .ok_or_else(|| format!("unknown assignment strategy {s:?}: use roundrobin or range"))
    }
}

/// Kafka's member order (`AbstractPartitionAssignor.MemberInfo.compareTo`): static
/// members first, by `group.instance.id`; then the others by `member.id`.
fn sorted_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    });
    sorted
}
