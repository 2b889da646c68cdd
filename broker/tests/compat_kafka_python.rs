//! kafka-python 3.x (the classroom's client) against minikafka: a producer with
//! acks=all and a partition-assigned consumer, JSON values, checked round trip.

use std::collections::BTreeMap;

use minikafka_testkit::external::{python, run};
use minikafka_testkit::TestBroker;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_round_trip() {
    let Some(python) = python() else {
        return;
    };
    let broker = TestBroker::start().await.expect("broker starts");
    let script = minikafka_testkit::external::python_script("kafka_python_roundtrip.py");
    let count = 50;
    let out = run(Command::new(python).arg(script).args([
        &broker.bootstrap(),
        "py-topic",
        &count.to_string(),
    ]))
    .await;

    let mut sent = BTreeMap::new();
    let mut got = BTreeMap::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("script prints JSON lines");
        if let Some(i) = v.get("sent") {
            let key = v["key"].as_str().expect("key").to_owned();
            let partition = v["partition"].as_i64().expect("partition") as i32;
            // kafka-python partitions with murmur2, as Java does.
            assert_eq!(
                partition,
                minikafka_client::partitioner::partition_for_key(key.as_bytes(), 3)
            );
            sent.insert(
                i.as_u64().expect("id"),
                (partition, v["offset"].as_i64().expect("offset")),
            );
        } else if let Some(i) = v.get("got") {
            assert_eq!(v["value"]["id"], *i);
            assert_eq!(v["value"]["user"], v["key"]);
            let at = (
                v["partition"].as_i64().expect("partition") as i32,
                v["offset"].as_i64().expect("offset"),
            );
            got.insert(i.as_u64().expect("id"), at);
        } else {
            assert_eq!(v["done"], count);
        }
    }
    assert_eq!(sent.len(), count);
    // Every message came back, from the partition and offset it was delivered to.
    assert_eq!(sent, got);
    broker.stop().await;
}
