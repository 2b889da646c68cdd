//! Kafka's RoundRobinAssignor, exactly.
//!
//! 1. Members are sorted (static members by `group.instance.id` first, then by
//!    `member.id`, plain string order): done by the caller, `super::sorted_members`.
//! 2. Every partition of every subscribed topic is listed, sorted by topic then partition.
//! 3. The partitions are dealt out to the members in a cycle; a member that is not
//!    subscribed to a partition's topic is skipped (and keeps its turn for later).
//!
//! Where it sits: group leader's consumer → JoinGroup response → **assignor** (via
//! [`super::AssignmentStrategy::assign`]) → SyncGroup.
//!
//! What must stay true:
//! - Each partition of a topic some member subscribes to goes to exactly one member
//!   subscribed to that topic.
//! - One cursor runs across all topics, never reset per topic, as Kafka's
//!   `CircularIterator` does.
//! - With identical subscriptions, members' shares differ by at most one.

use std::collections::{BTreeMap, BTreeSet};

use super::{Assignment, MemberSubscription};

pub(super) fn assign(
    members: &[&MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
    assignment: &mut Assignment,
) {
    if members.is_empty() {
        return;
    }
    // Topics that at least one member subscribes to and that exist, in sorted order.
    let topics: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .filter(|t| partitions_per_topic.contains_key(*t))
        .collect();
    // The cursor of Kafka's CircularIterator over the sorted members.
    let mut next = 0usize;
    for topic in topics {
        for partition in 0..partitions_per_topic[topic] {
            // Some member subscribes to `topic`, so this loop ends within one turn.
            while !members[next % members.len()]
                .topics
                .iter()
                .any(|t| t == topic)
            {
                next += 1;
            }
            let member = members[next % members.len()];
            next += 1;
            if let Some(owned) = assignment.get_mut(&member.member_id) {
                owned.push((topic.to_owned(), partition));
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

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.into(), p)
    }

    #[test]
    fn kafka_example_two_members_two_topics() {
        let topics = BTreeMap::from([("t0".into(), 3), ("t1".into(), 3)]);
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let a = AssignmentStrategy::RoundRobin.assign(&members, &topics);
        assert_eq!(a["C0"], vec![tp("t0", 0), tp("t0", 2), tp("t1", 1)]);
        assert_eq!(a["C1"], vec![tp("t0", 1), tp("t1", 0), tp("t1", 2)]);
    }

    #[test]
    fn kafka_example_unequal_subscriptions() {
        let topics = BTreeMap::from([("t0".into(), 1), ("t1".into(), 2), ("t2".into(), 3)]);
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let a = AssignmentStrategy::RoundRobin.assign(&members, &topics);
        assert_eq!(a["C0"], vec![tp("t0", 0)]);
        assert_eq!(a["C1"], vec![tp("t1", 0)]);
        assert_eq!(
            a["C2"],
            vec![tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
        );
    }

    #[test]
    fn static_members_sort_first() {
        let topics = BTreeMap::from([("t".into(), 2)]);
        let mut stat = member("z-member", &["t"]);
        stat.group_instance_id = Some("instance-1".into());
        let members = [member("a-member", &["t"]), stat];
        let a = AssignmentStrategy::RoundRobin.assign(&members, &topics);
        assert_eq!(a["z-member"], vec![tp("t", 0)]);
        assert_eq!(a["a-member"], vec![tp("t", 1)]);
    }
}
