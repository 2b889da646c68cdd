//! librdkafka (the rdkafka crate's bundled 2.12) against minikafka.
//!
//! Built only with `--features rdkafka`, so a plain `cargo test --workspace` stays pure
//! Rust. 10,000 keyed messages go out with `partitioner=murmur2_random`, every
//! partition is read back and compared byte for byte, and each key is checked to land
//! where our own producer (murmur2, as Java) puts it.
#![cfg(feature = "rdkafka")]

use std::collections::BTreeMap;
use std::time::Duration;

use minikafka_testkit::TestBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("rdkafka producer")
}

fn reader(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("rdkafka consumer")
}

type Stored = (Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_produces_10000_keyed_and_reads_back_byte_for_byte() {
    let broker = TestBroker::start().await.expect("broker starts");
    let bootstrap = broker.bootstrap();
    let producer = producer(&bootstrap);
    let topic = "rdk-topic";
    let count = 10_000;

    // Produce, remembering where librdkafka says each message landed.
    let mut sent: BTreeMap<(i32, i64), Stored> = BTreeMap::new();
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("key-{}", i % 97).into_bytes();
        let value: Vec<u8> = format!("value {i} ")
            .bytes()
            .chain((0..(i % 50) as u8).map(|b| b ^ 0xA5))
            .collect();
        let headers = vec![("n".to_owned(), i.to_string().into_bytes())];
        let record =
            FutureRecord::to(topic)
                .key(&key)
                .payload(&value)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "n",
                    value: Some(&headers[0].1),
                }));
        let delivery = producer.send_result(record).expect("queue has room");
        pending.push((delivery, (key, value, headers)));
    }
    for (delivery, stored) in pending {
        let rdkafka::producer::future_producer::Delivery {
            partition, offset, ..
        } = delivery
            .await
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
        assert_eq!(
            partition,
            minikafka_client::partitioner::partition_for_key(&stored.0, 3),
            "librdkafka's murmur2_random and our murmur2 disagree"
        );
        sent.insert((partition, offset), stored);
    }
    assert_eq!(sent.len(), count);

    // Read every partition from the beginning and compare.
    let consumer = reader(&bootstrap);
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut got: BTreeMap<(i32, i64), Stored> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while got.len() < count && std::time::Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.expect("fetch without error");
        let headers = msg
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        let stored = (
            msg.key().unwrap_or_default().to_vec(),
            msg.payload().unwrap_or_default().to_vec(),
            headers,
        );
        assert!(
            got.insert((msg.partition(), msg.offset()), stored)
                .is_none(),
            "duplicate"
        );
    }
    assert_eq!(got.len(), count, "read back fewer messages than were sent");
    assert!(got == sent, "messages read back differ from those sent");
    broker.stop().await;
}

/// The same key lands on the same partition whether our native producer or librdkafka
/// (with `partitioner=murmur2_random`) sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lands_on_the_same_partition_with_native_and_rdkafka() {
    let broker = TestBroker::builder()
        .partitions(7)
        .start()
        .await
        .expect("broker starts");
    let bootstrap = broker.bootstrap();
    let native = minikafka_client::Producer::new(minikafka_client::ProducerConfig::new(&bootstrap))
        .await
        .expect("native producer");
    let rdk = producer(&bootstrap);
    let keys: Vec<String> = (0..200)
        .map(|i| format!("customer-{i}"))
        .chain(["".to_owned(), "é".to_owned()])
        .collect();
    for key in &keys {
        let ours = native
            .send(
                minikafka_client::ProducerRecord::new("placement")
                    .key(key.clone().into_bytes())
                    .value(&b"native"[..]),
            )
            .await
            .expect("native send");
        let theirs = rdk
            .send(
                FutureRecord::to("placement")
                    .key(key.as_bytes())
                    .payload("rdkafka"),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("rdkafka send: {e}"));
        assert_eq!(ours.partition, theirs.partition, "key {key:?}");
    }
    native.close().await;
    broker.stop().await;
}
