//! The classroom's consumer-group experiments, as tests. Each is written once as a
//! function of the client and the cluster, and run with our consumer on each backend
//! against our broker, with the rdkafka backend against librdkafka's mock cluster too
//! (both only with `--features rdkafka`), and with kafka-python, the classroom's own
//! client (skipped, visibly, when no Python venv is found;
//! `MINIKAFKA_REQUIRE_EXTERNAL=1` makes that a failure):
//!
//! 1. Load balancing: three members of one group on a 3-partition topic own one partition
//!    each and together read every record exactly once; when one leaves, its partition
//!    moves to a survivor within the session timeout, and still no record is read twice.
//! 2. Broadcast: two groups each read every record.
//! 3. Persistence: a member that stops and comes back in the same group reads exactly the
//!    records produced meanwhile, also across a broker restart (on our broker the
//!    commits are replayed from `__consumer_offsets` on disk; the mock cluster keeps them
//!    in memory while its broker is down).
//!
//! Plus a member that crashes (no commit, no LeaveGroup: our native consumer on a runtime
//! that is shut down, kafka-python killed; librdkafka cannot be crashed in-process) and
//! whose partitions move once its session times out, and mixed groups: our native member
//! with a librdkafka one, and with a kafka-python one.
//!
//! Every wait is bounded by the test kit's one bound; nothing is asserted about how long
//! anything took.

mod classroom {
    pub mod consumer;
    pub mod member;
    pub mod python;
}

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use classroom::member::{wait_until, Client, Member, Target};
use minikafka_broker::Config;
use minikafka_client::{Backend, ProducerRecord};
use minikafka_testkit::cluster::produce_all;
use minikafka_testkit::{backend_tests, Cluster};

backend_tests!(
    config: classroom_config;
    load_balancing, broadcast, persistence;
    kafka_python: load_balancing, broadcast, persistence,
);

/// Our broker as the classroom runs it: members that start together join one first
/// generation (kafka-python members, started with no delay, can otherwise wait for an
/// assignment past the test's bound).
fn classroom_config(c: &mut Config) {
    c.group_initial_rebalance_delay = Duration::from_millis(300);
}

/// Records `m-<from>`..`m-<from+n-1>`, spread over the 3 partitions in turn; returns
/// (partition, offset) → value.
async fn produce(
    cluster: &Cluster,
    client: Client,
    topic: &str,
    from: usize,
    n: usize,
) -> BTreeMap<(i32, i64), String> {
    let records = (from..from + n).map(|i| {
        ProducerRecord::new(topic)
            .partition((i % 3) as i32)
            .key(format!("key-{i}"))
            .value(format!("m-{i}"))
    });
    produce_all(cluster, client.producer_backend(), records).await
}

fn target(cluster: &Cluster, group: &str, topic: &str) -> Target {
    Target {
        bootstrap: cluster.bootstrap(),
        group: group.to_string(),
        topic: topic.to_string(),
    }
}

/// Every member owns something, no partition twice, and together all of {0, 1, 2}.
fn shared_out(members: &[&mut Member]) -> bool {
    let total: usize = members.iter().map(|m| m.owned.len()).sum();
    let union: BTreeSet<i32> = members
        .iter()
        .flat_map(|m| m.owned.iter().copied())
        .collect();
    members.iter().all(|m| !m.owned.is_empty()) && total == 3 && union == BTreeSet::from([0, 1, 2])
}

fn received(members: &[&mut Member]) -> usize {
    members.iter().map(|m| m.records.len()).sum()
}

/// All records of `members`, checking that no two members read the same one.
fn union_once(members: &[&Member]) -> BTreeMap<(i32, i64), String> {
    let mut all = BTreeMap::new();
    for m in members {
        for (at, value) in &m.records {
            if let Some(other) = all.insert(*at, value.clone()) {
                panic!("{at:?} ({other}) was read by two members");
            }
        }
    }
    all
}

/// Lets anything still on its way arrive: a repeat would show up within this.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Experiment 1: load balancing inside one group, and a member leaving.
async fn load_balancing(client: Client, cluster: &mut Cluster) {
    cluster
        .create_topic(client.producer_backend(), "lb-topic", 3)
        .await;
    let t = target(cluster, "lb-group", "lb-topic");
    let Some(mut a) = Member::start(client, &t, "member-a").await else {
        return;
    };
    let Some(mut b) = Member::start(client, &t, "member-b").await else {
        return;
    };
    let Some(mut c) = Member::start(client, &t, "member-c").await else {
        return;
    };
    wait_until(&mut [&mut a, &mut b, &mut c], "one partition each", |ms| {
        shared_out(ms) && ms.iter().all(|m| m.owned.len() == 1)
    })
    .await;

    let first = produce(cluster, client, "lb-topic", 0, 30).await;
    wait_until(&mut [&mut a, &mut b, &mut c], "30 records read", |ms| {
        received(ms) >= 30
    })
    .await;
    assert_eq!(
        union_once(&[&a, &b, &c]),
        first,
        "every record exactly once"
    );
    for m in [&a, &b, &c] {
        let read_from: BTreeSet<i32> = m.records.keys().map(|(p, _)| *p).collect();
        assert_eq!(read_from, m.owned, "{} read outside its partition", m.name);
    }
    // Commit what each survivor read while the group is stable. Auto-commit may still be a
    // tick behind, and the commit librdkafka makes on revoke can meet a rebalance already
    // under way (the mock cluster refuses commits then; Kafka accepts them), so without
    // this a survivor could start again from an older commit: at-least-once.
    a.commit().await;
    b.commit().await;

    // One member stops (as with Ctrl+C); the survivors take its partition over.
    let c = c.stop().await;
    wait_until(
        &mut [&mut a, &mut b],
        "the partition moved to a survivor",
        shared_out,
    )
    .await;
    let second = produce(cluster, client, "lb-topic", 30, 30).await;
    wait_until(&mut [&mut a, &mut b], "30 more records read", |ms| {
        received(ms) + c.records.len() >= 60
    })
    .await;
    let a = a.stop().await;
    let b = b.stop().await;
    let mut all = first;
    all.extend(second);
    assert_eq!(union_once(&[&a, &b, &c]), all, "every record exactly once");
}

/// Experiment 2: two groups each read everything.
async fn broadcast(client: Client, cluster: &mut Cluster) {
    cluster
        .create_topic(client.producer_backend(), "bc-topic", 3)
        .await;
    let sent = produce(cluster, client, "bc-topic", 0, 24).await;
    let Some(mut one) = Member::start(client, &target(cluster, "bc-one", "bc-topic"), "one").await
    else {
        return;
    };
    let Some(mut two) = Member::start(client, &target(cluster, "bc-two", "bc-topic"), "two").await
    else {
        return;
    };
    wait_until(
        &mut [&mut one, &mut two],
        "both groups read everything",
        |ms| ms.iter().all(|m| m.records.len() >= 24),
    )
    .await;
    let one = one.stop().await;
    let two = two.stop().await;
    assert_eq!(one.records, sent, "group bc-one got everything");
    assert_eq!(two.records, sent, "group bc-two got everything");
}

/// Experiment 3: committed positions survive a member restart and a broker restart.
async fn persistence(client: Client, cluster: &mut Cluster) {
    cluster
        .create_topic(client.producer_backend(), "ps-topic", 3)
        .await;
    let t = target(cluster, "ps-group", "ps-topic");

    let first = produce(cluster, client, "ps-topic", 0, 15).await;
    let Some(mut m) = Member::start(client, &t, "first-run").await else {
        return;
    };
    wait_until(&mut [&mut m], "15 records read", |ms| received(ms) >= 15).await;
    let m = m.stop().await;
    assert_eq!(m.records, first);

    // Produce while it is away; back in the same group it reads exactly those.
    let second = produce(cluster, client, "ps-topic", 15, 9).await;
    let Some(mut m) = Member::start(client, &t, "second-run").await else {
        return;
    };
    wait_until(&mut [&mut m], "9 records read", |ms| received(ms) >= 9).await;
    settle().await;
    let m = m.stop().await;
    assert_eq!(
        m.records, second,
        "exactly the records produced while it was away, no repeat"
    );

    // The same across a broker restart (same address, same data).
    let third = produce(cluster, client, "ps-topic", 24, 6).await;
    cluster.stop().await;
    cluster.start_again().await;
    let Some(mut m) = Member::start(client, &t, "after-restart").await else {
        return;
    };
    wait_until(&mut [&mut m], "6 records read", |ms| received(ms) >= 6).await;
    let fourth = produce(cluster, client, "ps-topic", 30, 3).await;
    wait_until(&mut [&mut m], "3 more records read", |ms| received(ms) >= 9).await;
    settle().await;
    let m = m.stop().await;
    let mut expected = third;
    expected.extend(fourth);
    assert_eq!(
        m.records, expected,
        "exactly the new records after a broker restart, nothing old"
    );
}

/// A member crashes: its partitions move to the survivor once its 6 s session times out,
/// and every record is still read (at least once: what the crashed member read after its
/// last auto-commit is read again, as Kafka promises).
async fn crash(client: Client) {
    let cluster = Cluster::ours_with(classroom_config).await;
    cluster
        .create_topic(client.producer_backend(), "cr-topic", 3)
        .await;
    let t = target(&cluster, "cr-group", "cr-topic");
    let members = async {
        let mut a = Member::start(client, &t, "survivor").await?;
        let mut b = Member::start(client, &t, "crasher").await?;
        wait_until(
            &mut [&mut a, &mut b],
            "the partitions shared out",
            shared_out,
        )
        .await;
        let first = produce(&cluster, client, "cr-topic", 0, 30).await;
        wait_until(&mut [&mut a, &mut b], "30 records read", |ms| {
            received(ms) >= 30
        })
        .await;
        let b = b.crash();
        wait_until(&mut [&mut a], "the survivor owns everything", |ms| {
            ms[0].owned == BTreeSet::from([0, 1, 2])
        })
        .await;
        let second = produce(&cluster, client, "cr-topic", 30, 30).await;
        wait_until(&mut [&mut a], "the survivor read the new records", |ms| {
            second.keys().all(|at| ms[0].records.contains_key(at))
        })
        .await;
        let a = a.stop().await;
        let mut all = first;
        all.extend(second);
        Some((a, b, all))
    };
    if let Some((a, b, all)) = members.await {
        let mut read = b.records.clone();
        read.extend(a.records.clone());
        assert_eq!(read, all, "every record read at least once");
        for at in a.records.keys().filter(|at| b.records.contains_key(*at)) {
            assert!(
                !b.owned.is_empty() && b.owned.contains(&at.0),
                "{at:?} read twice but it was never the crashed member's"
            );
        }
    }
    cluster.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_native() {
    crash(Client::Ours(Backend::Native)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_kafka_python() {
    crash(Client::KafkaPython).await;
}

/// A group whose members run on different clients shares the partitions correctly.
async fn mixed_group(first: Client, second: Client) {
    let cluster = Cluster::ours_with(classroom_config).await;
    cluster.create_topic(Backend::Native, "mx-topic", 3).await;
    let t = target(&cluster, "mx-group", "mx-topic");
    let members = async {
        let mut a = Member::start(first, &t, "mixed-a").await?;
        let mut b = Member::start(second, &t, "mixed-b").await?;
        wait_until(
            &mut [&mut a, &mut b],
            "the partitions shared out",
            shared_out,
        )
        .await;
        let sent = produce(&cluster, first, "mx-topic", 0, 30).await;
        wait_until(&mut [&mut a, &mut b], "30 records read", |ms| {
            received(ms) >= 30
        })
        .await;
        for m in [&a, &b] {
            let read_from: BTreeSet<i32> = m.records.keys().map(|(p, _)| *p).collect();
            assert_eq!(read_from, m.owned, "{} read outside its partitions", m.name);
        }
        Some((a.stop().await, b.stop().await, sent))
    };
    if let Some((a, b, sent)) = members.await {
        assert_eq!(union_once(&[&a, &b]), sent);
    }
    cluster.shut_down().await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_native_and_rdkafka() {
    mixed_group(
        Client::Ours(Backend::Native),
        Client::Ours(Backend::Rdkafka),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_native_and_kafka_python() {
    mixed_group(Client::Ours(Backend::Native), Client::KafkaPython).await;
}
