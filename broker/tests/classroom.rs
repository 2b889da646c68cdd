//! The classroom's three consumer-group experiments, as tests. Each is written once as a
//! function of the client and run with our native consumer, with librdkafka (only with
//! `--features rdkafka`) and with kafka-python (skipped, with a message, when no Python
//! venv is found; `MINIKAFKA_REQUIRE_EXTERNAL=1` makes that a failure):
//!
//! 1. Load balancing: three members of one group on a 3-partition topic own one partition
//!    each and together read every record exactly once; when one stops, its partition
//!    moves to a survivor, and still no record is read twice.
//! 2. Broadcast: two groups each read every record.
//! 3. Persistence: a member that stops and comes back in the same group reads exactly the
//!    records produced meanwhile, also across a broker restart.
//!
//! Plus a member that crashes (no commit, no LeaveGroup: our consumer on a runtime that is
//! shut down, kafka-python killed; librdkafka cannot be crashed in-process) and whose
//! partitions move once its session times out, and mixed groups: our member with a
//! librdkafka one, and with a kafka-python one.
//!
//! Test data is produced with the native producer. Every wait is bounded; nothing is
//! asserted about how long anything took.

mod support;

mod classroom {
    pub mod member;
    pub mod native;
    pub mod python;
    #[cfg(feature = "rdkafka")]
    pub mod rdkafka;
}

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use classroom::member::{wait_until, Client, Member, Target};
use minikafka_broker::Config;
use minikafka_client::{Admin, ClientConfig, NewTopic, Producer, ProducerConfig, ProducerRecord};
use support::TestBroker;

/// Bound for each wait: rebalances take a few heartbeats; a lost member up to its 6 s
/// session timeout.
const LIMIT: Duration = Duration::from_secs(60);

macro_rules! per_client {
    ($($experiment:ident),* $(,)?) => {
        mod native {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $experiment() {
                    super::$experiment(super::Client::Native).await;
                }
            )*
        }
        #[cfg(feature = "rdkafka")]
        mod rdkafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $experiment() {
                    super::$experiment(super::Client::Rdkafka).await;
                }
            )*
        }
        mod kafka_python {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $experiment() {
                    super::$experiment(super::Client::KafkaPython).await;
                }
            )*
        }
    };
}

per_client!(load_balancing, broadcast, persistence);

fn tweak(c: &mut Config) {
    // Let members that start together join one first generation.
    c.group_initial_rebalance_delay = Duration::from_millis(300);
}

async fn broker() -> TestBroker {
    TestBroker::start_with(tweak).await
}

async fn create_topic(bootstrap: &str, topic: &str) {
    let admin = Admin::new(ClientConfig::new(bootstrap))
        .await
        .expect("admin");
    admin
        .create_topics(&[NewTopic::new(topic, 3)])
        .await
        .expect("create topic");
}

/// Records `m-<from>`..`m-<from+n-1>`, spread over the 3 partitions in turn; returns
/// (partition, offset) → value.
async fn produce(
    bootstrap: &str,
    topic: &str,
    from: usize,
    n: usize,
) -> BTreeMap<(i32, i64), String> {
    let producer = Producer::new(ProducerConfig::new(bootstrap))
        .await
        .expect("producer");
    let mut pending = Vec::new();
    for i in from..from + n {
        let value = format!("m-{i}");
        let record = ProducerRecord::new(topic)
            .partition((i % 3) as i32)
            .key(format!("key-{i}"))
            .value(value.clone());
        pending.push((producer.enqueue(record).await.expect("enqueue"), value));
    }
    let mut sent = BTreeMap::new();
    for (delivery, value) in pending {
        let meta = tokio::time::timeout(LIMIT, delivery)
            .await
            .expect("delivered in time")
            .expect("delivered");
        sent.insert((meta.partition, meta.offset), value);
    }
    producer.close().await;
    sent
}

fn target(bootstrap: &str, group: &str, topic: &str) -> Target {
    Target {
        bootstrap: bootstrap.to_string(),
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

/// Experiment 1: load balancing inside one group, and a member leaving.
async fn load_balancing(client: Client) {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "lb-topic").await;
    let t = target(&bootstrap, "lb-group", "lb-topic");
    let Some(mut a) = Member::start(client, &t, "member-a").await else {
        return;
    };
    let Some(mut b) = Member::start(client, &t, "member-b").await else {
        return;
    };
    let Some(mut c) = Member::start(client, &t, "member-c").await else {
        return;
    };
    wait_until(
        &mut [&mut a, &mut b, &mut c],
        "one partition each",
        LIMIT,
        |ms| shared_out(ms) && ms.iter().all(|m| m.owned.len() == 1),
    )
    .await;

    let first = produce(&bootstrap, "lb-topic", 0, 30).await;
    wait_until(
        &mut [&mut a, &mut b, &mut c],
        "30 records read",
        LIMIT,
        |ms| received(ms) >= 30,
    )
    .await;
    assert_eq!(union_once(&[&a, &b, &c]), first);
    for m in [&a, &b, &c] {
        let read_from: BTreeSet<i32> = m.records.keys().map(|(p, _)| *p).collect();
        assert_eq!(read_from, m.owned, "{} read outside its partition", m.name);
    }

    // One member stops (as with Ctrl+C); the survivors take its partition over.
    let c = c.stop().await;
    wait_until(
        &mut [&mut a, &mut b],
        "the partition moved to a survivor",
        LIMIT,
        shared_out,
    )
    .await;
    let second = produce(&bootstrap, "lb-topic", 30, 30).await;
    wait_until(&mut [&mut a, &mut b], "30 more records read", LIMIT, |ms| {
        received(ms) + c.records.len() >= 60
    })
    .await;
    let a = a.stop().await;
    let b = b.stop().await;
    let mut all = first;
    all.extend(second);
    assert_eq!(union_once(&[&a, &b, &c]), all, "every record exactly once");
    broker.handle.shutdown().await;
}

/// Experiment 2: two groups each read everything.
async fn broadcast(client: Client) {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "bc-topic").await;
    let sent = produce(&bootstrap, "bc-topic", 0, 24).await;
    let Some(mut one) =
        Member::start(client, &target(&bootstrap, "bc-one", "bc-topic"), "one").await
    else {
        return;
    };
    let Some(mut two) =
        Member::start(client, &target(&bootstrap, "bc-two", "bc-topic"), "two").await
    else {
        return;
    };
    wait_until(
        &mut [&mut one, &mut two],
        "both groups read everything",
        LIMIT,
        |ms| ms.iter().all(|m| m.records.len() >= 24),
    )
    .await;
    let one = one.stop().await;
    let two = two.stop().await;
    assert_eq!(one.records, sent);
    assert_eq!(two.records, sent);
    broker.handle.shutdown().await;
}

/// Experiment 3: committed positions survive a member restart and a broker restart.
async fn persistence(client: Client) {
    let TestBroker { handle, dir } = broker().await;
    let bootstrap = handle.addr().to_string();
    create_topic(&bootstrap, "ps-topic").await;
    let t = target(&bootstrap, "ps-group", "ps-topic");

    let first = produce(&bootstrap, "ps-topic", 0, 15).await;
    let Some(mut m) = Member::start(client, &t, "first-run").await else {
        return;
    };
    wait_until(&mut [&mut m], "15 records read", LIMIT, |ms| {
        received(ms) >= 15
    })
    .await;
    let m = m.stop().await;
    assert_eq!(m.records, first);

    // Produce while it is away; back in the same group it reads exactly those.
    let second = produce(&bootstrap, "ps-topic", 15, 9).await;
    let Some(mut m) = Member::start(client, &t, "second-run").await else {
        return;
    };
    wait_until(&mut [&mut m], "9 records read", LIMIT, |ms| {
        received(ms) >= 9
    })
    .await;
    let m = m.stop().await;
    assert_eq!(
        m.records, second,
        "exactly the records produced while it was away"
    );

    // The same across a broker restart on the same data directory.
    let third = produce(&bootstrap, "ps-topic", 24, 6).await;
    handle.shutdown().await;
    let handle = TestBroker::start_in(&dir, tweak).await;
    let bootstrap = handle.addr().to_string();
    let t = target(&bootstrap, "ps-group", "ps-topic");
    let Some(mut m) = Member::start(client, &t, "after-restart").await else {
        return;
    };
    wait_until(&mut [&mut m], "6 records read", LIMIT, |ms| {
        received(ms) >= 6
    })
    .await;
    let fourth = produce(&bootstrap, "ps-topic", 30, 3).await;
    wait_until(&mut [&mut m], "3 more records read", LIMIT, |ms| {
        received(ms) >= 9
    })
    .await;
    let m = m.stop().await;
    let mut expected = third;
    expected.extend(fourth);
    assert_eq!(
        m.records, expected,
        "exactly the new records after a broker restart"
    );
    handle.shutdown().await;
}

/// A member crashes: its partitions move to the survivor once its 6 s session times out,
/// and every record is still read (at least once: what the crashed member read after its
/// last auto-commit is read again, as Kafka promises).
async fn crash(client: Client) {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "cr-topic").await;
    let t = target(&bootstrap, "cr-group", "cr-topic");
    let Some(mut a) = Member::start(client, &t, "survivor").await else {
        return;
    };
    let Some(mut b) = Member::start(client, &t, "crasher").await else {
        return;
    };
    wait_until(
        &mut [&mut a, &mut b],
        "the partitions shared out",
        LIMIT,
        shared_out,
    )
    .await;
    let first = produce(&bootstrap, "cr-topic", 0, 30).await;
    wait_until(&mut [&mut a, &mut b], "30 records read", LIMIT, |ms| {
        received(ms) >= 30
    })
    .await;
    let b = b.crash();
    wait_until(&mut [&mut a], "the survivor owns everything", LIMIT, |ms| {
        ms[0].owned == BTreeSet::from([0, 1, 2])
    })
    .await;
    let second = produce(&bootstrap, "cr-topic", 30, 30).await;
    wait_until(
        &mut [&mut a],
        "the survivor read the new records",
        LIMIT,
        |ms| second.keys().all(|at| ms[0].records.contains_key(at)),
    )
    .await;
    let a = a.stop().await;
    let mut all = first;
    all.extend(second);
    let mut read = b.records.clone();
    read.extend(a.records.clone());
    assert_eq!(read, all, "every record read at least once");
    for at in a.records.keys().filter(|at| b.records.contains_key(*at)) {
        assert!(
            !b.owned.is_empty() && b.owned.contains(&at.0),
            "{at:?} read twice but it was never the crashed member's"
        );
    }
    broker.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_native() {
    crash(Client::Native).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_kafka_python() {
    crash(Client::KafkaPython).await;
}

/// A group whose members run on different clients shares the partitions correctly.
async fn mixed_group(first: Client, second: Client) {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "mx-topic").await;
    let t = target(&bootstrap, "mx-group", "mx-topic");
    let Some(mut a) = Member::start(first, &t, "mixed-a").await else {
        return;
    };
    let Some(mut b) = Member::start(second, &t, "mixed-b").await else {
        return;
    };
    wait_until(
        &mut [&mut a, &mut b],
        "the partitions shared out",
        LIMIT,
        shared_out,
    )
    .await;
    let sent = produce(&bootstrap, "mx-topic", 0, 30).await;
    wait_until(&mut [&mut a, &mut b], "30 records read", LIMIT, |ms| {
        received(ms) >= 30
    })
    .await;
    for m in [&a, &b] {
        let read_from: BTreeSet<i32> = m.records.keys().map(|(p, _)| *p).collect();
        assert_eq!(read_from, m.owned, "{} read outside its partitions", m.name);
    }
    let a = a.stop().await;
    let b = b.stop().await;
    assert_eq!(union_once(&[&a, &b]), sent);
    broker.handle.shutdown().await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_native_and_rdkafka() {
    mixed_group(Client::Native, Client::Rdkafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_native_and_kafka_python() {
    mixed_group(Client::Native, Client::KafkaPython).await;
}
