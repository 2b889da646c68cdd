//! confluent-kafka (Python, librdkafka underneath) runs a consume-transform-produce
//! loop with transactions against minikafka: one transaction aborted on purpose and
//! redone, the others committed with the consumer's offsets
//! (`send_offsets_to_transaction`). A read_committed reader sees each input exactly
//! once in the output, a read_uncommitted one the aborted records too, and the group's
//! committed offset is the end of the input.

use minikafka_testkit::external::{python, python_script, run};
use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_consume_transform_produce_is_exactly_once() {
    let Some(python) = python() else {
        return;
    };
    let broker = TestBroker::start().await.expect("broker starts");
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("ctp-in", 1).await;
    c.create_topic("ctp-out", 1).await;
    let n = 23;
    let out = run(Command::new(python)
        .arg(python_script("confluent_kafka_transactions.py"))
        .args([
            &broker.bootstrap(),
            "ctp-in",
            "ctp-out",
            "ctp-group",
            &n.to_string(),
        ]))
    .await;
    let mut committed = None;
    let mut uncommitted = None;
    let mut group_offset = None;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
        if let Some(values) = v.get("committed_values") {
            committed = Some(values.clone());
        } else if let Some(count) = v.get("uncommitted_count") {
            uncommitted = count.as_u64();
        } else if let Some(offset) = v.get("group_offset") {
            group_offset = offset.as_i64();
        }
    }
    let expected: Vec<u64> = (0..n).map(|i| i * 10).collect();
    let committed: Vec<u64> =
        serde_json::from_value(committed.expect("committed values printed")).expect("numbers");
    assert_eq!(
        committed, expected,
        "each input once, in order, nothing aborted"
    );
    assert!(
        uncommitted.expect("count printed") > n,
        "read_uncommitted also sees the aborted records"
    );
    assert_eq!(
        group_offset,
        Some(n as i64),
        "the offsets committed with the transactions"
    );
    broker.stop().await;
}
