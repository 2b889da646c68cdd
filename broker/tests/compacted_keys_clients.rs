//! Key-less records produced to a compacted topic by real clients: what each one's
//! delivery report says when the broker refuses them with INVALID_RECORD and KIP-467's
//! `record_errors` (the wire-level answer is checked in `compacted_keys.rs`).
//!
//! - librdkafka (the rdkafka crate, with `--features rdkafka`) and confluent-kafka:
//!   the key-less message's delivery report carries INVALID_RECORD; a keyed message
//!   alone is delivered. In a batch refused for two or more records, librdkafka reads
//!   `record_errors` to tell them apart: INVALID_RECORD for the records named there,
//!   `_INVALID_DIFFERENT_RECORD` for the rest. For a single record error it gives every
//!   message of the batch the partition's INVALID_RECORD (`rd_kafka_dr_msgq0` forces
//!   the partition error onto all when `record_errors` has fewer than two entries).
//! - kafka-python: the send fails with `InvalidRecordError` and Kafka's per-record
//!   message, which it takes from `record_errors`.

use minikafka_testkit::external::{python, python_script, run};
use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;
use tokio::process::Command;

/// One delivery report of the Python script: client, key, error name, offset.
type Report = (String, Option<String>, Option<String>, Option<i64>);

/// Creates `topic` with one partition and `cleanup.policy=compact`.
async fn create_compacted(broker: &TestBroker, topic: &str) {
    let mut client = Client::connect(broker.addr()).await;
    let code = client
        .create_topic_with(topic, 1, &[("cleanup.policy", "compact")])
        .await;
    assert_eq!(code, 0, "create {topic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_see_invalid_record_for_keyless_messages() {
    let Some(python) = python() else {
        return;
    };
    let broker = TestBroker::start().await.expect("broker starts");
    let topic = "py-compacted";
    create_compacted(&broker, topic).await;
    let out = run(Command::new(python)
        .arg(python_script("compacted_keys.py"))
        .args([broker.bootstrap().as_str(), topic]))
    .await;
    let reports: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("the script prints JSON lines"))
        .collect();
    let summary: Vec<Report> = reports
        .iter()
        .map(|r| {
            (
                r["client"].as_str().unwrap_or_default().to_string(),
                r["key"].as_str().map(String::from),
                r["error"].as_str().map(String::from),
                r["offset"].as_i64(),
            )
        })
        .collect();
    let row =
        |client: &str, key: Option<&str>, error: Option<&str>, offset: Option<i64>| -> Report {
            (
                client.to_string(),
                key.map(String::from),
                error.map(String::from),
                offset,
            )
        };
    assert_eq!(
        summary,
        [
            row("confluent-kafka", None, Some("INVALID_RECORD"), None),
            row("confluent-kafka", Some("k1"), None, Some(0)),
            // Sent together, in one batch: the broker refuses the batch whole (nothing
            // of it is stored); librdkafka tells the keyed message apart through
            // record_errors.
            row("confluent-kafka", None, Some("INVALID_RECORD"), None),
            row(
                "confluent-kafka",
                Some("k2"),
                Some("_INVALID_DIFFERENT_RECORD"),
                None,
            ),
            row("confluent-kafka", None, Some("INVALID_RECORD"), None),
            row("kafka-python", None, Some("InvalidRecordError"), None),
            row("kafka-python", Some("k3"), None, Some(1)),
        ],
        "{out}"
    );
    // kafka-python shows the record's own error (from record_errors), in Kafka's words.
    let message = reports[5]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-0"
        )),
        "{message}"
    );
    broker.stop().await;
}

#[cfg(feature = "rdkafka")]
mod rdkafka_crate {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::ClientConfig;

    use super::*;

    /// librdkafka's delivery report for each message, sent together (one batch: the
    /// long linger gathers them) and awaited: the error code, or the offset.
    async fn deliver(
        producer: &FutureProducer,
        topic: &str,
        keys: &[Option<&str>],
    ) -> Vec<Result<i64, RDKafkaErrorCode>> {
        let mut pending = Vec::new();
        for key in keys {
            let record = FutureRecord::<str, str>::to(topic).payload("v");
            let record = match key {
                Some(k) => record.key(*k),
                None => record,
            };
            pending.push(producer.send_result(record).expect("queue has room"));
        }
        let mut reports = Vec::new();
        for delivery in pending {
            let report = minikafka_testkit::within("a delivery report", delivery)
                .await
                .expect("delivery future");
            reports.push(match report {
                Ok(d) => Ok(d.offset),
                Err((KafkaError::MessageProduction(code), _)) => Err(code),
                Err((e, _)) => panic!("not a produce error: {e:?}"),
            });
        }
        reports
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rdkafka_delivery_reports_carry_invalid_record() {
        let broker = TestBroker::start().await.expect("broker starts");
        let topic = "rdk-compacted";
        create_compacted(&broker, topic).await;
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("acks", "all")
            .set("linger.ms", "1000")
            .set("retries", "0")
            .set("message.timeout.ms", "30000")
            .create()
            .expect("rdkafka producer");

        use RDKafkaErrorCode::{InvalidDifferentRecord, InvalidRecord};
        assert_eq!(
            deliver(&producer, topic, &[None]).await,
            [Err(InvalidRecord)]
        );
        assert_eq!(deliver(&producer, topic, &[Some("k1")]).await, [Ok(0)]);
        // Two record errors: librdkafka tells each message its own fate (KIP-467).
        assert_eq!(
            deliver(&producer, topic, &[None, Some("k2"), None]).await,
            [
                Err(InvalidRecord),
                Err(InvalidDifferentRecord),
                Err(InvalidRecord)
            ]
        );
        // One record error: librdkafka gives the whole batch the partition's error.
        assert_eq!(
            deliver(&producer, topic, &[Some("k2"), None]).await,
            [Err(InvalidRecord), Err(InvalidRecord)]
        );
        assert_eq!(
            deliver(&producer, topic, &[Some("k3")]).await,
            [Ok(1)],
            "nothing of the refused batch was stored"
        );
        drop(producer);
        broker.stop().await;
    }
}
