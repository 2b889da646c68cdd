//! Python clients run a consume-transform-produce loop with transactions against
//! minikafka: one transaction aborted on purpose and redone, the others committed with
//! the consumer's offsets (`send_offsets_to_transaction`). A read_committed reader sees
//! each input exactly once in the output, a read_uncommitted one the aborted records
//! too, and the group's committed offset is the end of the input.
//! - confluent-kafka (librdkafka underneath), with an assigned consumer;
//! - kafka-python, with a subscribed consumer, so the group has a live member while the
//!   producer commits its offsets, half the time by the bare group id (TxnOffsetCommit
//!   without member id or generation, as aiokafka sends) and half with the consumer's
//!   group metadata (KIP-447).

use std::collections::HashMap;

use minikafka_testkit::external::{python, python_script, run};
use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;
use tokio::process::Command;

/// Runs `script` (see `broker/tests/python/`) over fresh topics and checks what it
/// printed: each input once under read_committed, the aborted records too under
/// read_uncommitted, and the group's offset at the end of the input. Returns every
/// JSON line's value by key.
async fn consume_transform_produce(
    script: &str,
    prefix: &str,
) -> Option<HashMap<String, serde_json::Value>> {
    let python = python()?;
    let broker = TestBroker::start().await.expect("broker starts");
    let mut c = Client::connect(broker.addr()).await;
    let (src, dst, group) = (
        format!("{prefix}-in"),
        format!("{prefix}-out"),
        format!("{prefix}-group"),
    );
    c.create_topic(&src, 1).await;
    c.create_topic(&dst, 1).await;
    let n = 23;
    let out = run(Command::new(python).arg(python_script(script)).args([
        &broker.bootstrap(),
        &src,
        &dst,
        &group,
        &n.to_string(),
    ]))
    .await;
    let mut printed = HashMap::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
        for (key, value) in v.as_object().expect("one object per line") {
            printed.insert(key.clone(), value.clone());
        }
    }
    let expected: Vec<u64> = (0..n).map(|i| i * 10).collect();
    let committed: Vec<u64> =
        serde_json::from_value(printed["committed_values"].clone()).expect("numbers");
    assert_eq!(
        committed, expected,
        "{script}: each input once, in order, nothing aborted"
    );
    assert!(
        printed["uncommitted_count"]
            .as_u64()
            .expect("count printed")
            > n,
        "{script}: read_uncommitted also sees the aborted records"
    );
    assert_eq!(
        printed["group_offset"].as_i64(),
        Some(n as i64),
        "{script}: the offsets committed with the transactions"
    );
    broker.stop().await;
    Some(printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_consume_transform_produce_is_exactly_once() {
    consume_transform_produce("confluent_kafka_transactions.py", "ctp").await;
}

/// Kafka takes a transactional offset commit without member id or generation while the
/// group has members (`GroupCoordinator.validateOffsetCommit`, `isTransactional`);
/// a plain OffsetCommit without them would get UNKNOWN_MEMBER_ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_consume_transform_produce_with_a_live_group_is_exactly_once() {
    let Some(printed) = consume_transform_produce("kafka_python_transactions.py", "kp").await
    else {
        return;
    };
    for key in ["bare_group_id_commits", "metadata_commits"] {
        assert!(
            printed[key].as_u64().expect("count printed") > 0,
            "both kinds of TxnOffsetCommit were sent: {printed:?}"
        );
    }
}
