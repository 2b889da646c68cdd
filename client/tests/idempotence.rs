//! The idempotent producer (`enable.idempotence`, on by default as in Kafka) on both
//! backends against our broker: lost answers are retried and stored once, in order; a
//! batch that fails for good costs only its own records (the producer bumps its epoch
//! and goes on); and the settings Kafka refuses with it are refused.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use minikafka_client::{Backend, Error, KafkaCode, Producer, ProducerConfig, ProducerRecord};
use minikafka_testkit::proxy::{DropPlan, ProxyListener};
use minikafka_testkit::wire::{decode_records, Client};
use minikafka_testkit::{producer_config, within, TestBroker};

/// Every value of one partition, in offset order.
async fn partition_values(c: &mut Client, topic: &str, partition: i32) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let p = c.fetch(topic, partition, next, 0, 0).await;
        assert_eq!(p.error_code, 0);
        let records = decode_records(p.records.unwrap_or_default());
        if records.is_empty() {
            return out;
        }
        for (offset, _, value) in records {
            if offset >= next {
                out.push(value);
                next = offset + 1;
            }
        }
    }
}

/// 200 keyed records through a proxy that loses the answer to every third Produce
/// request (8 times): each is stored once, and each key's records in order.
async fn lost_answers_are_retried_and_stored_once_in_order(backend: Backend) {
    let listener = ProxyListener::bind().await;
    let port = listener.addr().port();
    let broker = TestBroker::builder()
        .config(move |c| {
            for l in &mut c.listeners {
                l.advertised_host = Some("127.0.0.1".into());
                l.advertised_port = Some(port);
            }
        })
        .start()
        .await
        .unwrap();
    let proxy = listener.start(broker.addr(), DropPlan::produce(3, 8));
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("once", 2).await;

    let mut config = producer_config(&proxy.bootstrap(), backend);
    config.set("linger.ms", "2").unwrap();
    config.set("batch.size", "200").unwrap();
    // Each lost answer costs a reconnection, whose backoff grows: leave time for 8.
    config.set("retries", "1000").unwrap();
    assert!(config.idempotent().unwrap(), "on by default, as in Kafka");
    let producer = Producer::new(config).await.unwrap();
    let mut pending = Vec::new();
    for i in 0..200 {
        let record = ProducerRecord::new("once")
            .key(format!("k{}", i % 7))
            .value(format!("{}:{i}", i % 7));
        pending.push(within("enqueue", producer.enqueue(record)).await.unwrap());
    }
    for (i, d) in pending.into_iter().enumerate() {
        within("delivery", d)
            .await
            .unwrap_or_else(|e| panic!("record {i}: {e}"));
    }
    producer.close().await;
    assert!(
        proxy.dropped() > 0,
        "no answer was lost, so nothing was retried"
    );

    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut total = 0;
    for p in 0..2 {
        for v in partition_values(&mut c, "once", p).await {
            let (key, i) = v.split_once(':').unwrap();
            per_key
                .entry(key.into())
                .or_default()
                .push(i.parse().unwrap());
            total += 1;
        }
    }
    assert_eq!(total, 200, "each record exactly once");
    for (key, seen) in per_key {
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "key {key} out of order: {seen:?}"
        );
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_lost_answers_are_retried_and_stored_once_in_order() {
    lost_answers_are_retried_and_stored_once_in_order(Backend::Native).await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_lost_answers_are_retried_and_stored_once_in_order() {
    lost_answers_are_retried_and_stored_once_in_order(Backend::Rdkafka).await;
}

/// A record too large for the topic fails alone; the records before and after it are
/// stored once, in order (the native producer bumps its epoch and numbers the later
/// batches again).
#[tokio::test]
async fn a_batch_refused_for_good_fails_alone_and_the_rest_goes_on() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    assert_eq!(
        c.create_topic_with("strict", 1, &[("max.message.bytes", "1000")])
            .await,
        0
    );
    let mut config = producer_config(&broker.bootstrap(), Backend::Native);
    config.set("linger.ms", "0").unwrap();
    config.set("batch.size", "100").unwrap();
    config.set("enable.idempotence", "true").unwrap();
    let producer = Producer::new(config).await.unwrap();
    let mut pending = Vec::new();
    for i in 0..30 {
        let value = if i == 10 {
            "x".repeat(3000)
        } else {
            format!("v{i}")
        };
        let record = ProducerRecord::new("strict").partition(0).value(value);
        pending.push((
            i,
            within("enqueue", producer.enqueue(record)).await.unwrap(),
        ));
    }
    for (i, d) in pending {
        let outcome = within("delivery", d).await;
        if i == 10 {
            assert!(
                matches!(
                    &outcome,
                    Err(Error::Kafka {
                        code: KafkaCode::MessageTooLarge,
                        ..
                    })
                ),
                "{outcome:?}"
            );
        } else {
            outcome.unwrap_or_else(|e| panic!("record {i}: {e}"));
        }
    }
    // And the producer goes on after it.
    let later = producer
        .send(ProducerRecord::new("strict").partition(0).value("v30"))
        .await;
    later.unwrap();
    producer.close().await;
    let expected: Vec<String> = (0..31)
        .filter(|&i| i != 10)
        .map(|i| format!("v{i}"))
        .collect();
    assert_eq!(partition_values(&mut c, "strict", 0).await, expected);
    broker.stop().await;
}

#[test]
fn idempotence_with_acks_1_or_many_requests_in_flight_is_refused_as_in_kafka() {
    let mut c = ProducerConfig::new("127.0.0.1:9092");
    c.set("acks", "1").unwrap();
    assert!(
        !c.idempotent().unwrap(),
        "off by default when acks is not all"
    );
    c.set("enable.idempotence", "true").unwrap();
    let e = c.idempotent().unwrap_err();
    assert!(e.to_string().contains("enable.idempotence"), "{e}");
    let mut c = ProducerConfig::new("127.0.0.1:9092");
    c.set("max.in.flight.requests.per.connection", "6").unwrap();
    assert!(!c.idempotent().unwrap());
    c.set("enable.idempotence", "false").unwrap();
    assert!(!c.idempotent().unwrap());
}
