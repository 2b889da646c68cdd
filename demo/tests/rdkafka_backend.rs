//! The classroom binaries with `--backend rdkafka` (feature `rdkafka`), against a broker
//! started in this process: the producer's delivery lines, the consumer reading them back
//! with `--max-messages`, a librdkafka property passed through with `--config`, and a bad
//! one refused with librdkafka's own message. Then the same binaries against another
//! Kafka implementation, librdkafka's mock cluster, as they would run against a real one.

#![cfg(feature = "rdkafka")]

mod common;

use common::{assert_all_read_back, run, stdout_of_success};
use minikafka_client::partitioner::partition_for_key;
use minikafka_demo::DEMO_KEYS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_consumer_run_on_librdkafka() {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();

    let out = run(
        env!("CARGO_BIN_EXE_producer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "rd",
            "--count",
            "6",
            "--interval-ms",
            "0",
            "--config",
            "linger.ms=1",
            "--config",
            "queue.buffering.max.messages=1000",
        ],
    )
    .await;
    let stdout = stdout_of_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("reached broker 0 at {addr} (bootstrap {addr})")),
        "{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    // The demo keys in turn, each on its murmur2 partition (librdkafka with murmur2_random).
    for (i, line) in lines.iter().enumerate() {
        let user = DEMO_KEYS[i % 3];
        let partition = partition_for_key(user.as_bytes(), 3);
        assert!(line.starts_with(&format!("rd [{partition}] @ ")), "{line}");
        assert!(line.contains(&format!("key={user}")), "{line}");
    }

    let out = run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "rd",
            "--group",
            "rd-group",
            "--max-messages",
            "6",
            "--config",
            "fetch.wait.max.ms=50",
        ],
    )
    .await;
    let stdout = stdout_of_success(&out);
    assert!(stdout.contains("summary: 6 messages"), "{stdout}");
    assert_eq!(stdout.matches("\"action\"").count(), 6, "{stdout}");

    // librdkafka refuses an unknown property itself, and its message reaches the user.
    let out = run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--max-messages",
            "1",
            "--config",
            "no.such.property=1",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no.such.property"), "{stderr}");
    broker.stop().await;
}

/// "Works against any Kafka cluster": the same two commands against librdkafka's mock
/// cluster, an independent implementation of the protocol, with one group consuming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binaries_run_against_another_kafka_implementation() {
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    mock.create_topic("classroom", 3, 1).expect("topic");
    let addr = mock.bootstrap_servers();

    let out = run(
        env!("CARGO_BIN_EXE_producer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "classroom",
            "--count",
            "6",
            "--interval-ms",
            "0",
        ],
    )
    .await;
    let stdout = stdout_of_success(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        let user = DEMO_KEYS[i % 3];
        let partition = partition_for_key(user.as_bytes(), 3);
        assert!(
            line.starts_with(&format!("classroom [{partition}] @ ")),
            "{line}"
        );
        assert!(line.contains(&format!("key={user}")), "{line}");
    }

    let out = run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "classroom",
            "--group",
            "classroom-group",
            "--max-messages",
            "6",
        ],
    )
    .await;
    let stdout = stdout_of_success(&out);
    assert!(stdout.contains("summary: 6 messages"), "{stdout}");
    for user in DEMO_KEYS {
        let key = format!("key={user}");
        assert_eq!(stdout.matches(&key).count(), 2, "{key}: {stdout}");
    }
}

/// The native producer, pure Rust, against the same independent implementation: it
/// negotiates its API versions with a broker that is not ours, and the rdkafka consumer
/// reads back what it wrote, on murmur2's partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_producer_writes_to_another_kafka_implementation() {
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    mock.create_topic("native-made", 3, 1).expect("topic");
    let addr = mock.bootstrap_servers();

    let out = run(
        env!("CARGO_BIN_EXE_producer"),
        &[
            "--bootstrap-server",
            &addr,
            "--topic",
            "native-made",
            "--count",
            "6",
            "--interval-ms",
            "0",
        ],
    )
    .await;
    let stdout = stdout_of_success(&out);
    let produced: Vec<&str> = stdout.lines().collect();
    assert_eq!(produced.len(), 6, "{stdout}");
    for (i, line) in produced.iter().enumerate() {
        let partition = partition_for_key(DEMO_KEYS[i % 3].as_bytes(), 3);
        assert!(
            line.starts_with(&format!("native-made [{partition}] @ ")),
            "{line}"
        );
    }

    let out = run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "native-made",
            "--group",
            "reads-native",
            "--max-messages",
            "6",
        ],
    )
    .await;
    let consumed = stdout_of_success(&out);
    assert!(consumed.contains("summary: 6 messages"), "{consumed}");
    assert_all_read_back(&produced, &consumed);
}
