//! Black-box tests of what the version table means on the wire: Produce advertised
//! from v0 but refused below v3 (Kafka 4.0), ListOffsets v7's max timestamp, and
//! Kafka's own answer to an API this broker does not serve. A real broker on
//! 127.0.0.1:0, driven with raw frames encoded by the `kafka-protocol` crate.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeAclsRequest, DescribeAclsResponse,
    ListOffsetsResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_broker::log::record::{build, NewRecord};
use minikafka_broker::log::record_batch::Compression;
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::TestBroker;

/// A request header (v1) with no body: enough for the broker to decide.
fn header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&api_key.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    b
}

/// Kafka 4.0 advertises Produce v0 (librdkafka < 2.11.1 compresses only then) and
/// closes the connection when v0–v2 actually arrive; v3 is served.
#[tokio::test]
async fn produce_v0_to_v2_are_advertised_but_refused() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let resp: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 9));
    for version in 0..=2 {
        let mut old = Client::connect(broker.addr()).await;
        let mut body = header(0, version, 1);
        body.extend_from_slice(&[0; 16]);
        old.send_frame(&body).await;
        assert!(old.is_closed_by_broker().await, "Produce v{version} closed");
    }
    client.create_topic("v3", 1).await;
    let resp: kafka_protocol::messages::ProduceResponse = client
        .call(
            ApiKey::Produce,
            3,
            &wire::produce_request("v3", 0, wire::batch(&[(None, "x")], 1), -1),
        )
        .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    broker.stop().await;
}

fn rec(value: &str, timestamp: i64) -> NewRecord {
    NewRecord {
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        timestamp,
        ..NewRecord::default()
    }
}

/// ListOffsets v7, timestamp -3: the first record with the largest timestamp, even
/// when it is neither the first nor the last record, nor in the last batch.
#[tokio::test]
async fn list_offsets_v7_finds_the_record_with_the_max_timestamp() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("times", 1).await;
    let empty: ListOffsetsResponse = client
        .call(ApiKey::ListOffsets, 7, &wire::list_offsets("times", &[-3]))
        .await;
    let p = &empty.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.offset, p.timestamp),
        (0, -1, -1),
        "empty log"
    );

    // offsets 0–2, then 3–5 (gzip: found inside a compressed batch), then 6–7.
    let batches = [
        build(
            &[rec("a", 1000), rec("b", 1200), rec("c", 1100)],
            1000,
            Compression::None,
        ),
        build(
            &[rec("d", 1500), rec("e", 9000), rec("f", 9000)],
            1500,
            Compression::Gzip,
        ),
        build(&[rec("g", 2000), rec("h", 8999)], 2000, Compression::None),
    ];
    for b in batches {
        let r = client.produce("times", 0, Bytes::from(b)).await;
        assert_eq!(r.error_code, 0);
    }
    let resp: ListOffsetsResponse = client
        .call(
            ApiKey::ListOffsets,
            7,
            &wire::list_offsets("times", &[-3, -2, -1, 1150]),
        )
        .await;
    let got: Vec<(i16, i64, i64)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.offset, p.timestamp))
        .collect();
    assert_eq!(
        got,
        [(0, 4, 9000), (0, 0, -1), (0, 8, -1), (0, 1, 1200)],
        "max timestamp, earliest, latest, by time"
    );
    // Before v7 a client may not ask for -3: INVALID_REQUEST, as for any negative.
    let old: ListOffsetsResponse = client
        .call(ApiKey::ListOffsets, 6, &wire::list_offsets("times", &[-3]))
        .await;
    assert_eq!(old.topics[0].partitions[0].error_code, 42);
    broker.stop().await;
}

/// An API Kafka serves and this broker does not gets Kafka's error answer,
/// UNSUPPORTED_VERSION in the response's error field, and the connection stays
/// open; an API a Kafka broker's client listener does not serve (Vote, a controller
/// API) and an unknown key are closed, as Kafka closes them.
#[tokio::test]
async fn an_unserved_api_gets_unsupported_version_and_the_connection_stays() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(2)
        .with_resource_name_filter(Some(StrBytes::from_static_str("t")))
        .with_pattern_type_filter(3)
        .with_operation(1)
        .with_permission_type(1);
    let resp: DescribeAclsResponse = client.call(ApiKey::DescribeAcls, 1, &req).await;
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    let resp: DescribeAclsResponse = client.call(ApiKey::DescribeAcls, 3, &req).await;
    assert_eq!(resp.error_code, 35, "flexible version too");
    // Same connection, still served.
    let resp: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    assert!(
        !resp.api_keys.iter().any(|k| k.api_key == 29),
        "DescribeAcls is not advertised"
    );

    for (what, key, version) in [("Vote", 52, 0), ("unknown key", 1000, 0)] {
        let mut other = Client::connect(broker.addr()).await;
        let mut body = header(key, version, 9);
        body.extend_from_slice(&[0; 16]);
        other.send_frame(&body).await;
        assert!(other.is_closed_by_broker().await, "{what} closed");
    }
    broker.stop().await;
}
