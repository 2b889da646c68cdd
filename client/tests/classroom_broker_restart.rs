//! Classroom experiment 3, second half: stop the consumer, restart the broker, produce
//! more, restart the consumer in the same group: it receives exactly the new records.
//! On our broker that holds because the group's commits live in `__consumer_offsets` on
//! disk and are replayed at start-up; on librdkafka's mock cluster (its broker taken down
//! and up, its state kept in memory) it checks that the clients get through the outage.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{within, Cluster};
use minikafka_client::{
    Backend, Consumer, ConsumerConfig, ConsumerEvent, Producer, ProducerRecord,
};

backend_tests!(a_restarted_consumer_after_a_broker_restart_gets_only_new_records);

fn config(cluster: &Cluster, backend: Backend) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(&cluster.bootstrap(), "restart-group");
    c.client.backend = backend;
    c.session_timeout = Duration::from_secs(6);
    c.heartbeat_interval = Duration::from_millis(300);
    c.auto_commit_interval = Duration::from_millis(200);
    c.fetch_max_wait = Duration::from_millis(100);
    c
}

async fn produce(
    cluster: &Cluster,
    backend: Backend,
    prefix: &str,
) -> BTreeMap<(i32, i64), String> {
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    let mut out = BTreeMap::new();
    for i in 0..12 {
        let v = format!("{prefix}-{i}");
        let m = within(
            "send",
            producer.send(
                ProducerRecord::new("diary")
                    .key(format!("user_{i}"))
                    .value(v.clone()),
            ),
        )
        .await
        .expect("sent");
        out.insert((m.partition, m.offset), v);
    }
    producer.close().await;
    out
}

async fn consume(consumer: &mut Consumer, n: usize) -> BTreeMap<(i32, i64), String> {
    let mut got = BTreeMap::new();
    within("records", async {
        while got.len() < n {
            if let ConsumerEvent::Record(r) = consumer.recv().await.expect("recv") {
                let v =
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
                assert!(got.insert((r.partition, r.offset), v).is_none(), "repeat");
            }
        }
    })
    .await;
    got
}

async fn a_restarted_consumer_after_a_broker_restart_gets_only_new_records(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "diary", 3).await;
    let before = produce(cluster, backend, "before").await;
    let mut consumer = Consumer::new(config(cluster, backend))
        .await
        .expect("consumer");
    consumer.subscribe(&["diary"]).await.expect("subscribe");
    assert_eq!(consume(&mut consumer, before.len()).await, before);
    within("close", consumer.close())
        .await
        .expect("close commits");

    cluster.stop().await;
    cluster.start_again().await;
    let after = produce(cluster, backend, "after").await;
    let mut consumer = Consumer::new(config(cluster, backend))
        .await
        .expect("consumer");
    consumer.subscribe(&["diary"]).await.expect("subscribe");
    assert_eq!(
        consume(&mut consumer, after.len()).await,
        after,
        "exactly the new records"
    );
    let extra = tokio::time::timeout(Duration::from_millis(500), consume(&mut consumer, 1)).await;
    assert!(extra.is_err(), "nothing old came back: {extra:?}");
    within("close", consumer.close()).await.expect("close");
}
