//! Round-trip, reader and classroom scenarios written once as
//! `async fn(Backend, &mut Cluster)` and run for every backend against our broker, and for
//! the rdkafka backend also against librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`), an independent Kafka implementation, so the
//! scenarios check Kafka's behaviour rather than our broker's.
//!
//! The classroom experiments (issue 4): load balancing within the session timeout,
//! broadcast across groups, and persistence across a consumer restart. Persistence across
//! a broker restart is in `classroom_broker_restart.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use common::{wait_for_shares, within, Cluster};
use minikafka_client::partitioner::partition_for_key;
use minikafka_client::{
    Backend, Consumer, ConsumerConfig, ConsumerEvent, Error, Offset, PartitionReader, Producer,
    ProducerRecord, TopicPartition,
};

backend_tests!(
    keyed_records_with_headers_round_trip,
    reader_starts_where_asked,
    classroom_load_balancing,
    classroom_broadcast,
    classroom_persistence_across_consumer_restart,
    consumer_misuse_is_refused_clearly;
    // The mock cluster finishes any rebalance after a leave only after the session timeout
    // minus 1 s (rdkafka_mock_cgrp.c), so it cannot show that a leave moves partitions
    // sooner than a session timeout would: that check needs our broker.
    ours_only: close_leaves_the_group_at_once,
);

fn consumer_config(cluster: &Cluster, backend: Backend, group: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(&cluster.bootstrap(), group);
    c.client.backend = backend;
    c.session_timeout = Duration::from_secs(6);
    c.heartbeat_interval = Duration::from_millis(300);
    c.rebalance_timeout = Duration::from_secs(10);
    c.auto_commit_interval = Duration::from_millis(200);
    c.fetch_max_wait = Duration::from_millis(100);
    c
}

/// Send `n` records keyed `user_<i % 5>`; returns (partition, offset) → value.
async fn produce(
    cluster: &Cluster,
    backend: Backend,
    topic: &str,
    prefix: &str,
    n: usize,
) -> BTreeMap<(i32, i64), String> {
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    let mut futures = Vec::new();
    for i in 0..n {
        let value = format!("{prefix}-{i}");
        let record = ProducerRecord::new(topic)
            .key(format!("user_{}", i % 5))
            .value(value.clone());
        futures.push((producer.enqueue(record).await.expect("enqueue"), value));
    }
    let mut out = BTreeMap::new();
    for (f, v) in futures {
        let meta = within("delivery", f).await.expect("delivered");
        out.insert((meta.partition, meta.offset), v);
    }
    producer.close().await;
    out
}

fn value_of(e: &ConsumerEvent) -> Option<((i32, i64), String)> {
    match e {
        ConsumerEvent::Record(r) => Some((
            (r.partition, r.offset),
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
        )),
        _ => None,
    }
}

/// Receive from all `consumers` until `want` records arrived in total, each exactly once.
async fn receive_all(
    consumers: &mut [&mut Consumer],
    want: usize,
) -> Vec<BTreeMap<(i32, i64), String>> {
    let mut got: Vec<BTreeMap<(i32, i64), String>> = vec![BTreeMap::new(); consumers.len()];
    within("receiving every record", async {
        while got.iter().map(BTreeMap::len).sum::<usize>() < want {
            for (i, c) in consumers.iter_mut().enumerate() {
                let event = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
                if let Ok(event) = event {
                    if let Some((at, v)) = value_of(&event.expect("recv")) {
                        let seen = got.iter().any(|g| g.contains_key(&at));
                        assert!(!seen, "{at:?} delivered twice");
                        got[i].insert(at, v);
                    }
                }
            }
        }
    })
    .await;
    got
}

async fn keyed_records_with_headers_round_trip(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "orders", 3).await;
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    let mut sent = Vec::new();
    for i in 0..30u32 {
        let key = format!("key-{}", i % 7);
        let record = ProducerRecord::new("orders")
            .key(key.clone())
            .value(vec![i as u8, 0, 255, b'\n'])
            .header("seq", i.to_string());
        let meta = within("send", producer.send(record)).await.expect("sent");
        assert_eq!(meta.topic, "orders");
        assert_eq!(
            meta.partition,
            partition_for_key(key.as_bytes(), 3),
            "{key}"
        );
        sent.push((meta, key, i));
    }
    producer.close().await;
    for partition in 0..3 {
        let expected: Vec<_> = sent
            .iter()
            .filter(|(m, _, _)| m.partition == partition)
            .collect();
        let mut reader = PartitionReader::assign(
            cluster.reader_config(backend),
            "orders",
            partition,
            Offset::Earliest,
        )
        .await
        .expect("assign");
        for (meta, key, i) in expected {
            let r = within("next", reader.next()).await.expect("record");
            assert_eq!(r.offset, meta.offset);
            assert_eq!(r.key, Some(Bytes::from(key.clone())));
            assert_eq!(r.value, Some(Bytes::from(vec![*i as u8, 0, 255, b'\n'])));
            assert_eq!(r.headers.len(), 1);
            assert_eq!(r.headers[0].key, "seq");
            assert_eq!(r.headers[0].value, Some(Bytes::from(i.to_string())));
        }
    }
}

async fn reader_starts_where_asked(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "log", 1).await;
    let sent = produce(cluster, backend, "log", "v", 10).await;
    assert_eq!(
        sent.keys().map(|(_, o)| *o).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    let mut reader =
        PartitionReader::assign(cluster.reader_config(backend), "log", 0, Offset::At(7))
            .await
            .expect("assign");
    assert_eq!(reader.position(), 7);
    let r = within("next", reader.next()).await.expect("record");
    assert_eq!((r.offset, r.value), (7, Some(Bytes::from("v-7"))));
    let mut latest =
        PartitionReader::assign(cluster.reader_config(backend), "log", 0, Offset::Latest)
            .await
            .expect("assign latest");
    assert_eq!(latest.position(), 10);
    produce(cluster, backend, "log", "new", 1).await;
    let r = within("next", latest.next()).await.expect("record");
    assert_eq!((r.offset, r.value), (10, Some(Bytes::from("new-0"))));
}

/// Experiment 1: three members share three partitions, every message once; when one
/// leaves, its partition moves to a survivor.
async fn classroom_load_balancing(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "lb", 3).await;
    let mut a = Consumer::new(consumer_config(cluster, backend, "lb-group"))
        .await
        .expect("a");
    let mut b = Consumer::new(consumer_config(cluster, backend, "lb-group"))
        .await
        .expect("b");
    let mut c = Consumer::new(consumer_config(cluster, backend, "lb-group"))
        .await
        .expect("c");
    for m in [&mut a, &mut b, &mut c] {
        m.subscribe(&["lb"]).await.expect("subscribe");
    }
    wait_for_shares(&mut [&mut a, &mut b, &mut c], 3).await;
    for m in [&a, &b, &c] {
        assert_eq!(m.assignment().len(), 1, "one partition each");
    }
    let sent = produce(cluster, backend, "lb", "first", 30).await;
    let got = receive_all(&mut [&mut a, &mut b, &mut c], sent.len()).await;
    let union: BTreeMap<_, _> = got.into_iter().flatten().collect();
    assert_eq!(union, sent, "every message exactly once");
    // Commit what each member received while the group is stable. Auto-commit may still
    // be a tick behind, and the commit librdkafka makes on revoke can meet a rebalance
    // already under way (the mock cluster refuses commits then; Kafka accepts them), so
    // without this a survivor could start again from an older commit: at-least-once.
    for m in [&a, &b] {
        within("commit", m.commit()).await.expect("commit");
    }

    let moved = c.assignment();
    c.close().await.expect("close");
    wait_for_shares(&mut [&mut a, &mut b], 3).await;
    let owners: BTreeSet<TopicPartition> =
        a.assignment().into_iter().chain(b.assignment()).collect();
    assert!(
        owners.is_superset(&moved.into_iter().collect()),
        "the partition moved"
    );
    let more = produce(cluster, backend, "lb", "second", 30).await;
    let got = receive_all(&mut [&mut a, &mut b], more.len()).await;
    let union: BTreeMap<_, _> = got.into_iter().flatten().collect();
    assert_eq!(union, more, "the survivors get every new message once");
    common::close_members(vec![("a", &mut a), ("b", &mut b)]).await;
}

/// Experiment 2: two groups each receive every message.
async fn classroom_broadcast(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "news", 3).await;
    let sent = produce(cluster, backend, "news", "n", 20).await;
    for group in ["g-one", "g-two"] {
        let mut m = Consumer::new(consumer_config(cluster, backend, group))
            .await
            .expect("consumer");
        m.subscribe(&["news"]).await.expect("subscribe");
        let got = receive_all(&mut [&mut m], sent.len()).await;
        assert_eq!(got[0], sent, "group {group} got everything");
        m.close().await.expect("close");
    }
}

/// Experiment 3: stop the consumer, produce more, restart it in the same group: it gets
/// exactly the new messages.
async fn classroom_persistence_across_consumer_restart(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "diary", 3).await;
    let first = produce(cluster, backend, "diary", "old", 15).await;
    let mut m = Consumer::new(consumer_config(cluster, backend, "diary-group"))
        .await
        .expect("consumer");
    m.subscribe(&["diary"]).await.expect("subscribe");
    let got = receive_all(&mut [&mut m], first.len()).await;
    assert_eq!(got[0], first);
    m.close().await.expect("close commits");

    let second = produce(cluster, backend, "diary", "new", 12).await;
    let mut m = Consumer::new(consumer_config(cluster, backend, "diary-group"))
        .await
        .expect("consumer");
    m.subscribe(&["diary"]).await.expect("subscribe");
    let got = receive_all(&mut [&mut m], second.len()).await;
    assert_eq!(got[0], second, "exactly the new messages");
    // Nothing else is waiting: an old record now would have come before the new ones.
    let extra = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Some(v) = value_of(&m.recv().await.expect("recv")) {
                return v;
            }
        }
    })
    .await;
    assert!(extra.is_err(), "no repeat after restart: {extra:?}");
    m.close().await.expect("close");
}

/// recv before subscribe, an empty subscription, use after close and an unreachable
/// cluster each get a clear error.
async fn consumer_misuse_is_refused_clearly(backend: Backend, cluster: &mut Cluster) {
    let mut m = Consumer::new(consumer_config(cluster, backend, "misuse"))
        .await
        .expect("consumer");
    let err = m.recv().await.unwrap_err().to_string();
    assert!(err.contains("subscribe"), "{err}");
    let err = m.subscribe(&[]).await.unwrap_err().to_string();
    assert!(err.contains("at least one topic"), "{err}");
    m.close().await.expect("close");
    assert!(matches!(m.recv().await, Err(Error::ConsumerClosed { .. })));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut unreachable = ConsumerConfig::new(&addr, "misuse");
    unreachable.client.backend = backend;
    let err = within("connect", Consumer::new(unreachable))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("cannot connect to {addr}")), "{err}");
}

/// close() sends LeaveGroup: with a session timeout longer than the test's bound, only a
/// real LeaveGroup can move the partitions to the other member in time.
async fn close_leaves_the_group_at_once(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "leave", 2).await;
    let config = || {
        let mut c = consumer_config(cluster, backend, "leave-group");
        c.session_timeout = Duration::from_secs(120);
        c.heartbeat_interval = Duration::from_millis(500);
        c
    };
    let mut a = Consumer::new(config()).await.expect("a");
    let mut b = Consumer::new(config()).await.expect("b");
    a.subscribe(&["leave"]).await.expect("subscribe");
    b.subscribe(&["leave"]).await.expect("subscribe");
    wait_for_shares(&mut [&mut a, &mut b], 2).await;
    within("close", b.close()).await.expect("close");
    within("the partitions move at once", async {
        while a.assignment().len() < 2 {
            let _ = tokio::time::timeout(Duration::from_millis(50), a.recv()).await;
        }
    })
    .await;
    a.close().await.expect("close a");
}
