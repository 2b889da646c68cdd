//! A compacted topic takes only keyed records, as Kafka's does: a real broker, the test
//! kit's raw wire client, Produce v9 and v7.
//!
//! Flow: wire client → Produce → `PartitionLog::append` → `record_batch::validate_for`
//! (`record::keyless_records`) → `BatchError::KeylessRecords` → `produce.rs`
//! (`record_errors`, `error_message`).
//!
//! What is checked: key-less records at batch indexes 1 and 3 get INVALID_RECORD with
//! one `record_errors` entry each, in Kafka's words, and Kafka's summary as
//! `error_message`; nothing of the batch is stored (the high watermark stays); keyed
//! records still go in; a gzip batch is looked into; Produce v7 gets the code alone; a
//! `cleanup.policy=delete` topic takes key-less records, and refuses them once altered to
//! `compact` (IncrementalAlterConfigs). librdkafka and confluent-kafka are in
//! `compacted_keys_clients.rs`.

use bytes::Bytes;
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ApiKey, ProduceResponse};
use minikafka_broker::log::record::{build, NewRecord};
use minikafka_broker::log::record_batch::Compression;
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::TestBroker;

const INVALID_RECORD: i16 = 87;

/// Kafka's message for one key-less record (`LogValidator.validateKey`).
fn keyless_message(topic: &str) -> String {
    format!("Compacted topic cannot accept message without key in topic partition {topic}-0")
}

/// `(batch_index, message)` of each record error.
fn record_errors(r: &PartitionProduceResponse) -> Vec<(i32, String)> {
    r.record_errors
        .iter()
        .map(|e| {
            let m = e.batch_index_error_message.as_ref().map(|m| m.to_string());
            (e.batch_index, m.unwrap_or_default())
        })
        .collect()
}

/// The high watermark of partition 0, as Fetch reports it.
async fn high_watermark(client: &mut Client, topic: &str) -> i64 {
    client.fetch(topic, 0, 0, 0, 0).await.high_watermark
}

async fn alter_cleanup_policy(client: &mut Client, topic: &str, policy: &str) {
    let code = client
        .alter_topic_config(topic, "cleanup.policy", policy)
        .await;
    assert_eq!(code, 0, "alter {topic}'s cleanup.policy");
}

#[tokio::test]
async fn a_compacted_topic_refuses_keyless_records_with_record_errors() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let topic = "compacted";
    let code = client
        .create_topic_with(topic, 1, &[("cleanup.policy", "compact")])
        .await;
    assert_eq!(code, 0);

    // Indexes 1 and 3 have no key (index 2's empty key is a key).
    let mixed = wire::batch(
        &[
            (Some("k0"), "v0"),
            (None, "v1"),
            (Some(""), "v2"),
            (None, "v3"),
        ],
        1000,
    );
    let r = client.produce(topic, 0, mixed.clone()).await;
    assert_eq!((r.error_code, r.base_offset), (INVALID_RECORD, -1));
    let each = keyless_message(topic);
    assert_eq!(
        record_errors(&r),
        [(1, each.clone()), (3, each.clone())],
        "one record error per key-less record, by its index in the batch"
    );
    assert_eq!(
        r.error_message.as_deref(),
        Some(
            format!(
                "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='{each}'), RecordError(batchIndex=3, message='{each}')]"
            )
            .as_str()
        ),
        "Kafka's summary"
    );
    assert_eq!(
        high_watermark(&mut client, topic).await,
        0,
        "nothing stored"
    );

    // Keyed records go in.
    let keyed = wire::batch(&[(Some("k0"), "v0"), (Some("k1"), "v1")], 1000);
    let r = client.produce(topic, 0, keyed).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    assert!(r.record_errors.is_empty() && r.error_message.is_none());
    assert_eq!(high_watermark(&mut client, topic).await, 2);

    // A compressed batch is decompressed and looked into.
    let record = |key: Option<&'static str>| NewRecord {
        key: key.map(|k| Bytes::from_static(k.as_bytes())),
        value: Some(Bytes::from_static(b"zipped")),
        timestamp: 1000,
        ..NewRecord::default()
    };
    let gzip = build(
        &[None, Some("k"), None].map(record),
        1000,
        Compression::Gzip,
    );
    let r = client.produce(topic, 0, Bytes::from(gzip)).await;
    assert_eq!(r.error_code, INVALID_RECORD, "gzip");
    assert_eq!(record_errors(&r), [(0, each.clone()), (2, each.clone())]);
    assert_eq!(
        high_watermark(&mut client, topic).await,
        2,
        "nothing stored"
    );

    // Produce v7 has no record_errors or error_message: the code alone (the client's
    // decoder fails the test on any byte more).
    let resp: ProduceResponse = client
        .call(
            ApiKey::Produce,
            7,
            &wire::produce_request(topic, 0, mixed, -1),
        )
        .await;
    let r = &resp.responses[0].partition_responses[0];
    assert_eq!((r.error_code, r.base_offset), (INVALID_RECORD, -1), "v7");
    assert_eq!(
        high_watermark(&mut client, topic).await,
        2,
        "nothing stored"
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_delete_topic_takes_keyless_records_until_altered_to_compact() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let topic = "altered";
    let code = client
        .create_topic_with(topic, 1, &[("cleanup.policy", "delete")])
        .await;
    assert_eq!(code, 0);
    let keyless = || wire::batch(&[(None, "a"), (None, "b")], 1000);

    let r = client.produce(topic, 0, keyless()).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0), "delete: accepted");

    alter_cleanup_policy(&mut client, topic, "compact,delete").await;
    let r = client.produce(topic, 0, keyless()).await;
    assert_eq!(r.error_code, INVALID_RECORD, "altered to compact,delete");
    let each = keyless_message(topic);
    assert_eq!(record_errors(&r), [(0, each.clone()), (1, each)]);
    assert_eq!(
        high_watermark(&mut client, topic).await,
        2,
        "nothing more stored"
    );
    let r = client
        .produce(topic, 0, wire::batch(&[(Some("k"), "c")], 1000))
        .await;
    assert_eq!((r.error_code, r.base_offset), (0, 2), "keyed: accepted");

    // And back: delete alone takes them again.
    alter_cleanup_policy(&mut client, topic, "delete").await;
    let r = client.produce(topic, 0, keyless()).await;
    assert_eq!((r.error_code, r.base_offset), (0, 3));
    broker.stop().await;
}
