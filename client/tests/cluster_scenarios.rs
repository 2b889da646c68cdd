//! Round-trip, reader and consumer-misuse scenarios written once as
//! `async fn(Backend, &mut Cluster)` and run for every backend against our broker, and for
//! the rdkafka backend also against librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`), an independent Kafka implementation, so the
//! scenarios check Kafka's behaviour rather than our broker's.
//!
//! The classroom experiments (load balancing, broadcast, persistence) are in
//! `classroom.rs`, where they also run with kafka-python.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use minikafka_client::partitioner::partition_for_key;
use minikafka_client::{
    Backend, Consumer, ConsumerConfig, Error, Offset, PartitionReader, Producer, ProducerRecord,
};
use minikafka_testkit::cluster::{produce_all, wait_for_shares};
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    keyed_records_with_headers_round_trip,
    reader_starts_where_asked,
    consumer_misuse_is_refused_clearly;
    // The mock cluster finishes any rebalance after a leave only after the session timeout
    // minus 1 s (rdkafka_mock_cgrp.c), so it cannot show that a leave moves partitions
    // sooner than a session timeout would: that check needs our broker.
    ours_only: close_leaves_the_group_at_once,
);

/// Send `n` records keyed `user_<i % 5>`; returns (partition, offset) → value.
async fn produce(
    cluster: &Cluster,
    backend: Backend,
    topic: &str,
    prefix: &str,
    n: usize,
) -> BTreeMap<(i32, i64), String> {
    let records = (0..n).map(|i| {
        ProducerRecord::new(topic)
            .key(format!("user_{}", i % 5))
            .value(format!("{prefix}-{i}"))
    });
    produce_all(cluster, backend, records).await
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

/// recv before subscribe, an empty subscription, use after close and an unreachable
/// cluster each get a clear error.
async fn consumer_misuse_is_refused_clearly(backend: Backend, cluster: &mut Cluster) {
    let mut m = Consumer::new(cluster.member_config(backend, "misuse"))
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
        let mut c = cluster.member_config(backend, "leave-group");
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
