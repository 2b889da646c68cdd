//! Black-box protocol tests: a real broker on 127.0.0.1:0, driven with raw frames
//! encoded by the `kafka-protocol` crate. Each test states one Kafka behaviour.

mod common;

use bytes::{Buf, Bytes};
use common::{batch, decode_records, topic_name, with_base_offset, TestBroker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, FetchResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, ProduceResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

fn versions(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    resp.api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

#[tokio::test]
async fn api_versions_v0_to_v3_advertise_the_implemented_apis() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    for version in 0..=3 {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("test"))
            .with_client_software_version(StrBytes::from_static_str("1.0"));
        let resp: ApiVersionsResponse = client.call(ApiKey::ApiVersions, version, &req).await;
        assert_eq!(resp.error_code, 0, "v{version}");
        let advertised = versions(&resp);
        for expected in [
            (0, 3, 9),  // Produce
            (1, 4, 12), // Fetch
            (2, 1, 6),  // ListOffsets
            (3, 1, 12), // Metadata
            (18, 0, 3), // ApiVersions
            (19, 2, 7), // CreateTopics
            (20, 1, 6), // DeleteTopics
            (22, 0, 4), // InitProducerId
        ] {
            assert!(
                advertised.contains(&expected),
                "v{version} lacks {expected:?}: {advertised:?}"
            );
        }
        // Exactly ours plus the group coordinator's: nothing unimplemented.
        let mut expected = minikafka_broker::protocol::api_versions::OWN_APIS.to_vec();
        expected.extend_from_slice(minikafka_broker::group::SUPPORTED_APIS);
        expected.sort_unstable();
        assert_eq!(advertised, expected, "v{version}");
    }
    broker.stop().await;
}

/// The v3 response is flexible but its header is v0: librdkafka 2.0.2 reads it
/// byte by byte, so check the exact layout by hand.
#[tokio::test]
async fn api_versions_v3_bytes_are_exact() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("librdkafka"))
        .with_client_software_version(StrBytes::from_static_str("2.0.2"));
    let sent = client.send(ApiKey::ApiVersions, 3, &req).await;
    let mut frame = client.recv_frame().await.expect("a response");
    let n = minikafka_broker::protocol::api_versions::supported().len();
    assert!(n < 127, "one-byte varint below");
    // correlation id, error, compact array length, n * (key, min, max, no tags),
    // throttle time, no tagged fields.
    assert_eq!(frame.len(), 4 + 2 + 1 + n * 7 + 4 + 1);
    assert_eq!(
        frame.get_i32(),
        sent,
        "header v0: the correlation id comes first"
    );
    assert_eq!(
        frame.get_i16(),
        0,
        "error code directly after (no header tags)"
    );
    assert_eq!(
        frame.get_u8() as usize,
        n + 1,
        "compact array length is n + 1"
    );
    let mut previous = -1;
    for _ in 0..n {
        let key = frame.get_i16();
        let min = frame.get_i16();
        let max = frame.get_i16();
        assert!(key > previous && min <= max, "key {key} {min}..{max}");
        previous = key;
        assert_eq!(frame.get_u8(), 0, "no tagged fields in an entry");
    }
    assert_eq!(frame.get_i32(), 0, "throttle time");
    assert_eq!(frame.get_u8(), 0, "no tagged fields at the end");
    broker.stop().await;
}

/// kafka-python asks for a version we lack first and needs Kafka's answer: v0
/// format, UNSUPPORTED_VERSION (35), and the ranges, on a connection that stays open.
#[tokio::test]
async fn api_versions_unsupported_version_gets_v0_error_with_ranges() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    for version in [4i16, 99] {
        // Header v2 like a flexible request would have; the broker must not need it.
        let mut body = Vec::new();
        body.extend_from_slice(&18i16.to_be_bytes());
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&4242i32.to_be_bytes());
        body.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        body.push(0); // empty header tagged fields
        body.extend_from_slice(&[5, b'x', b'y', b'z', b'w', 2, b'1', 0]); // a v3-like body
        client.send_frame(&body).await;
        let mut frame = client.recv_frame().await.expect("an answer, not a close");
        let header = ResponseHeader::decode(&mut frame, 0).expect("v0 header");
        assert_eq!(header.correlation_id, 4242);
        let resp = ApiVersionsResponse::decode(&mut frame, 0).expect("v0 body");
        assert_eq!(frame.remaining(), 0);
        assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
        assert!(versions(&resp).contains(&(18, 0, 3)), "{resp:?}");
        assert!(versions(&resp).contains(&(0, 3, 9)), "{resp:?}");
    }
    // The client retries lower, on the same connection.
    let resp: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    broker.stop().await;
}

fn metadata_for(names: &[&str], allow_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(allow_create)
}

#[tokio::test]
async fn metadata_names_this_broker_and_auto_creates_topics() {
    let broker = TestBroker::start_with(|c| c.num_partitions = 4).await;
    let mut client = broker.client().await;
    for version in [1i16, 4, 9, 12] {
        let topic = format!("auto-{version}");
        let resp: MetadataResponse = client
            .call(ApiKey::Metadata, version, &metadata_for(&[&topic], true))
            .await;
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].node_id.0, 0);
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(resp.brokers[0].port, i32::from(broker.addr().port()));
        assert_eq!(resp.controller_id.0, 0);
        let t = &resp.topics[0];
        assert_eq!(t.error_code, 0, "v{version}: {t:?}");
        assert_eq!(t.name.as_ref().map(|n| n.0.as_str()), Some(topic.as_str()));
        assert_eq!(t.partitions.len(), 4);
        for (i, p) in t.partitions.iter().enumerate() {
            assert_eq!(p.partition_index, i as i32);
            assert_eq!(p.leader_id.0, 0);
            assert_eq!(p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), [0]);
            assert_eq!(p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), [0]);
        }
    }
    // v4+: a client may forbid creation.
    let resp: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &metadata_for(&["not-created"], false))
        .await;
    assert_eq!(resp.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    // All topics (null list): the four created above, none of the refused one.
    let all: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let mut names: Vec<&str> = all
        .topics
        .iter()
        .filter(|t| !t.is_internal)
        .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str()))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["auto-1", "auto-12", "auto-4", "auto-9"]);
    broker.stop().await;
}

#[tokio::test]
async fn metadata_does_not_create_when_auto_create_is_off() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = false).await;
    let mut client = broker.client().await;
    let resp: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &metadata_for(&["nope"], true))
        .await;
    assert_eq!(resp.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let resp: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &metadata_for(&["nope"], true))
        .await;
    assert_eq!(resp.topics[0].error_code, 3, "still not created");
    broker.stop().await;
}

fn create_request(topics: Vec<CreatableTopic>, validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(5000)
        .with_validate_only(validate_only)
}

fn creatable(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

#[tokio::test]
async fn create_and_delete_topics_answer_per_topic() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = false).await;
    let mut client = broker.client().await;

    let resp: CreateTopicsResponse = client
        .call(
            ApiKey::CreateTopics,
            7,
            &create_request(
                vec![
                    creatable("orders", 2, 1),
                    creatable("bad/name", 1, 1),
                    creatable("replicated", 1, 3),
                    creatable("zero", 0, 1),
                    creatable("defaults", -1, -1),
                ],
                false,
            ),
        )
        .await;
    let codes: Vec<i16> = resp.topics.iter().map(|t| t.error_code).collect();
    // 0, INVALID_TOPIC_EXCEPTION, INVALID_REPLICATION_FACTOR, INVALID_PARTITIONS, 0
    assert_eq!(codes, [0, 17, 38, 37, 0], "{resp:?}");
    assert_eq!(resp.topics[0].num_partitions, 2);
    assert_eq!(resp.topics[4].num_partitions, 3, "num.partitions default");

    // Again: TOPIC_ALREADY_EXISTS. validate_only creates nothing.
    let resp: CreateTopicsResponse = client
        .call(
            ApiKey::CreateTopics,
            2,
            &create_request(
                vec![creatable("orders", 2, 1), creatable("dry", 1, 1)],
                true,
            ),
        )
        .await;
    let codes: Vec<i16> = resp.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [36, 0]);
    let meta: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &metadata_for(&["orders", "dry"], true),
        )
        .await;
    assert_eq!(meta.topics[0].error_code, 0);
    assert_eq!(meta.topics[0].partitions.len(), 2);
    assert_eq!(
        meta.topics[1].error_code, 3,
        "validate_only created nothing"
    );

    // Delete at v1 (names) and v6 (states).
    let resp: DeleteTopicsResponse = client
        .call(
            ApiKey::DeleteTopics,
            1,
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![topic_name("orders"), topic_name("missing")])
                .with_timeout_ms(5000),
        )
        .await;
    let codes: Vec<i16> = resp.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, 3]);
    let resp: DeleteTopicsResponse = client
        .call(
            ApiKey::DeleteTopics,
            6,
            &DeleteTopicsRequest::default()
                .with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic_name("defaults"))),
                    DeleteTopicState::default().with_name(Some(topic_name("orders"))),
                ])
                .with_timeout_ms(5000),
        )
        .await;
    let codes: Vec<i16> = resp.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, 3], "orders is already gone");
    let meta: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &metadata_for(&["orders", "defaults"], true),
        )
        .await;
    assert_eq!(meta.topics[0].error_code, 3);
    assert_eq!(meta.topics[1].error_code, 3);
    broker.stop().await;
}

#[tokio::test]
async fn produce_then_fetch_returns_the_stored_batches_byte_for_byte() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("rt", 1).await;

    let first = batch(
        &[(Some("k1"), "one"), (Some("k2"), "two"), (None, "three")],
        1000,
    );
    let second = batch(&[(Some("k3"), "four"), (Some("k1"), "five")], 2000);
    let p = client.produce("rt", 0, first.clone()).await;
    assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, 0, 0));
    let p = client.produce("rt", 0, second.clone()).await;
    assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, 3, 0));

    let fetched = client.fetch("rt", 0, 0, 0, 1).await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.high_watermark, 5);
    assert_eq!(fetched.last_stable_offset, 5);
    assert_eq!(fetched.log_start_offset, 0);
    let mut expected = with_base_offset(&first, 0);
    expected.extend(with_base_offset(&second, 3));
    assert_eq!(fetched.records.as_deref(), Some(&expected[..]));
    let records = decode_records(fetched.records.unwrap_or_default());
    assert_eq!(
        records,
        [
            (0, Some("k1".into()), "one".into()),
            (1, Some("k2".into()), "two".into()),
            (2, None, "three".into()),
            (3, Some("k3".into()), "four".into()),
            (4, Some("k1".into()), "five".into()),
        ]
    );

    // From offset 4: the whole batch holding it, as stored.
    let fetched = client.fetch("rt", 0, 4, 0, 1).await;
    assert_eq!(
        fetched.records.as_deref(),
        Some(&with_base_offset(&second, 3)[..])
    );

    // At the end, with no wait: empty records, never null.
    let fetched = client.fetch("rt", 0, 5, 0, 1).await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.records, Some(Bytes::new()));
    broker.stop().await;
}

/// Every advertised Produce and Fetch version round-trips (older ones are what
/// kafka-python and older librdkafka pick).
#[tokio::test]
async fn every_produce_and_fetch_version_round_trips() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("versions", 1).await;
    let mut expected = Vec::new();
    for (i, version) in (3i16..=9).enumerate() {
        let b = batch(&[(Some("v"), &format!("produce v{version}"))], 1000);
        let resp: ProduceResponse = client
            .call(
                ApiKey::Produce,
                version,
                &common::produce_request("versions", 0, b.clone(), 1),
            )
            .await;
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, i as i64),
            "produce v{version}"
        );
        expected.extend(with_base_offset(&b, i as i64));
    }
    for version in 4i16..=12 {
        let req = common::fetch_request("versions", 0, 0, 0, 1);
        let resp: FetchResponse = client.call(ApiKey::Fetch, version, &req).await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch v{version}");
        assert_eq!(p.high_watermark, 7, "fetch v{version}");
        assert_eq!(
            p.records.as_deref(),
            Some(&expected[..]),
            "fetch v{version}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn a_waiting_fetch_is_woken_by_an_append() {
    let broker = TestBroker::start().await;
    let mut admin = broker.client().await;
    admin.create_topic("wake", 1).await;

    let mut consumer = broker.client().await;
    // max_wait is far longer than the client's own 10 s limit: only a wake-up by the
    // append can make this fetch answer in time.
    let req = common::fetch_request("wake", 0, 0, 600_000, 1);
    let sent = consumer.send(ApiKey::Fetch, 12, &req).await;
    // Give the broker a moment to park the fetch (if it has not, the fetch simply
    // finds the data: the assertions below still hold).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let b = batch(&[(Some("k"), "wake up")], 1000);
    let p = admin.produce("wake", 0, b.clone()).await;
    assert_eq!(p.error_code, 0);

    let (got, resp): (i32, FetchResponse) = consumer.recv(ApiKey::Fetch, 12).await;
    assert_eq!(got, sent);
    let part = &resp.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    assert_eq!(part.records.as_deref(), Some(&with_base_offset(&b, 0)[..]));
    broker.stop().await;
}

#[tokio::test]
async fn a_fetch_with_nothing_to_read_answers_empty_after_max_wait() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("quiet", 1).await;
    let fetched = client.fetch("quiet", 0, 0, 50, 1).await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.high_watermark, 0);
    assert_eq!(fetched.records, Some(Bytes::new()), "empty, not null");
    broker.stop().await;
}

#[tokio::test]
async fn fetch_outside_the_log_is_offset_out_of_range() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("range", 1).await;
    client
        .produce("range", 0, batch(&[(None, "a"), (None, "b")], 1000))
        .await;
    for offset in [3, 100, -1] {
        let fetched = client.fetch("range", 0, offset, 0, 1).await;
        assert_eq!(
            fetched.error_code, 1,
            "offset {offset}: OFFSET_OUT_OF_RANGE"
        );
        assert_eq!(fetched.high_watermark, 2);
        assert_eq!(fetched.records, Some(Bytes::new()));
    }
    let fetched = client.fetch("no-such-topic-here", 0, 0, 0, 1).await;
    assert_eq!(fetched.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    broker.stop().await;
}

#[tokio::test]
async fn fetch_honours_partition_max_bytes_but_always_returns_one_batch() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("limits", 1).await;
    let batches: Vec<Bytes> = (0..3)
        .map(|i| batch(&[(None, &"x".repeat(100 + i))], 1000))
        .collect();
    for b in &batches {
        client.produce("limits", 0, b.clone()).await;
    }
    // A limit smaller than one batch still returns the first batch, whole.
    let mut req = common::fetch_request("limits", 0, 0, 0, 1);
    req.topics[0].partitions[0].partition_max_bytes = 10;
    let resp: FetchResponse = client.call(ApiKey::Fetch, 12, &req).await;
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(records, with_base_offset(&batches[0], 0));
    // A limit of two batches returns two.
    let two = batches[0].len() + batches[1].len();
    req.topics[0].partitions[0].partition_max_bytes = two as i32;
    let resp: FetchResponse = client.call(ApiKey::Fetch, 12, &req).await;
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(decode_records(records).len(), 2);
    broker.stop().await;
}

fn list_offsets(topic: &str, timestamps: &[i64]) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                timestamps
                    .iter()
                    .map(|&ts| {
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(ts)
                    })
                    .collect(),
            )])
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_timestamp() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("times", 1).await;
    client
        .produce(
            "times",
            0,
            batch(&[(None, "a"), (None, "b"), (None, "c")], 1000),
        )
        .await;
    client
        .produce("times", 0, batch(&[(None, "d"), (None, "e")], 2000))
        .await;
    for version in [1i16, 6] {
        let resp: ListOffsetsResponse = client
            .call(
                ApiKey::ListOffsets,
                version,
                &list_offsets("times", &[-2, -1, 1500, 2001, 999, 5000]),
            )
            .await;
        let got: Vec<(i16, i64, i64)> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset, p.timestamp))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, -1),   // earliest
                (0, 5, -1),   // latest: the next offset
                (0, 3, 2000), // first record at or after 1500
                (0, 4, 2001),
                (0, 0, 1000),
                (0, -1, -1), // nothing that new
            ],
            "v{version}"
        );
    }
    let resp: ListOffsetsResponse = client
        .call(ApiKey::ListOffsets, 6, &list_offsets("absent-topic", &[-1]))
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 3);
    broker.stop().await;
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_is_stored() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("fire", 1).await;
    let b = batch(&[(None, "forget me not")], 1000);
    client
        .send(
            ApiKey::Produce,
            9,
            &common::produce_request("fire", 0, b.clone(), 0),
        )
        .await;
    // The next response on this connection answers the next request.
    let sent = client
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let (got, _): (i32, ApiVersionsResponse) = client.recv(ApiKey::ApiVersions, 3).await;
    assert_eq!(got, sent, "the acks=0 produce got no response");
    let fetched = client.fetch("fire", 0, 0, 0, 1).await;
    assert_eq!(
        fetched.records.as_deref(),
        Some(&with_base_offset(&b, 0)[..])
    );
    broker.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_request_order() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("pipe", 1).await;
    // Twenty requests of four kinds in one write, before reading anything.
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20 {
        let (api, version, (id, body)) = match i % 4 {
            0 => (
                ApiKey::Produce,
                9,
                client.encode_request(
                    ApiKey::Produce,
                    9,
                    &common::produce_request("pipe", 0, batch(&[(None, "p")], 1000), 1),
                ),
            ),
            1 => (
                ApiKey::Fetch,
                12,
                client.encode_request(
                    ApiKey::Fetch,
                    12,
                    &common::fetch_request("pipe", 0, 0, 0, 1),
                ),
            ),
            2 => (
                ApiKey::Metadata,
                12,
                client.encode_request(ApiKey::Metadata, 12, &metadata_for(&["pipe"], true)),
            ),
            _ => (
                ApiKey::ApiVersions,
                3,
                client.encode_request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()),
            ),
        };
        wire.extend_from_slice(&(body.len() as i32).to_be_bytes());
        wire.extend_from_slice(&body);
        expected.push((api, version, id));
    }
    client.send_raw(&wire).await;
    for (i, (api, version, id)) in expected.into_iter().enumerate() {
        let got = match api {
            ApiKey::Produce => {
                let (got, resp): (i32, ProduceResponse) = client.recv(api, version).await;
                // Produces are answered in order, so offsets follow the request order.
                let p = &resp.responses[0].partition_responses[0];
                assert_eq!(p.base_offset, (i / 4) as i64);
                got
            }
            ApiKey::Fetch => client.recv::<FetchResponse>(api, version).await.0,
            ApiKey::Metadata => client.recv::<MetadataResponse>(api, version).await.0,
            _ => client.recv::<ApiVersionsResponse>(api, version).await.0,
        };
        assert_eq!(got, id, "response {i} answers request {i}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn corrupt_batches_are_rejected_and_nothing_is_stored() {
    let broker = TestBroker::start_with(|c| c.log.max_message_bytes = 4096).await;
    let mut client = broker.client().await;
    client.create_topic("strict", 1).await;
    let good = batch(&[(Some("k"), "v")], 1000);

    let mut bad_crc = good.to_vec();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff; // inside the CRC-covered records
    let mut bad_magic = good.to_vec();
    bad_magic[16] = 1;
    let truncated = good.slice(0..good.len() - 3);
    let big = batch(&[(None, &"x".repeat(8000))], 1000);
    // A good batch followed by a bad one: the whole partition's data is refused.
    let mut good_then_bad = good.to_vec();
    good_then_bad.extend_from_slice(&bad_crc);

    for (what, records, code) in [
        ("bad CRC", Bytes::from(bad_crc), 2),
        ("bad magic", Bytes::from(bad_magic), 2),
        ("truncated", truncated, 2),
        ("good then bad", Bytes::from(good_then_bad), 2),
        ("too large", big, 10),
        ("empty", Bytes::new(), 87),
    ] {
        let p = client.produce("strict", 0, records).await;
        assert_eq!(p.error_code, code, "{what}: {p:?}");
        assert_eq!(p.base_offset, -1, "{what}");
    }
    let p = client.produce("strict", 7, good.clone()).await;
    assert_eq!(
        p.error_code, 3,
        "no partition 7: UNKNOWN_TOPIC_OR_PARTITION"
    );

    let fetched = client.fetch("strict", 0, 0, 0, 1).await;
    assert_eq!(fetched.high_watermark, 0, "nothing was stored");
    assert_eq!(fetched.records, Some(Bytes::new()));
    // The partition still accepts good data afterwards.
    let p = client.produce("strict", 0, good).await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    broker.stop().await;
}

#[tokio::test]
async fn several_batches_for_one_partition_are_appended_in_order() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("multi", 1).await;
    let a = batch(&[(None, "a1"), (None, "a2")], 1000);
    let b = batch(&[(None, "b1")], 1000);
    let mut both = a.to_vec();
    both.extend_from_slice(&b);
    let p = client.produce("multi", 0, Bytes::from(both)).await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let fetched = client.fetch("multi", 0, 0, 0, 1).await;
    let mut expected = with_base_offset(&a, 0);
    expected.extend(with_base_offset(&b, 2));
    assert_eq!(fetched.records.as_deref(), Some(&expected[..]));
    broker.stop().await;
}

#[tokio::test]
async fn init_producer_id_hands_out_fresh_ids() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let first: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
        .await;
    let second: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            1,
            &InitProducerIdRequest::default()
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    assert_eq!((second.error_code, second.producer_epoch), (0, 0));
    assert!(first.producer_id.0 >= 0);
    assert_ne!(first.producer_id, second.producer_id);
    broker.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_then_reopen_keeps_the_data() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("durable", 2).await;
    let a = batch(&[(Some("a"), "kept")], 1000);
    let b = batch(&[(Some("b"), "also kept")], 1000);
    client.produce("durable", 0, a.clone()).await;
    client.produce("durable", 1, b.clone()).await;
    client.produce("durable", 1, a.clone()).await;
    drop(client);
    let dir = broker.stop().await;

    let handle = minikafka_broker::Broker::start(common::test_config(&dir))
        .await
        .expect("restart on the same data dir");
    let broker = TestBroker { handle, dir };
    let mut client = broker.client().await;
    let p0 = client.fetch("durable", 0, 0, 0, 1).await;
    assert_eq!(p0.records.as_deref(), Some(&with_base_offset(&a, 0)[..]));
    let p1 = client.fetch("durable", 1, 0, 0, 1).await;
    let mut expected = with_base_offset(&b, 0);
    expected.extend(with_base_offset(&a, 1));
    assert_eq!(p1.records.as_deref(), Some(&expected[..]));
    // New appends continue after the old ones.
    let p = client.produce("durable", 1, b).await;
    assert_eq!(p.base_offset, 2);
    broker.stop().await;
}

/// A fetch parked in a long poll when shutdown starts is answered, not dropped.
#[tokio::test]
async fn shutdown_answers_a_parked_fetch() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("parked", 1).await;
    let sent = client
        .send(
            ApiKey::Fetch,
            12,
            &common::fetch_request("parked", 0, 0, 600_000, 1),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopping = tokio::spawn(broker.stop());
    let (got, resp): (i32, FetchResponse) = client.recv(ApiKey::Fetch, 12).await;
    assert_eq!(got, sent);
    assert_eq!(resp.responses[0].partitions[0].records, Some(Bytes::new()));
    assert!(
        client.is_closed_by_broker().await,
        "closed after the answer"
    );
    stopping.await.expect("shutdown task");
}

/// With acks=0 there is no response to carry an error, so Kafka closes the
/// connection; the producer then refreshes its metadata.
#[tokio::test]
async fn a_failed_acks_zero_produce_closes_the_connection() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("zero", 1).await;
    let mut corrupt = batch(&[(None, "x")], 1000).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    client
        .send(
            ApiKey::Produce,
            9,
            &common::produce_request("zero", 0, Bytes::from(corrupt), 0),
        )
        .await;
    assert!(client.is_closed_by_broker().await);
    let mut other = broker.client().await;
    let fetched = other.fetch("zero", 0, 0, 0, 1).await;
    assert_eq!(fetched.high_watermark, 0, "nothing stored");
    broker.stop().await;
}

/// The response-wide max_bytes: the first partition with data gets its first batch
/// even when it alone is over the limit; the next partitions wait for the next fetch.
#[tokio::test]
async fn fetch_max_bytes_spans_partitions() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.create_topic("wide", 2).await;
    let big = batch(&[(None, &"y".repeat(500))], 1000);
    client.produce("wide", 0, big.clone()).await;
    client.produce("wide", 1, big.clone()).await;
    let mut req = common::fetch_request("wide", 0, 0, 0, 1);
    let mut second = req.topics[0].partitions[0].clone();
    second.partition = 1;
    req.topics[0].partitions.push(second);
    req.max_bytes = 100;
    let resp: FetchResponse = client.call(ApiKey::Fetch, 12, &req).await;
    let parts = &resp.responses[0].partitions;
    assert_eq!(
        parts[0].records.as_deref(),
        Some(&with_base_offset(&big, 0)[..])
    );
    assert_eq!(
        parts[1].records,
        Some(Bytes::new()),
        "over the budget: next time"
    );
    assert_eq!(
        parts[1].high_watermark, 1,
        "but its high watermark is reported"
    );
    broker.stop().await;
}

/// The server runs retention every `retention_check_interval`: old segments go,
/// the log start moves up, and fetching below it is OFFSET_OUT_OF_RANGE.
#[tokio::test]
async fn retention_runs_periodically() {
    let broker = TestBroker::start_with(|c| {
        c.retention_check_interval = std::time::Duration::from_millis(20);
        c.log.segment_bytes = 300;
        c.log.retention_bytes = Some(300);
    })
    .await;
    let mut client = broker.client().await;
    client.create_topic("short", 1).await;
    for i in 0..20 {
        let p = client
            .produce(
                "short",
                0,
                batch(&[(None, &format!("record {i:>40}"))], 1000),
            )
            .await;
        assert_eq!(p.error_code, 0);
    }
    // Wait (bounded) for a retention pass to have deleted something.
    let mut earliest = 0;
    for _ in 0..500 {
        let resp: ListOffsetsResponse = client
            .call(ApiKey::ListOffsets, 6, &list_offsets("short", &[-2]))
            .await;
        earliest = resp.topics[0].partitions[0].offset;
        if earliest > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(earliest > 0, "retention never ran");
    let fetched = client.fetch("short", 0, 0, 0, 1).await;
    assert_eq!(
        fetched.error_code, 1,
        "below the log start: OFFSET_OUT_OF_RANGE"
    );
    assert!(fetched.log_start_offset >= earliest);
    broker.stop().await;
}
