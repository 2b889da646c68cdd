//! Runs the classroom producer binary against a broker started in this process, and checks
//! what it prints: the broker it reached (stderr), then one
//! `topic [partition] @ offset  key=…  value=…` line per message, with the partition
//! murmur2 gives the key; and that its default keys reach all three partitions.

use std::collections::BTreeMap;

use minikafka_client::partitioner::partition_for_key;
use minikafka_demo::DEMO_KEYS;

mod common;

async fn run_producer(args: &[&str]) -> std::process::Output {
    common::run(env!("CARGO_BIN_EXE_producer"), args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_one_delivery_line_per_message_on_the_key_partition() {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();

    let out = run_producer(&[
        "--bootstrap-server",
        &addr,
        "--topic",
        "classroom",
        "--count",
        "7",
        "--interval-ms",
        "0",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{stdout}");
    let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for (id, line) in lines.iter().enumerate() {
        // classroom [0] @ 3  key=student_3  value={...}
        let (head, value) = line.split_once("  value=").expect("value part");
        let (placement, key) = head.split_once("  key=").expect("key part");
        let rest = placement.strip_prefix("classroom [").expect("topic first");
        let (partition, offset) = rest.split_once("] @ ").expect("partition and offset");
        let partition: i32 = partition.parse().unwrap();
        let offset: i64 = offset.parse().unwrap();

        assert_eq!(key, DEMO_KEYS[id % 3], "keys repeat: {line}");
        assert_eq!(partition, partition_for_key(key.as_bytes(), 3), "{line}");
        let expected = next_offset.entry(partition).or_insert(0);
        assert_eq!(
            offset, *expected,
            "offsets grow by one per partition: {line}"
        );
        *expected += 1;

        let json: serde_json::Value = serde_json::from_str(value).expect("value is JSON");
        assert_eq!(json["id"], id as u64);
        assert_eq!(json["user"], key);
        assert!(json["action"].is_string(), "{line}");
        assert!(json["timestamp"].as_i64().is_some_and(|t| t > 0), "{line}");
    }
    // The broker it reached, from the metadata: minikafka is node 0 (server.rs), advertised
    // at the address it listens on.
    assert!(
        stderr.contains(&format!("reached broker 0 at {addr} (bootstrap {addr})")),
        "{stderr}"
    );
    broker.stop().await;
}

/// The load-balancing experiment needs a message on every partition of the default
/// 3-partition topic: the demo's default keys must hash to all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_keys_reach_every_partition_of_a_default_topic() {
    // The broker's own default partition count, as `cargo run -p minikafka-broker` has it.
    let partitions = minikafka_broker::Config::default().num_partitions;
    let broker = minikafka_testkit::TestBroker::builder()
        .partitions(partitions)
        .start()
        .await
        .expect("broker starts");
    let addr = broker.addr().to_string();
    let count = DEMO_KEYS.len().to_string();
    let out = run_producer(&[
        "--bootstrap-server",
        &addr,
        "--count",
        &count,
        "--interval-ms",
        "0",
    ])
    .await;
    let stdout = common::stdout_of_success(&out);
    let reached: BTreeMap<i32, &str> = stdout
        .lines()
        .map(|line| {
            let rest = line
                .strip_prefix("demo-topic [")
                .expect("the default topic");
            let (partition, rest) = rest.split_once(']').expect("partition");
            let key = rest.split_once("key=").expect("key").1;
            let key = key.split_once("  ").expect("value").0;
            (partition.parse().expect("a number"), key)
        })
        .collect();
    assert_eq!(
        reached.keys().copied().collect::<Vec<_>>(),
        (0..partitions).collect::<Vec<_>>(),
        "each partition gets a key: {stdout}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn exits_non_zero_with_a_clear_message_without_a_broker() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let out = run_producer(&[
        "--bootstrap-server",
        &addr,
        "--count",
        "1",
        "--interval-ms",
        "0",
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to {addr}: is the broker running?")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn rejects_config_keys_the_native_backend_does_not_know() {
    let out = run_producer(&["--config", "socket.keepalive.enable=true", "--count", "0"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("socket.keepalive.enable") && stderr.contains("--backend rdkafka"),
        "{stderr}"
    );
}
