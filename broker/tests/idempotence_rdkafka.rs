//! librdkafka's idempotent producer (`enable.idempotence=true`, the rdkafka crate's
//! bundled 2.12) against minikafka, with retries forced: a proxy between them loses
//! the broker's answer to some Produce requests after the broker appended them and
//! drops the connection, so librdkafka sends those batches again. Every message must
//! be stored exactly once, in the order it was produced.
//!
//! Built only with `--features rdkafka`.
#![cfg(feature = "rdkafka")]

use std::time::Duration;

use minikafka_testkit::proxy::{DropPlan, ProxyListener};
use minikafka_testkit::wire::{decode_records, Client};
use minikafka_testkit::TestBroker;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

const MESSAGES: usize = 300;
const PARTITIONS: i32 = 3;

/// Every (offset, value) of one partition.
async fn partition_values(c: &mut Client, topic: &str, partition: i32) -> Vec<(i64, String)> {
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
                out.push((offset, value));
                next = offset + 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_produce_responses_are_retried_and_stored_once_in_order() {
    let listener = ProxyListener::bind().await;
    let port = listener.addr().port();
    let broker = TestBroker::builder()
        .partitions(PARTITIONS)
        .config(move |c| {
            for l in &mut c.listeners {
                l.advertised_host = Some("127.0.0.1".into());
                l.advertised_port = Some(port);
            }
        })
        .start()
        .await
        .unwrap();
    // Lose the answer to every 4th Produce request, 6 times.
    let proxy = listener.start(broker.addr(), DropPlan::produce(4, 6));
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("exactly-once", PARTITIONS).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", proxy.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("linger.ms", "5")
        .set("batch.num.messages", "7")
        .set("retry.backoff.ms", "50")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("an idempotent producer");
    let mut pending = Vec::new();
    for i in 0..MESSAGES {
        let key = format!("k{}", i % 11);
        let value = i.to_string();
        let record = FutureRecord::to("exactly-once").key(&key).payload(&value);
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for (i, delivery) in pending.into_iter().enumerate() {
        let outcome = delivery.await.expect("not cancelled");
        assert!(outcome.is_ok(), "message {i}: {outcome:?}");
    }
    assert!(
        proxy.dropped() > 0,
        "the proxy lost no response, so nothing was retried"
    );

    let mut all = Vec::new();
    for p in 0..PARTITIONS {
        let values: Vec<usize> = partition_values(&mut c, "exactly-once", p)
            .await
            .into_iter()
            .map(|(_, v)| v.parse().expect("a number"))
            .collect();
        // One key always goes to one partition, and the producer keeps each
        // partition's order across its retries.
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "partition {p} is out of order or holds a duplicate: {values:?}"
        );
        all.extend(values);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..MESSAGES).collect::<Vec<_>>(),
        "each message exactly once"
    );
    drop(producer);
    broker.stop().await;
}
