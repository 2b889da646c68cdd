//! DescribeCluster, OffsetForLeaderEpoch (and the leader epoch 0 stamped into every
//! stored batch), and FindCoordinator for a transactional id, against a real broker: on
//! the wire, and with librdkafka (with `--features rdkafka`): a transactional producer's
//! `init_transactions` fails at once with a clear error instead of retrying for a minute.

use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_testkit::wire::{batch, topic_name, Client};
use minikafka_testkit::TestBroker;

#[tokio::test]
async fn describe_cluster_names_this_broker() {
    let broker = TestBroker::builder()
        .config(|c| c.http = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))))
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    for version in [0, 1] {
        let req = DescribeClusterRequest::default()
            .with_include_cluster_authorized_operations(true)
            .with_endpoint_type(1);
        let resp: DescribeClusterResponse =
            client.call(ApiKey::DescribeCluster, version, &req).await;
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.cluster_id.as_str(), "minikafka-cluster-0000");
        assert_eq!(resp.controller_id, BrokerId(0));
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].port, i32::from(broker.addr().port()));
        assert!(
            resp.cluster_authorized_operations & (1 << 8) != 0,
            "DESCRIBE"
        );
    }
    let controllers = DescribeClusterRequest::default().with_endpoint_type(2);
    let resp: DescribeClusterResponse = client.call(ApiKey::DescribeCluster, 1, &controllers).await;
    assert_eq!(resp.error_code, 115, "UNSUPPORTED_ENDPOINT_TYPE");
    // Counted in /metrics by API, version and error code, like every API.
    let http = broker
        .handle()
        .expect("running")
        .http_addr()
        .expect("http is on");
    let (_, metrics) = minikafka_testkit::http::get(http, "/metrics").await;
    for line in [
        r#"kafka_server_requests_total{api="DescribeCluster",version="1",error_code="0"} 1"#,
        r#"kafka_server_requests_total{api="DescribeCluster",version="1",error_code="115"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn offset_for_leader_epoch_and_the_stamped_epoch() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("epochs", 1).await;
    for i in 0..3 {
        client.produce("epochs", 0, batch(&[(None, "v")], i)).await;
    }
    // Every stored batch carries partitionLeaderEpoch 0 (bytes 12..16), and its CRC
    // still checks (the consumer-side decoder verifies it).
    let fetched = client.fetch("epochs", 0, 0, 0, 1).await;
    let bytes = fetched.records.expect("records");
    assert_eq!(&bytes[12..16], &0i32.to_be_bytes());
    assert_eq!(minikafka_testkit::wire::decode_records(bytes).len(), 3);

    let ask = |partition: i32, current: i32, epoch: i32| {
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(topic_name("epochs"))
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(current)
                    .with_leader_epoch(epoch)])])
    };
    for (partition, current, epoch, expected) in [
        (0, 0, 0, (0, 0, 3)),
        (0, -1, 0, (0, 0, 3)),
        (0, 0, 5, (0, -1, -1)),
        (0, 1, 0, (75, -1, -1)),  // UNKNOWN_LEADER_EPOCH
        (0, -5, 0, (74, -1, -1)), // FENCED_LEADER_EPOCH
        (4, 0, 0, (3, -1, -1)),
    ] {
        let resp: OffsetForLeaderEpochResponse = client
            .call(
                ApiKey::OffsetForLeaderEpoch,
                4,
                &ask(partition, current, epoch),
            )
            .await;
        let p = &resp.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.leader_epoch, p.end_offset),
            expected,
            "partition {partition}, current {current}, asked {epoch}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn find_coordinator_names_this_broker_for_transactional_ids() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![
            StrBytes::from_static_str("txn-1"),
            StrBytes::from_static_str("txn-2"),
        ]);
    let resp: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &req).await;
    assert_eq!(resp.coordinators.len(), 2);
    for c in &resp.coordinators {
        assert_eq!((c.error_code, c.node_id.0), (0, 0));
        assert_eq!(c.port, i32::from(broker.addr().port()));
    }
    let old = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_key(StrBytes::from_static_str("txn-1"));
    let resp: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 3, &old).await;
    assert_eq!(
        (resp.error_code, resp.port),
        (0, i32::from(broker.addr().port()))
    );
    broker.stop().await;
}
