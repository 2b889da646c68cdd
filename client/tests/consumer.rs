//! The group consumer: assignment, every record once, commits that survive a restart,
//! rebalances without repeats, offset reset, fetch fairness and the range assignor. Each
//! scenario is written once as `async fn(Backend, &mut Cluster)` and runs per backend
//! against our broker on 127.0.0.1:0, and with rdkafka against librdkafka's mock cluster.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use minikafka_client::{
    Backend, Consumer, ConsumerConfig, ConsumerEvent, Error, OffsetReset, Producer, ProducerRecord,
    TopicPartition,
};
use minikafka_testkit::cluster::{close_members, produce_all, wait_for_shares};
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    one_member_gets_every_partition_and_every_record_once,
    close_commits_so_a_restart_gets_only_new_records,
    manual_commit_without_auto_commit,
    a_second_member_takes_over_partitions_without_repeats,
    latest_reset_skips_what_was_there,
    a_busy_partition_does_not_starve_a_quiet_one,
    range_assignor_by_config,
    subscribing_creates_a_missing_topic,
    a_new_subscription_rebalances,
    a_dropped_consumer_still_commits_and_leaves,
    close_returns_when_the_broker_is_gone;
    // Our broker forgets group members on restart, so the member must rejoin; the mock
    // cluster keeps them across its broker going down and up, so nothing rejoins.
    ours_only: the_member_rejoins_after_a_broker_restart;
    // librdkafka retries a refused JoinGroup (INVALID_SESSION_TIMEOUT) without surfacing it;
    // the other misuse checks run per backend in cluster_scenarios.rs. librdkafka does not
    // join while none of its subscribed topics exist, so it has no empty assignment to show.
    native_only: misuse_gives_clear_errors, a_topic_created_later_is_picked_up,
);

async fn create_topic(cluster: &Cluster, backend: Backend, topic: &str, partitions: i32) {
    cluster.create_topic(backend, topic, partitions).await;
}

/// Send `values` spread over the partitions; returns (partition, offset) per value.
async fn produce(
    cluster: &Cluster,
    backend: Backend,
    topic: &str,
    values: impl IntoIterator<Item = String>,
) -> BTreeMap<(i32, i64), String> {
    let records = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| ProducerRecord::new(topic).partition(i as i32 % 3).value(v));
    produce_all(cluster, backend, records).await
}

/// Receive until `want` records arrived, returning them by (partition, offset) and
/// checking each arrives once; events are collected too.
async fn receive(
    consumer: &mut Consumer,
    want: usize,
) -> (BTreeMap<(i32, i64), String>, Vec<ConsumerEvent>) {
    let mut got = BTreeMap::new();
    let mut events = Vec::new();
    within("receiving records", async {
        while got.len() < want {
            match consumer.recv().await.expect("recv") {
                ConsumerEvent::Record(r) => {
                    let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                        .into_owned();
                    let previous = got.insert((r.partition, r.offset), value);
                    assert!(previous.is_none(), "{}@{} twice", r.partition, r.offset);
                }
                other => events.push(other),
            }
        }
    })
    .await;
    (got, events)
}

/// Like [`receive`], for an at-least-once cluster: records of `old` (already consumed
/// once) may come again and are skipped; `want` new records are collected, each once.
async fn receive_new(
    consumer: &mut Consumer,
    want: usize,
    old: &BTreeMap<(i32, i64), String>,
) -> BTreeMap<(i32, i64), String> {
    let mut got = BTreeMap::new();
    within("receiving new records", async {
        while got.len() < want {
            if let ConsumerEvent::Record(r) = consumer.recv().await.expect("recv") {
                if old.contains_key(&(r.partition, r.offset)) {
                    continue;
                }
                let value =
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
                let previous = got.insert((r.partition, r.offset), value);
                assert!(previous.is_none(), "{}@{} twice", r.partition, r.offset);
            }
        }
    })
    .await;
    got
}

/// Wait for the next Assigned event, skipping records and revocations.
async fn next_assignment(consumer: &mut Consumer) -> Vec<TopicPartition> {
    within("an assignment", async {
        loop {
            if let ConsumerEvent::Assigned(tps) = consumer.recv().await.expect("recv") {
                return tps;
            }
        }
    })
    .await
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

async fn one_member_gets_every_partition_and_every_record_once(
    backend: Backend,
    cluster: &mut Cluster,
) {
    create_topic(cluster, backend, "t1", 3).await;
    let sent = produce(cluster, backend, "t1", values("a", 30)).await;
    let mut consumer = Consumer::new(cluster.member_config(backend, "g1"))
        .await
        .expect("consumer");
    consumer.subscribe(&["t1"]).await.expect("subscribe");
    let assigned = next_assignment(&mut consumer).await;
    assert_eq!(
        assigned,
        (0..3)
            .map(|p| TopicPartition::new("t1", p))
            .collect::<Vec<_>>()
    );
    assert_eq!(consumer.assignment(), assigned);
    let (got, _) = receive(&mut consumer, sent.len()).await;
    assert_eq!(got, sent);
    within("close", consumer.close()).await.expect("close");
    assert!(matches!(
        consumer.recv().await,
        Err(Error::ConsumerClosed { .. })
    ));
}

async fn close_commits_so_a_restart_gets_only_new_records(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t2", 3).await;
    let first = produce(cluster, backend, "t2", values("first", 12)).await;
    let mut consumer = Consumer::new(cluster.member_config(backend, "g2"))
        .await
        .expect("consumer");
    consumer.subscribe(&["t2"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, first.len()).await;
    assert_eq!(got, first);
    within("close", consumer.close()).await.expect("close");

    let second = produce(cluster, backend, "t2", values("second", 9)).await;
    let mut consumer = Consumer::new(cluster.member_config(backend, "g2"))
        .await
        .expect("consumer");
    consumer.subscribe(&["t2"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, second.len()).await;
    assert_eq!(got, second, "exactly the records produced after the close");
    within("close", consumer.close()).await.expect("close");
}

async fn manual_commit_without_auto_commit(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t3", 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    for v in values("m", 10) {
        producer
            .send(ProducerRecord::new("t3").value(v))
            .await
            .expect("send");
    }
    let mut config = cluster.member_config(backend, "g3");
    config.enable_auto_commit = false;
    let mut consumer = Consumer::new(config.clone()).await.expect("consumer");
    consumer.subscribe(&["t3"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, 4).await;
    assert_eq!(
        got.keys().map(|k| k.1).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    within("commit", consumer.commit()).await.expect("commit");
    // Two more records are handed out but not committed; close does not commit them.
    receive(&mut consumer, 2).await;
    within("close", consumer.close()).await.expect("close");

    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["t3"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, 6).await;
    assert_eq!(
        got.keys().map(|k| k.1).collect::<Vec<_>>(),
        (4..10).collect::<Vec<_>>(),
        "resumes after the last manual commit"
    );
    within("close", consumer.close()).await.expect("close");
    producer.close().await;
}

async fn a_second_member_takes_over_partitions_without_repeats(
    backend: Backend,
    cluster: &mut Cluster,
) {
    create_topic(cluster, backend, "t4", 3).await;
    let before = produce(cluster, backend, "t4", values("before", 30)).await;
    let mut a = Consumer::new(cluster.member_config(backend, "g4"))
        .await
        .expect("consumer a");
    a.subscribe(&["t4"]).await.expect("subscribe");
    let (got_a, _) = receive(&mut a, before.len()).await;
    assert_eq!(got_a, before);

    // B joins: A must give up partitions (Revoked, then a smaller Assigned), and nothing
    // either received comes again.
    let mut b = Consumer::new(cluster.member_config(backend, "g4"))
        .await
        .expect("consumer b");
    b.subscribe(&["t4"]).await.expect("subscribe");
    // librdkafka's mock cluster refuses OffsetCommit with REBALANCE_IN_PROGRESS for
    // the whole rebalance (Kafka, and our broker, only while CompletingRebalance), so
    // there the commit on revoke can be refused and the new owner starts over: delivery
    // is at-least-once. There, check that nothing is lost and that every repeat is an
    // old record; against our broker, nothing comes twice.
    let repeats_allowed = cluster.is_mock();
    let mut events = wait_for_shares(&mut [&mut a, &mut b], 3).await;
    // The owners are settled; a's events may still be on their way to the application.
    while !events[0]
        .iter()
        .any(|e| matches!(e, ConsumerEvent::Assigned(_)))
    {
        events[0].push(within("a's new assignment", a.recv()).await.expect("recv"));
    }
    assert!(
        matches!(events[0].first(), Some(ConsumerEvent::Revoked(_))),
        "a: {:?}",
        events[0]
    );
    for e in events.iter().flatten() {
        if let ConsumerEvent::Record(r) = e {
            assert!(
                repeats_allowed && before.contains_key(&(r.partition, r.offset)),
                "received again: {e:?}"
            );
        }
    }
    let a_owned = a.assignment();

    // New records go to whoever owns the partition, once, and nothing old comes back
    // (on the mock cluster: old records may, see above).
    let after = produce(cluster, backend, "t4", values("after", 30)).await;
    let want_a = after
        .keys()
        .filter(|(p, _)| a_owned.iter().any(|tp| tp.partition == *p))
        .count();
    let (got_a, got_b) = if repeats_allowed {
        (
            receive_new(&mut a, want_a, &before).await,
            receive_new(&mut b, after.len() - want_a, &before).await,
        )
    } else {
        (
            receive(&mut a, want_a).await.0,
            receive(&mut b, after.len() - want_a).await.0,
        )
    };
    let mut union = got_a.clone();
    union.extend(got_b.clone());
    assert_eq!(union, after);
    close_members(vec![("a", &mut a), ("b", &mut b)]).await;
}

async fn latest_reset_skips_what_was_there(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t5", 3).await;
    produce(cluster, backend, "t5", values("old", 6)).await;
    let mut config = cluster.member_config(backend, "g5");
    config.auto_offset_reset = OffsetReset::Latest;
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["t5"]).await.expect("subscribe");
    next_assignment(&mut consumer).await;
    let new = produce(cluster, backend, "t5", values("new", 6)).await;
    let (got, _) = receive(&mut consumer, new.len()).await;
    assert_eq!(got, new);
    within("close", consumer.close()).await.expect("close");
}

async fn a_busy_partition_does_not_starve_a_quiet_one(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t6", 2).await;
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    // A backlog of 1,000 x 1 KiB on partition 0, then one record on partition 1.
    let big = "x".repeat(1024);
    let mut pending = Vec::new();
    for _ in 0..1000 {
        let record = ProducerRecord::new("t6").partition(0).value(big.clone());
        pending.push(producer.enqueue(record).await.expect("enqueue"));
    }
    for f in pending {
        within("delivery", f).await.expect("delivered");
    }
    producer
        .send(ProducerRecord::new("t6").partition(1).value("quiet"))
        .await
        .expect("send");
    producer.close().await;

    let mut config = cluster.member_config(backend, "g6");
    config.max_partition_fetch_bytes = 16 * 1024;
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["t6"]).await.expect("subscribe");
    let mut seen_from_0 = 0;
    within("the quiet partition's record", async {
        loop {
            if let ConsumerEvent::Record(r) = consumer.recv().await.expect("recv") {
                if r.partition == 1 {
                    break;
                }
                seen_from_0 += 1;
            }
        }
    })
    .await;
    assert!(
        seen_from_0 < 500,
        "partition 1 waited behind {seen_from_0} records of partition 0"
    );
    within("close", consumer.close()).await.expect("close");
}

async fn range_assignor_by_config(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t7", 4).await;
    let mut config = cluster.member_config(backend, "g7");
    config
        .set("partition.assignment.strategy", "range")
        .expect("range");
    let mut a = Consumer::new(config.clone()).await.expect("a");
    a.subscribe(&["t7"]).await.expect("subscribe");
    next_assignment(&mut a).await;
    let mut b = Consumer::new(config).await.expect("b");
    b.subscribe(&["t7"]).await.expect("subscribe");
    wait_for_shares(&mut [&mut a, &mut b], 4).await;
    // Range gives each member a contiguous block of two (round-robin would deal 0,2 / 1,3).
    let parts = |c: &Consumer| {
        let mut p: Vec<i32> = c.assignment().iter().map(|tp| tp.partition).collect();
        p.sort();
        p
    };
    let mut blocks = [parts(&a), parts(&b)];
    blocks.sort();
    assert_eq!(blocks, [vec![0, 1], vec![2, 3]]);
    close_members(vec![("a", &mut a), ("b", &mut b)]).await;
}

async fn misuse_gives_clear_errors(backend: Backend, cluster: &mut Cluster) {
    let mut consumer = Consumer::new(cluster.member_config(backend, "g8"))
        .await
        .expect("consumer");
    let err = consumer.recv().await.unwrap_err().to_string();
    assert!(err.contains("subscribe"), "{err}");
    let err = consumer.subscribe(&[]).await.unwrap_err().to_string();
    assert!(err.contains("at least one topic"), "{err}");
    consumer.close().await.expect("close");

    let mut config = cluster.member_config(backend, "g8");
    config.session_timeout = Duration::from_secs(1); // below the broker's 6 s minimum
    config.heartbeat_interval = Duration::from_millis(100);
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["t8"]).await.expect("subscribe");
    let err = within("the join error", consumer.recv())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("INVALID_SESSION_TIMEOUT"), "{err}");

    let unreachable = ConsumerConfig::new("127.0.0.1:1", "g8");
    let err = Consumer::new(unreachable).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect to 127.0.0.1:1"), "{err}");
}

async fn subscribing_creates_a_missing_topic(backend: Backend, cluster: &mut Cluster) {
    // The classroom starts the consumer before the producer: the topic appears on subscribe.
    let mut consumer = Consumer::new(cluster.member_config(backend, "g9"))
        .await
        .expect("consumer");
    consumer.subscribe(&["fresh"]).await.expect("subscribe");
    let assigned = next_assignment(&mut consumer).await;
    assert_eq!(
        assigned.len(),
        cluster.default_partitions() as usize,
        "{assigned:?}"
    );
    let sent = produce(cluster, backend, "fresh", values("f", 6)).await;
    let (got, _) = receive(&mut consumer, sent.len()).await;
    assert_eq!(got, sent);
    within("close", consumer.close()).await.expect("close");
}

async fn a_topic_created_later_is_picked_up(backend: Backend, cluster: &mut Cluster) {
    let mut config = cluster.member_config(backend, "g10");
    config
        .set("allow.auto.create.topics", "false")
        .expect("set");
    config.set("metadata.max.age.ms", "200").expect("set");
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["later"]).await.expect("subscribe");
    assert!(next_assignment(&mut consumer).await.is_empty());
    create_topic(cluster, backend, "later", 2).await;
    // The leader notices the new topic and rebalances.
    let assigned = next_assignment(&mut consumer).await;
    assert_eq!(
        assigned,
        vec![
            TopicPartition::new("later", 0),
            TopicPartition::new("later", 1)
        ]
    );
    within("close", consumer.close()).await.expect("close");
}

async fn the_member_rejoins_after_a_broker_restart(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t11", 3).await;
    let first = produce(cluster, backend, "t11", values("before", 9)).await;
    let mut consumer = Consumer::new(cluster.member_config(backend, "g11"))
        .await
        .expect("consumer");
    consumer.subscribe(&["t11"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, first.len()).await;
    assert_eq!(got, first);
    within("commit", consumer.commit()).await.expect("commit");

    // Same address, same data: the coordinator forgot the group's members but not its
    // offsets. The member finds it again, learns its generation is gone, rejoins and
    // resumes after its commit.
    cluster.stop().await;
    cluster.start_again().await;
    let rejoined = next_assignment(&mut consumer).await;
    assert_eq!(rejoined.len(), 3, "{rejoined:?}");
    let second = produce(cluster, backend, "t11", values("after", 9)).await;
    let (got, _) = receive(&mut consumer, second.len()).await;
    assert_eq!(
        got, second,
        "exactly the records produced after the restart"
    );
    within("close", consumer.close()).await.expect("close");
}

async fn a_new_subscription_rebalances(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "first-topic", 1).await;
    create_topic(cluster, backend, "second-topic", 2).await;
    let mut consumer = Consumer::new(cluster.member_config(backend, "g12"))
        .await
        .expect("consumer");
    consumer
        .subscribe(&["first-topic"])
        .await
        .expect("subscribe");
    assert_eq!(
        next_assignment(&mut consumer).await,
        vec![TopicPartition::new("first-topic", 0)]
    );
    consumer
        .subscribe(&["second-topic"])
        .await
        .expect("subscribe again");
    let revoked = within("the old partitions revoked", async {
        loop {
            if let ConsumerEvent::Revoked(tps) = consumer.recv().await.expect("recv") {
                return tps;
            }
        }
    })
    .await;
    assert_eq!(revoked, vec![TopicPartition::new("first-topic", 0)]);
    assert_eq!(
        next_assignment(&mut consumer).await,
        vec![
            TopicPartition::new("second-topic", 0),
            TopicPartition::new("second-topic", 1)
        ]
    );
    within("close", consumer.close()).await.expect("close");
}

async fn a_dropped_consumer_still_commits_and_leaves(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t13", 3).await;
    let first = produce(cluster, backend, "t13", values("first", 9)).await;
    // No periodic commit within the test: only the commit the drop makes can count.
    let mut config = cluster.member_config(backend, "g13");
    config.auto_commit_interval = Duration::from_secs(600);
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["t13"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, first.len()).await;
    assert_eq!(got, first);
    drop(consumer);

    // The next member's join completes only once the dropped one has committed and left
    // (or rejoined), so it starts exactly after what was handed out.
    let second = produce(cluster, backend, "t13", values("second", 6)).await;
    let mut consumer = Consumer::new(cluster.member_config(backend, "g13"))
        .await
        .expect("consumer");
    consumer.subscribe(&["t13"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, second.len()).await;
    assert_eq!(got, second);
    within("close", consumer.close()).await.expect("close");
}

/// A close whose broker went away returns within the request timeout, with an error that
/// says what failed, instead of waiting for a coordinator that will never answer.
async fn close_returns_when_the_broker_is_gone(backend: Backend, cluster: &mut Cluster) {
    create_topic(cluster, backend, "t14", 3).await;
    let sent = produce(cluster, backend, "t14", values("gone", 6)).await;
    let mut config = cluster.member_config(backend, "g14");
    config.client.request_timeout = Duration::from_secs(3);
    config.auto_commit_interval = Duration::from_secs(600);
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.subscribe(&["t14"]).await.expect("subscribe");
    let (got, _) = receive(&mut consumer, sent.len()).await;
    assert_eq!(got, sent);
    cluster.stop().await;

    let started = std::time::Instant::now();
    let closed = within("close", consumer.close()).await;
    let took = started.elapsed();
    // A behaviour bound, not a speed target: close honours request.timeout.ms (plus slack
    // for a loaded machine) rather than librdkafka's own, longer, coordinator waits.
    assert!(
        took < Duration::from_secs(8),
        "close took {took:?}: {closed:?}"
    );
    let err = closed.expect_err("the final commit cannot reach a stopped broker");
    assert!(
        err.is_retriable() || matches!(err, Error::Timeout { .. }),
        "{err}"
    );
    assert!(matches!(
        consumer.recv().await,
        Err(Error::ConsumerClosed { .. })
    ));
}
