//! confluent-kafka (Python, librdkafka underneath) against minikafka: keyed JSON produced
//! with acks=all and murmur2, consumed by a group member with the round-robin assignor,
//! committed, and the committed offsets read back from the broker.

use std::collections::BTreeMap;
use std::time::Duration;

use minikafka_testkit::external::{python, run};
use minikafka_testkit::TestBroker;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_produces_consumes_in_a_group_and_commits() {
    let Some(python) = python() else {
        return;
    };
    let broker = TestBroker::builder()
        .config(|c| {
            c.group_initial_rebalance_delay = Duration::from_millis(0);
        })
        .start()
        .await
        .expect("broker starts");
    let script = minikafka_testkit::external::python_script("confluent_kafka_roundtrip.py");
    let count = 60;
    let out = run(Command::new(python).arg(script).args([
        &broker.bootstrap(),
        "ck-topic",
        "ck-group",
        &count.to_string(),
    ]))
    .await;

    let mut sent = BTreeMap::new();
    let mut got = BTreeMap::new();
    let mut per_partition: BTreeMap<String, i64> = BTreeMap::new();
    let mut committed = None;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("script prints JSON lines");
        if let Some(i) = v.get("sent") {
            let key = v["key"].as_str().expect("key");
            let partition = v["partition"].as_i64().expect("partition") as i32;
            assert_eq!(
                partition,
                minikafka_client::partitioner::partition_for_key(key.as_bytes(), 3),
                "murmur2_random placed {key} elsewhere than Java's partitioner would"
            );
            sent.insert(
                i.as_u64().expect("id"),
                (partition, v["offset"].as_i64().expect("offset")),
            );
            *per_partition.entry(partition.to_string()).or_default() += 1;
        } else if let Some(i) = v.get("got") {
            assert_eq!(v["value"]["id"], *i);
            let at = (
                v["partition"].as_i64().expect("partition") as i32,
                v["offset"].as_i64().expect("offset"),
            );
            assert!(
                got.insert(i.as_u64().expect("id"), at).is_none(),
                "{i} consumed twice"
            );
        } else {
            committed = Some(v["committed"].clone());
        }
    }
    assert_eq!(sent.len(), count);
    // Every message was consumed once, from where it was delivered.
    assert_eq!(sent, got);
    // The committed offset of each partition is the next offset to read: its message count.
    let committed = committed.expect("committed offsets printed");
    for (partition, n) in &per_partition {
        assert_eq!(
            committed[partition].as_i64(),
            Some(*n),
            "partition {partition}: {committed}"
        );
    }
    broker.stop().await;
}
