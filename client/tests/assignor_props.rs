//! Property tests of the assignors: every partition assigned exactly once, to a member
//! subscribed to its topic; round-robin shares differ by at most one when subscriptions
//! are identical; the result does not depend on the order members are given in.

use std::collections::{BTreeMap, BTreeSet};

use minikafka_client::assignor::{AssignmentStrategy, MemberSubscription};
use proptest::prelude::*;

fn topics_strategy() -> impl Strategy<Value = BTreeMap<String, i32>> {
    prop::collection::btree_map("t[0-4]", 1..8i32, 1..4)
}

fn members_strategy(topics: Vec<String>) -> impl Strategy<Value = Vec<MemberSubscription>> {
    let n = topics.len();
    prop::collection::btree_set("[a-z]{1,3}-[0-9]{1,2}", 1..7).prop_flat_map(move |ids| {
        let topics = topics.clone();
        let ids: Vec<String> = ids.into_iter().collect();
        prop::collection::vec(prop::collection::btree_set(0..n, 1..=n), ids.len()).prop_map(
            move |subs| {
                ids.iter()
                    .zip(subs)
                    .map(|(id, s)| MemberSubscription {
                        member_id: id.clone(),
                        group_instance_id: None,
                        topics: s.into_iter().map(|i| topics[i].clone()).collect(),
                    })
                    .collect()
            },
        )
    })
}

fn case() -> impl Strategy<Value = (BTreeMap<String, i32>, Vec<MemberSubscription>)> {
    topics_strategy().prop_flat_map(|topics| {
        let names: Vec<String> = topics.keys().cloned().collect();
        (Just(topics), members_strategy(names))
    })
}

fn check_exactly_once(
    strategy: AssignmentStrategy,
    topics: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) {
    let assignment = strategy.assign(members, topics);
    let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
    let mut seen = BTreeSet::new();
    for (member, partitions) in &assignment {
        let m = members
            .iter()
            .find(|m| &m.member_id == member)
            .expect("known member");
        for (t, p) in partitions {
            assert!(m.topics.contains(t), "{member} got {t} without subscribing");
            assert!(seen.insert((t.clone(), *p)), "{t}-{p} assigned twice");
        }
    }
    let expected: BTreeSet<(String, i32)> = topics
        .iter()
        .filter(|(t, _)| subscribed.contains(t))
        .flat_map(|(t, &n)| (0..n).map(move |p| (t.clone(), p)))
        .collect();
    assert_eq!(seen, expected, "some partition was not assigned");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_partition_assigned_exactly_once((topics, members) in case()) {
        check_exactly_once(AssignmentStrategy::RoundRobin, &topics, &members);
        check_exactly_once(AssignmentStrategy::Range, &topics, &members);
    }

    #[test]
    fn roundrobin_is_balanced_with_identical_subscriptions(
        topics in topics_strategy(), n in 1usize..7
    ) {
        let members: Vec<MemberSubscription> = (0..n)
            .map(|i| MemberSubscription {
                member_id: format!("consumer-{i}"),
                group_instance_id: None,
                topics: topics.keys().cloned().collect(),
            })
            .collect();
        let a = AssignmentStrategy::RoundRobin.assign(&members, &topics);
        let sizes: Vec<usize> = a.values().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min().copied(), sizes.iter().max().copied());
        prop_assert!(max.unwrap_or(0) - min.unwrap_or(0) <= 1, "shares {sizes:?}");
    }

    #[test]
    fn result_is_independent_of_input_order(
        (topics, members) in case(), seed in any::<u64>()
    ) {
        let mut shuffled = members.clone();
        // A deterministic shuffle from the seed.
        let len = shuffled.len();
        for i in (1..len).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        for s in [AssignmentStrategy::RoundRobin, AssignmentStrategy::Range] {
            prop_assert_eq!(s.assign(&members, &topics), s.assign(&shuffled, &topics));
        }
    }
}
