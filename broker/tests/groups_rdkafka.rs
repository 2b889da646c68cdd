//! Group membership with librdkafka (the rdkafka crate's bundled 2.12) against minikafka:
//! static members (`group.instance.id`, KIP-345) and cooperative rebalancing
//! (`partition.assignment.strategy=cooperative-sticky`, KIP-429).
//!
//! Built only with `--features rdkafka`. Each member is a `BaseConsumer` polled on its own
//! thread; its rebalance callbacks record every assign and revoke, and commit what it read
//! before a partition is revoked, so a moved partition is read on from where it was left.
//! The group's generation and members are read from the broker's snapshot.
#![cfg(feature = "rdkafka")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use minikafka_broker::snapshot::GroupView;
use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, ClientContext, Message, TopicPartitionList};

/// How long a condition may take to come true.
const PATIENCE: Duration = Duration::from_secs(60);

/// What one member saw.
#[derive(Default)]
struct Seen {
    /// ("assign" | "revoke", partitions) per rebalance callback, in order.
    rebalances: Vec<(&'static str, Vec<i32>)>,
    /// The partitions assigned now.
    assignment: BTreeSet<i32>,
    /// Every record read: (partition, offset, value).
    records: Vec<(i32, i64, String)>,
    /// librdkafka's fatal error, if it raised one (a fenced static member does).
    fatal: Option<String>,
    /// Whether librdkafka runs the cooperative protocol (known after the first assign).
    cooperative: Option<bool>,
}

struct Recorder(Arc<Mutex<Seen>>);

impl Recorder {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<i32> {
    let mut ps: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    ps.sort_unstable();
    ps
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Commit what was read before the partitions move (nothing stored is fine).
            let _ = consumer.commit_consumer_state(CommitMode::Sync);
            self.seen().rebalances.push(("revoke", partitions(tpl)));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut seen = self.seen();
        if let Rebalance::Assign(tpl) = rebalance {
            seen.rebalances.push(("assign", partitions(tpl)));
        }
        seen.cooperative = Some(matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        ));
        seen.assignment = consumer
            .assignment()
            .map(|tpl| partitions(&tpl).into_iter().collect())
            .unwrap_or_default();
    }
}

/// One group member on its own thread.
struct Member {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(bootstrap: &str, group: &str, topic: &str, extra: &[(&str, &str)]) -> Member {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "500")
            .set("auto.commit.interval.ms", "200")
            .set("fetch.wait.max.ms", "100");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let consumer: BaseConsumer<Recorder> = config
            .create_with_context(Recorder(seen.clone()))
            .expect("rdkafka consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let value = String::from_utf8_lossy(m.payload().unwrap_or_default());
                    let mut seen = seen2.lock().unwrap_or_else(|p| p.into_inner());
                    seen.records
                        .push((m.partition(), m.offset(), value.into_owned()));
                }
                if let Some((code, why)) = consumer.client().fatal_error() {
                    seen2.lock().unwrap_or_else(|p| p.into_inner()).fatal =
                        Some(format!("{code:?}: {why}"));
                    break; // a fenced consumer is done
                }
            }
            // Dropping closes: the last revoke (with its commit), then LeaveGroup, except
            // for a static member, which relies on its session timeout.
            drop(consumer);
        });
        Member {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.seen().assignment.clone()
    }

    /// Closes the consumer and waits for it; what it saw stays readable.
    fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(t) = self.thread.take() else {
            return;
        };
        // librdkafka's close is bounded by its own timeouts; do not hang the test on it.
        let deadline = Instant::now() + PATIENCE;
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if t.is_finished() {
            t.join().expect("member thread");
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits until `cond` holds, polling; fails with `what` after [`PATIENCE`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn group_view(broker: &TestBroker, group: &str) -> Option<GroupView> {
    let snapshot = broker.handle()?.snapshot();
    snapshot.groups.into_iter().find(|g| g.group_id == group)
}

fn stable(broker: &TestBroker, group: &str, members: usize) -> bool {
    group_view(broker, group).is_some_and(|g| g.state == "Stable" && g.members.len() == members)
}

async fn produce(bootstrap: &str, topic: &str, prefix: &str, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("rdkafka producer");
    let mut pending = Vec::new();
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        let key = format!("k{i}");
        let record = FutureRecord::to(topic).key(&key).payload(&value);
        pending.push(producer.send_result(record).expect("queue has room"));
    }
    for delivery in pending {
        delivery
            .await
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
    }
}

/// Every value read by `members`, counted.
fn read_counts(members: &[&Member]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in members {
        for (_, _, v) in &m.seen().records {
            *counts.entry(v.clone()).or_insert(0) += 1;
        }
    }
    counts
}

fn expected(prefixes: &[(&str, usize)]) -> BTreeSet<String> {
    prefixes
        .iter()
        .flat_map(|(p, n)| (0..*n).map(move |i| format!("{p}-{i}")))
        .collect()
}

/// Waits until `members` together have read every value of `want`, then checks that
/// none was read twice and nothing else was read.
async fn read_exactly_once(members: &[&Member], want: &BTreeSet<String>) {
    until("every record is read", || {
        let counts = read_counts(members);
        want.iter().all(|v| counts.contains_key(v))
    })
    .await;
    let counts = read_counts(members);
    let twice: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(v, _)| v)
        .collect();
    assert!(twice.is_empty(), "read twice: {twice:?}");
    assert_eq!(counts.len(), want.len());
}

/// A broker with `topic` created, and its bootstrap address.
async fn broker_with(topic: &str, partitions: i32) -> (TestBroker, String) {
    let broker = TestBroker::start().await.expect("broker starts");
    Client::connect(broker.addr())
        .await
        .create_topic(topic, partitions)
        .await;
    let bootstrap = broker.bootstrap();
    (broker, bootstrap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_gets_its_partitions_back_without_a_rebalance() {
    let (topic, group) = ("static-rdk", "static-rdk-group");
    let (broker, bootstrap) = broker_with(topic, 6).await;
    let member = |instance: &str| {
        Member::start(&bootstrap, group, topic, &[("group.instance.id", instance)])
    };
    let a = member("a");
    let b = member("b");
    let mut c = member("c");
    until("three static members share six partitions", || {
        stable(&broker, group, 3) && [&a, &b, &c].iter().all(|m| m.assignment().len() == 2)
    })
    .await;
    let generation = group_view(&broker, group).expect("group").generation;
    let c_partitions = c.assignment();
    let rebalances_before = (a.seen().rebalances.len(), b.seen().rebalances.len());
    produce(&bootstrap, topic, "before", 60).await;
    until("the first 60 records are read", || {
        read_counts(&[&a, &b, &c]).len() == 60
    })
    .await;

    // C closes. A static member sends no LeaveGroup: the group keeps it, Stable.
    c.close();
    let view = group_view(&broker, group).expect("group");
    assert_eq!((view.state.as_str(), view.members.len()), ("Stable", 3));
    assert_eq!(view.generation, generation);
    produce(&bootstrap, topic, "gap", 60).await;

    // A new process with the same instance id: C's partitions, same generation.
    let c2 = member("c");
    until("the restarted member has its partitions", || {
        !c2.assignment().is_empty()
    })
    .await;
    assert_eq!(
        c2.assignment(),
        c_partitions,
        "the same partitions as before"
    );
    let view = group_view(&broker, group).expect("group");
    assert_eq!(
        view.generation, generation,
        "no rebalance: the same generation"
    );
    assert_eq!((view.state.as_str(), view.members.len()), ("Stable", 3));
    assert_eq!(
        (a.seen().rebalances.len(), b.seen().rebalances.len()),
        rebalances_before,
        "the other members saw no rebalance"
    );
    assert_eq!(a.assignment().len() + b.assignment().len(), 4);

    // Everything is read exactly once; the gap's records on C's partitions by C2, from
    // where C left off.
    produce(&bootstrap, topic, "after", 60).await;
    let want = expected(&[("before", 60), ("gap", 60), ("after", 60)]);
    read_exactly_once(&[&a, &b, &c, &c2], &want).await;
    let gap_on_c2 = c2
        .seen()
        .records
        .iter()
        .filter(|(p, _, v)| v.starts_with("gap") && c_partitions.contains(p))
        .count();
    assert!(
        gap_on_c2 > 0,
        "C2 read what C's partitions got while it was away"
    );
    for mut m in [a, b, c2] {
        m.close();
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_static_member_fences_the_first() {
    let (topic, group) = ("dup-rdk", "dup-rdk-group");
    let (broker, bootstrap) = broker_with(topic, 3).await;
    let mut first = Member::start(&bootstrap, group, topic, &[("group.instance.id", "dup")]);
    until("the first member is assigned", || {
        first.assignment().len() == 3
    })
    .await;
    let generation = group_view(&broker, group).expect("group").generation;
    let mut second = Member::start(&bootstrap, group, topic, &[("group.instance.id", "dup")]);
    until("the second takes the instance's partitions", || {
        second.assignment().len() == 3
    })
    .await;
    until("the first is fenced", || first.seen().fatal.is_some()).await;
    let fatal = first.seen().fatal.clone().unwrap_or_default();
    assert!(
        fatal.contains("FencedInstanceId") || fatal.to_lowercase().contains("fenced"),
        "{fatal}"
    );
    let view = group_view(&broker, group).expect("group");
    assert_eq!(view.members.len(), 1);
    assert_eq!(
        view.generation, generation,
        "replacing a static member is no rebalance"
    );
    second.close();
    first.close();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_members_join_and_leave_and_every_record_is_read_once() {
    let (topic, group) = ("coop-rdk", "coop-rdk-group");
    let (broker, bootstrap) = broker_with(topic, 6).await;
    let member = || {
        Member::start(
            &bootstrap,
            group,
            topic,
            &[("partition.assignment.strategy", "cooperative-sticky")],
        )
    };
    produce(&bootstrap, topic, "one", 100).await;
    let mut m1 = member();
    until("m1 owns every partition", || m1.assignment().len() == 6).await;
    assert_eq!(
        m1.seen().cooperative,
        Some(true),
        "librdkafka runs cooperative"
    );

    let mut m2 = member();
    until("m1 and m2 share the partitions 3/3", || {
        stable(&broker, group, 2) && m1.assignment().len() == 3 && m2.assignment().len() == 3
    })
    .await;
    produce(&bootstrap, topic, "two", 100).await;
    let mut m3 = member();
    until("three members hold two partitions each", || {
        stable(&broker, group, 3) && [&m1, &m2, &m3].iter().all(|m| m.assignment().len() == 2)
    })
    .await;
    produce(&bootstrap, topic, "three", 100).await;

    // Incremental: m1 kept partitions throughout; each revoke took only some of them,
    // and it never had to give everything back to get a new share.
    {
        let seen = m1.seen();
        let mut owned: BTreeSet<i32> = BTreeSet::new();
        for (kind, parts) in &seen.rebalances {
            match *kind {
                "assign" => owned.extend(parts),
                _ => {
                    assert!(
                        parts.len() < owned.len(),
                        "a cooperative revoke takes only the partitions that move: {:?}",
                        seen.rebalances
                    );
                    for p in parts {
                        owned.remove(p);
                    }
                }
            }
        }
        assert_eq!(owned, seen.assignment);
        assert!(
            seen.rebalances
                .iter()
                .filter(|(k, _)| *k == "revoke")
                .count()
                >= 2,
            "m1 gave up partitions to m2, then to m3: {:?}",
            seen.rebalances
        );
    }

    // m3 leaves (LeaveGroup), then m2: their partitions come back to the others.
    m3.close();
    until("m1 and m2 share the partitions again", || {
        stable(&broker, group, 2) && m1.assignment().len() + m2.assignment().len() == 6
    })
    .await;
    produce(&bootstrap, topic, "four", 100).await;
    m2.close();
    until("m1 owns every partition again", || {
        stable(&broker, group, 1) && m1.assignment().len() == 6
    })
    .await;
    produce(&bootstrap, topic, "five", 100).await;

    let want = expected(&[
        ("one", 100),
        ("two", 100),
        ("three", 100),
        ("four", 100),
        ("five", 100),
    ]);
    read_exactly_once(&[&m1, &m2, &m3], &want).await;
    m1.close();
    broker.stop().await;
}
