//! Kafka's RangeAssignor.
//!
//! Where it sits: group leader's consumer → JoinGroup response → **assignor** (via
//! [`super::AssignmentStrategy::assign`]) → SyncGroup.
//!
//! For each topic on its own: the members subscribed to it, in Kafka's member order,
//! get contiguous ranges of partitions; the first `partitions % members` members get
//! one extra. Unlike round-robin, shares can differ by more than one across topics.
//!
//! What must stay true:
//! - Per topic, the ranges cover partitions `0..count` exactly once, and only members
//!   subscribed to that topic get any.
//! - Members are taken in the order `super::sorted_members` gives, so on one topic the
//!   earlier members hold the lower partitions and shares differ by at most one.

use std::collections::BTreeMap;

use super::{Assignment, MemberSubscription};

pub(super) fn assign(
    members: &[&MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
    assignment: &mut Assignment,
) {
    for (topic, &count) in partitions_per_topic {
        let subscribed: Vec<&MemberSubscription> = members
            .iter()
            .copied()
            .filter(|m| m.topics.iter().any(|t| t == topic))
            .collect();
        if subscribed.is_empty() {
            continue;
        }
        let n = subscribed.len() as i32;
        let (per_member, extra) = (count / n, count % n);
        for (i, member) in (0i32..).zip(&subscribed) {
            let start = per_member * i + i.min(extra);
            let len = per_member + i32::from(i < extra);
            if let Some(owned) = assignment.get_mut(&member.member_id) {
                owned.extend((start..start + len).map(|p| (topic.clone(), p)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AssignmentStrategy, MemberSubscription};
    use std::collections::BTreeMap;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn kafka_range_example() {
        // Kafka's javadoc: t0 and t1 with 3 partitions each, two members.
        let topics = BTreeMap::from([("t0".into(), 3), ("t1".into(), 3)]);
        let members = [member("C1", &["t0", "t1"]), member("C0", &["t0", "t1"])];
        let a = AssignmentStrategy::Range.assign(&members, &topics);
        let tp = |t: &str, p| (t.to_string(), p);
        assert_eq!(
            a["C0"],
            vec![tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
        assert_eq!(a["C1"], vec![tp("t0", 2), tp("t1", 2)]);
    }
}
