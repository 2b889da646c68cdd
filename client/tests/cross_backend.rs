//! Cross-backend checks against our broker (feature `rdkafka`): records produced with one
//! backend are read by the other byte for byte; a key lands on the same partition with
//! either; a group with one native and one librdkafka member shares the partitions.

#![cfg(feature = "rdkafka")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use minikafka_client::{
    Admin, Backend, Consumer, ConsumerEvent, Offset, Producer, ProducerRecord, TopicPartition,
};
use minikafka_testkit::cluster::{close_members, read_n};
use minikafka_testkit::{
    client_config, member_config, producer_config, within, Cluster, TestBroker,
};

const BOTH: [(Backend, Backend); 2] = [
    (Backend::Native, Backend::Rdkafka),
    (Backend::Rdkafka, Backend::Native),
];

/// Awkward bytes: empty, binary, a large value, a null value, and headers with a null.
fn records(topic: &str) -> Vec<ProducerRecord> {
    let mut out = vec![
        ProducerRecord::new(topic).key("k").value(Vec::<u8>::new()),
        ProducerRecord::new(topic)
            .key(vec![0u8, 255, 10])
            .value((0..=255u8).collect::<Vec<_>>())
            .header("h1", vec![1u8, 2, 3])
            .header("empty", Vec::<u8>::new()),
        ProducerRecord::new(topic).value(vec![b'x'; 100_000]),
        ProducerRecord::new(topic).key("tombstone"),
    ];
    let mut with_null_header = ProducerRecord::new(topic).key("n").value("v");
    with_null_header.headers.push(minikafka_client::Header {
        key: "null".into(),
        value: None,
    });
    out.push(with_null_header.timestamp(1_700_000_000_123));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_by_one_backend_read_by_the_other_byte_for_byte() {
    let cluster = Cluster::ours().await;
    for (i, (writer, reader)) in BOTH.into_iter().enumerate() {
        let topic = format!("cross-{i}");
        let producer = Producer::new(cluster.producer_config(writer))
            .await
            .expect("producer");
        let sent = records(&topic);
        for r in &sent {
            let r = r.clone().partition(0);
            within("send", producer.send(r)).await.expect("sent");
        }
        producer.close().await;
        let read = read_n(&cluster, reader, &topic, 0, Offset::Earliest, sent.len()).await;
        for (s, r) in sent.iter().zip(&read) {
            assert_eq!(r.key, s.key, "{writer} -> {reader}");
            assert_eq!(r.value, s.value, "{writer} -> {reader}");
            assert_eq!(r.headers, s.headers, "{writer} -> {reader}");
            if let Some(ts) = s.timestamp {
                assert_eq!(r.timestamp, ts);
            }
        }
    }
    cluster.shut_down().await;
}

/// Our broker (1 partition per auto-created topic) with `topic` created.
async fn broker_with_topic(topic: &str, partitions: i32) -> TestBroker {
    let broker = TestBroker::builder()
        .partitions(1)
        .start()
        .await
        .expect("broker starts");
    Admin::new(client_config(&broker.bootstrap(), Backend::Native))
        .await
        .expect("admin")
        .create_topic(topic, partitions)
        .await
        .expect("create");
    broker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lands_on_the_same_partition_with_either_backend() {
    let broker = broker_with_topic("keys", 7).await;
    let mut placed: Vec<Vec<i32>> = Vec::new();
    for backend in [Backend::Native, Backend::Rdkafka] {
        let producer = Producer::new(producer_config(&broker.bootstrap(), backend))
            .await
            .expect("producer");
        let mut partitions = Vec::new();
        for i in 0..200 {
            let key: Vec<u8> = format!("user-{i}").into_bytes();
            let meta = within(
                "send",
                producer.send(ProducerRecord::new("keys").key(key).value("x")),
            )
            .await
            .expect("sent");
            partitions.push(meta.partition);
        }
        // The empty key is hashed too (murmur2_random hashes it; only a null key is random).
        let meta = producer
            .send(ProducerRecord::new("keys").key(Bytes::new()).value("x"))
            .await
            .expect("sent");
        partitions.push(meta.partition);
        producer.close().await;
        placed.push(partitions);
    }
    assert_eq!(placed[0], placed[1], "native and rdkafka agree");
    let distinct: BTreeSet<_> = placed[0].iter().collect();
    assert!(distinct.len() > 1, "keys spread over the partitions");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_a_member_of_each_backend_shares_the_partitions() {
    let broker = broker_with_topic("mixed", 4).await;
    let mut native = Consumer::new(member_config(&broker.bootstrap(), Backend::Native, "mixed"))
        .await
        .expect("native member");
    let mut rd = Consumer::new(member_config(
        &broker.bootstrap(),
        Backend::Rdkafka,
        "mixed",
    ))
    .await
    .expect("rdkafka member");
    native.subscribe(&["mixed"]).await.expect("subscribe");
    rd.subscribe(&["mixed"]).await.expect("subscribe");
    within("both members own partitions", async {
        loop {
            for c in [&mut native, &mut rd] {
                let _ = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
            }
            let (a, b) = (native.assignment(), rd.assignment());
            if a.len() == 2 && b.len() == 2 {
                let all: BTreeSet<TopicPartition> = a.into_iter().chain(b).collect();
                assert_eq!(all.len(), 4, "disjoint shares cover the topic");
                return;
            }
        }
    })
    .await;

    let producer = Producer::new(producer_config(&broker.bootstrap(), Backend::Native))
        .await
        .expect("producer");
    for i in 0..40 {
        producer
            .send(
                ProducerRecord::new("mixed")
                    .partition(i % 4)
                    .value(i.to_string()),
            )
            .await
            .expect("sent");
    }
    producer.close().await;
    let mut seen: BTreeMap<(i32, i64), Backend> = BTreeMap::new();
    within("every record once across the two members", async {
        while seen.len() < 40 {
            for (backend, c) in [(Backend::Native, &mut native), (Backend::Rdkafka, &mut rd)] {
                if let Ok(event) = tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
                    if let ConsumerEvent::Record(r) = event.expect("recv") {
                        let owned = c.assignment();
                        assert!(owned.contains(&TopicPartition::new("mixed", r.partition)));
                        let before = seen.insert((r.partition, r.offset), backend);
                        assert!(before.is_none(), "{}@{} twice", r.partition, r.offset);
                    }
                }
            }
        }
    })
    .await;
    assert!(seen.values().any(|b| *b == Backend::Native));
    assert!(seen.values().any(|b| *b == Backend::Rdkafka));
    close_members(vec![("native", &mut native), ("rdkafka", &mut rd)]).await;
    broker.stop().await;
}
