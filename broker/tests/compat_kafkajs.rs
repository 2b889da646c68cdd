//! kafkajs 2 (Node.js) against minikafka, a client no other test covers: its admin
//! client creates the topic and reads the cluster, its producer sends the classroom's
//! keyed JSON with acks=all, its consumer reads them in a group and commits, and the
//! admin client then describes the group, lists it and fetches its committed offsets.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use minikafka_testkit::external::{kafkajs, node_script, run};
use minikafka_testkit::TestBroker;
use serde_json::Value;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_classroom_round_trip() {
    let Some((node, modules)) = kafkajs() else {
        return;
    };
    let broker = TestBroker::start().await.unwrap();
    let count = 12;
    let out = run(Command::new(node)
        .env("NODE_PATH", &modules)
        .arg(node_script("kafkajs_classroom.js"))
        .args([
            &broker.bootstrap(),
            "kjs-topic",
            "kjs-group",
            &count.to_string(),
        ]))
    .await;

    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let find = |field: &str| {
        lines
            .iter()
            .find_map(|v| v.get(field).cloned())
            .unwrap_or_else(|| panic!("no {field} line in:\n{out}"))
    };
    assert_eq!(find("created"), true);
    assert_eq!(find("partitions"), 3);
    let (mut sent, mut got) = (BTreeMap::new(), BTreeMap::new());
    for v in &lines {
        if let Some(id) = v.get("sent") {
            let key = v["key"].as_str().unwrap();
            let partition = i32::try_from(v["partition"].as_i64().unwrap()).unwrap();
            // kafkajs 2's default partitioner is Java's murmur2, as ours is.
            assert_eq!(
                partition,
                minikafka_client::partitioner::partition_for_key(key.as_bytes(), 3),
                "{key}"
            );
            sent.insert(
                id.as_u64().unwrap(),
                (partition, v["offset"].as_i64().unwrap()),
            );
        } else if let Some(id) = v.get("got") {
            assert_eq!(v["value"]["id"], *id);
            assert_eq!(v["value"]["user"], v["key"]);
            let at = (
                i32::try_from(v["partition"].as_i64().unwrap()).unwrap(),
                v["offset"].as_i64().unwrap(),
            );
            assert!(got.insert(id.as_u64().unwrap(), at).is_none(), "{id} twice");
        }
    }
    assert_eq!(sent.len(), count);
    // Every message came back once, from where it was delivered.
    assert_eq!(got, sent);

    let described = find("described");
    assert_eq!(described["state"], "Stable");
    assert_eq!(described["members"], 1);
    assert!(find("groups")
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "kjs-group"));
    // The commits are the end of each partition: the next offset to read.
    let mut ends: BTreeMap<i64, i64> = BTreeMap::new();
    for (partition, offset) in sent.values() {
        let end = ends.entry(i64::from(*partition)).or_default();
        *end = (*end).max(offset + 1);
    }
    let committed: BTreeMap<i64, i64> = find("committed")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap()))
        .collect();
    assert_eq!(committed, ends);
    assert_eq!(find("done"), count);
    broker.stop().await;
}
