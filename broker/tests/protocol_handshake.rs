//! Black-box protocol tests, the handshake and admin side: ApiVersions, Metadata,
//! CreateTopics, DeleteTopics, InitProducerId, and the advertised address (through the
//! real `minikafka-broker` binary). A real broker on 127.0.0.1:0, driven with raw frames
//! encoded by the `kafka-protocol` crate.

use bytes::Buf;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    InitProducerIdRequest, InitProducerIdResponse, MetadataRequest, MetadataResponse,
    ResponseHeader, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use minikafka_testkit::wire::{self, topic_name, Client};
use minikafka_testkit::TestBroker;

fn versions(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    resp.api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

#[tokio::test]
async fn api_versions_v0_to_v4_advertise_the_implemented_apis() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    for version in 0..=4 {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("test"))
            .with_client_software_version(StrBytes::from_static_str("1.0"));
        let resp: ApiVersionsResponse = client.call(ApiKey::ApiVersions, version, &req).await;
        assert_eq!(resp.error_code, 0, "v{version}");
        let advertised = versions(&resp);
        for expected in [
            (0, 0, 9),  // Produce: v0–v2 advertised, refused (Kafka 4.0, KAFKA-18659)
            (1, 4, 12), // Fetch
            (2, 1, 7),  // ListOffsets
            (3, 0, 12), // Metadata
            (8, 2, 9),  // OffsetCommit
            (9, 1, 9),  // OffsetFetch
            (10, 0, 6), // FindCoordinator
            (11, 0, 9), // JoinGroup
            (12, 0, 4), // Heartbeat
            (13, 0, 5), // LeaveGroup
            (14, 0, 5), // SyncGroup
            (15, 0, 5), // DescribeGroups
            (16, 0, 5), // ListGroups
            (18, 0, 4), // ApiVersions
            (19, 2, 7), // CreateTopics
            (20, 1, 6), // DeleteTopics
            (22, 0, 4), // InitProducerId
        ] {
            assert!(
                advertised.contains(&expected),
                "v{version} lacks {expected:?}: {advertised:?}"
            );
        }
        // Exactly the one table of dispatched APIs: nothing unimplemented.
        let expected = minikafka_broker::protocol::api_versions::supported();
        assert_eq!(advertised, expected, "v{version}");
    }
    broker.stop().await;
}

/// The v3 response is flexible but its header is v0: librdkafka 2.0.2 reads it
/// byte by byte, so check the exact layout by hand.
#[tokio::test]
async fn api_versions_v3_bytes_are_exact() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
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
/// format, UNSUPPORTED_VERSION (35), and ApiVersions' own range (only that, as Kafka's
/// `ApiVersionsRequest.getErrorResponse`), on a connection that stays open.
#[tokio::test]
async fn api_versions_unsupported_version_gets_v0_error_with_its_own_range() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    for version in [5i16, 99] {
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
        assert_eq!(versions(&resp), [(18, 0, 4)], "{resp:?}");
    }
    // The client retries at the highest version both know, on the same connection.
    let resp: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    assert!(versions(&resp).contains(&(0, 0, 9)), "{resp:?}");
    broker.stop().await;
}

#[tokio::test]
async fn metadata_names_this_broker_and_auto_creates_topics() {
    let broker = TestBroker::builder()
        .partitions(4)
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    for version in [0i16, 1, 4, 9, 12] {
        let topic = format!("auto-{version}");
        let resp: MetadataResponse = client
            .call(
                ApiKey::Metadata,
                version,
                &wire::metadata_for(&[&topic], true),
            )
            .await;
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].node_id.0, 0);
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(resp.brokers[0].port, i32::from(broker.addr().port()));
        if version >= 1 {
            assert_eq!(resp.controller_id.0, 0, "v0 has no controller id");
        }
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
        .call(
            ApiKey::Metadata,
            12,
            &wire::metadata_for(&["not-created"], false),
        )
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
    assert_eq!(names, ["auto-0", "auto-1", "auto-12", "auto-4", "auto-9"]);
    // v0's list cannot be null: there an empty one means all topics (Sarama's admin
    // client asks so), where v1+ answers no topic.
    let all_v0: MetadataResponse = client
        .call(ApiKey::Metadata, 0, &wire::metadata_for(&[], true))
        .await;
    let none_v1: MetadataResponse = client
        .call(ApiKey::Metadata, 1, &wire::metadata_for(&[], true))
        .await;
    assert_eq!(all_v0.topics.len(), all.topics.len(), "{all_v0:?}");
    assert!(none_v1.topics.is_empty(), "{none_v1:?}");
    broker.stop().await;
}

#[tokio::test]
async fn metadata_does_not_create_when_auto_create_is_off() {
    let broker = TestBroker::builder()
        .auto_create(false)
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let resp: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["nope"], true))
        .await;
    assert_eq!(resp.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let resp: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["nope"], true))
        .await;
    assert_eq!(resp.topics[0].error_code, 3, "still not created");
    broker.stop().await;
}

/// `minikafka-broker --advertised-host/--advertised-port`, the real binary: Metadata and
/// FindCoordinator hand out the advertised address, not the one the broker listens on.
#[tokio::test]
async fn the_advertised_host_and_port_are_what_clients_are_told() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = tokio::process::Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args([
            "--advertised-host",
            "kafka.example",
            "--advertised-port",
            "19092",
        ])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run minikafka-broker");
    // The start-up line names the address the listener really got, and who can reach it.
    let mut lines = BufReader::new(broker.stdout.take().expect("stdout")).lines();
    let addr: std::net::SocketAddr =
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some((_, rest)) = line.split_once("listening on ") {
                    assert!(
                        rest.contains("(loopback: only this machine can connect;"),
                        "{line}"
                    );
                    return rest
                        .split(' ')
                        .next()
                        .expect("address")
                        .parse()
                        .expect("addr");
                }
            }
            panic!("the broker exited before listening");
        })
        .await
        .expect("the broker starts");

    let mut client = Client::connect(addr).await;
    let meta: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["adv"], true))
        .await;
    assert_eq!(meta.brokers.len(), 1);
    assert_eq!(meta.brokers[0].host.as_str(), "kafka.example");
    assert_eq!(meta.brokers[0].port, 19092);
    let coordinator: FindCoordinatorResponse = client
        .call(
            ApiKey::FindCoordinator,
            2,
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
        )
        .await;
    assert_eq!(coordinator.error_code, 0, "{coordinator:?}");
    assert_eq!(coordinator.host.as_str(), "kafka.example");
    assert_eq!(coordinator.port, 19092);
    broker.kill().await.expect("stop the broker");
}

#[test]
fn an_advertised_port_of_zero_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--advertised-port",
            "0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run minikafka-broker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--advertised-port"), "{stderr}");
    assert!(
        std::fs::read_dir(dir.path())
            .expect("data dir")
            .next()
            .is_none(),
        "nothing written"
    );
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
    let broker = TestBroker::builder()
        .auto_create(false)
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;

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
            &wire::metadata_for(&["orders", "dry"], true),
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
            &wire::metadata_for(&["orders", "defaults"], true),
        )
        .await;
    assert_eq!(meta.topics[0].error_code, 3);
    assert_eq!(meta.topics[1].error_code, 3);
    broker.stop().await;
}

#[tokio::test]
async fn init_producer_id_hands_out_fresh_ids() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let first: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
        .await;
    let second: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            1,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    assert_eq!((second.error_code, second.producer_epoch), (0, 0));
    assert!(first.producer_id.0 >= 0);
    assert_ne!(first.producer_id, second.producer_id);

    // v3+: a producer that names its id and epoch gets the next epoch of that id.
    let bumped: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(first.producer_id)
                .with_producer_epoch(0),
        )
        .await;
    assert_eq!(
        (bumped.error_code, bumped.producer_id, bumped.producer_epoch),
        (0, first.producer_id, 1)
    );

    // A transactional id gets its own producer id, epoch 0 the first time; an empty
    // one is refused, as Kafka does.
    let transactional: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!(
        (transactional.error_code, transactional.producer_epoch),
        (0, 0)
    );
    assert_ne!(transactional.producer_id, second.producer_id);
    let empty: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60_000)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!(empty.error_code, 42, "INVALID_REQUEST");
    broker.stop().await;
}
