//! CreatePartitions against a real broker: Kafka's errors on the wire, the new
//! partitions in Metadata and on disk, kept across a restart; a native consumer group
//! rebalances onto them (its leader notices at its metadata check); and the rdkafka
//! crate's AdminClient grows a topic (with `--features rdkafka`).

use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, MetadataResponse,
};
use minikafka_client::{Backend, Consumer, TopicPartition};
use minikafka_testkit::wire::{batch, metadata_for, topic_name, Client};
use minikafka_testkit::{member_config, within, TestBroker};

async fn grow(
    client: &mut Client,
    topic: &str,
    count: i32,
    assignments: Option<Vec<i32>>,
    validate_only: bool,
) -> (i16, String) {
    let assignments = assignments.map(|nodes| {
        nodes
            .into_iter()
            .map(|n| CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(n)]))
            .collect()
    });
    let req = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            .with_assignments(assignments)])
        .with_timeout_ms(5000)
        .with_validate_only(validate_only);
    let resp: CreatePartitionsResponse = client.call(ApiKey::CreatePartitions, 3, &req).await;
    let r = &resp.results[0];
    (
        r.error_code,
        r.error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

async fn partition_count(client: &mut Client, topic: &str) -> usize {
    let resp: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &metadata_for(&[topic], false))
        .await;
    resp.topics[0].partitions.len()
}

#[tokio::test]
async fn create_partitions_grows_a_live_topic_with_kafkas_errors() {
    let mut broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("grown", 2).await;

    let (code, message) = grow(&mut client, "grown", 2, None, false).await;
    assert_eq!(
        (code, message.as_str()),
        (37, "Topic already has 2 partition(s).")
    );
    let (code, message) = grow(&mut client, "grown", 1, None, false).await;
    assert_eq!(code, 37, "INVALID_PARTITIONS");
    assert!(message.contains("would not be an increase"), "{message}");
    assert_eq!(grow(&mut client, "absent", 3, None, false).await.0, 3);
    assert_eq!(
        grow(&mut client, "grown", 4, Some(vec![0]), false).await.0,
        39,
        "one assignment for two new partitions"
    );
    assert_eq!(
        grow(&mut client, "grown", 3, Some(vec![5]), false).await.0,
        39,
        "broker 5 does not exist"
    );
    assert_eq!(grow(&mut client, "grown", 3, None, true).await.0, 0);
    assert_eq!(
        partition_count(&mut client, "grown").await,
        2,
        "validate_only changed nothing"
    );

    assert_eq!(
        grow(&mut client, "grown", 4, Some(vec![0, 0]), false).await,
        (0, String::new())
    );
    assert_eq!(partition_count(&mut client, "grown").await, 4);
    let p = client
        .produce("grown", 3, batch(&[(None, "into a new partition")], 0))
        .await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    assert!(broker.data_dir().join("grown-3").is_dir());

    broker.restart().await.expect("restart");
    let mut client = Client::connect(broker.addr()).await;
    assert_eq!(partition_count(&mut client, "grown").await, 4);
    let got = client.fetch("grown", 3, 0, 0, 1).await;
    assert_eq!(got.high_watermark, 1);
    broker.stop().await;
}

/// Drives `member` until it owns `n` partitions; returns them.
async fn wait_for(member: &mut Consumer, n: usize) -> Vec<TopicPartition> {
    within("assignment", async {
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(50), member.recv()).await;
            if member.assignment().len() == n {
                return member.assignment();
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_group_rebalances_onto_new_partitions() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("regrouped", 1).await;
    let mut config = member_config(&broker.bootstrap(), Backend::Native, "regroup");
    config.client.metadata_max_age = Duration::from_millis(200);
    let mut member = Consumer::new(config).await.expect("consumer");
    member.subscribe(&["regrouped"]).await.expect("subscribe");
    assert_eq!(
        wait_for(&mut member, 1).await,
        [TopicPartition::new("regrouped", 0)]
    );
    assert_eq!(grow(&mut client, "regrouped", 3, None, false).await.0, 0);
    let mut now = wait_for(&mut member, 3).await;
    now.sort_by_key(|tp| tp.partition);
    assert_eq!(
        now.iter().map(|tp| tp.partition).collect::<Vec<_>>(),
        [0, 1, 2],
        "the leader noticed the new partitions and the group rebalanced"
    );
    member.close().await.expect("close");
    broker.stop().await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_admin_creates_partitions() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::ClientConfig;

    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("rdk-grown", 1).await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("admin client");
    let opts = AdminOptions::new();
    let done = admin
        .create_partitions(&[NewPartitions::new("rdk-grown", 5)], &opts)
        .await
        .expect("create_partitions");
    assert!(done[0].is_ok(), "{done:?}");
    let again = admin
        .create_partitions(&[NewPartitions::new("rdk-grown", 5)], &opts)
        .await
        .expect("create_partitions answers");
    assert!(
        matches!(
            &again[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::InvalidPartitions))
        ),
        "{again:?}"
    );
    assert_eq!(partition_count(&mut client, "rdk-grown").await, 5);
    broker.stop().await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_librdkafka_group_rebalances_onto_new_partitions() {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::ClientConfig;

    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("rdk-regrouped", 1).await;
    let bootstrap = broker.bootstrap();
    // librdkafka's consumer runs on its own threads; poll it off the runtime.
    let member = tokio::task::spawn_blocking(move || {
        let member: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "rdk-regroup")
            .set("topic.metadata.refresh.interval.ms", "300")
            .create()
            .expect("rdkafka consumer");
        member.subscribe(&["rdk-regrouped"]).expect("subscribe");
        member
    })
    .await
    .expect("consumer created");
    let owned = |member: BaseConsumer, n: usize| {
        tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + minikafka_testkit::WAIT;
            while std::time::Instant::now() < deadline {
                let _ = member.poll(Duration::from_millis(50));
                let count = member.assignment().map(|a| a.count()).unwrap_or(0);
                if count == n {
                    return (member, count);
                }
            }
            let count = member.assignment().map(|a| a.count()).unwrap_or(0);
            (member, count)
        })
    };
    let (member, count) = owned(member, 1).await.expect("polled");
    assert_eq!(count, 1, "the first assignment");
    assert_eq!(
        grow(&mut client, "rdk-regrouped", 3, None, false).await.0,
        0
    );
    let (member, count) = owned(member, 3).await.expect("polled");
    assert_eq!(
        count, 3,
        "librdkafka noticed the new partitions and rejoined"
    );
    tokio::task::spawn_blocking(move || drop(member))
        .await
        .expect("closed");
    broker.stop().await;
}
