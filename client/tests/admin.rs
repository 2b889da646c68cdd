//! Black-box tests of the admin client and of connection errors. Each scenario is written
//! once as `async fn(Backend, &mut Cluster)` and runs per backend against our broker on
//! 127.0.0.1:0, and with rdkafka against librdkafka's mock cluster where the mock can.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use minikafka_client::{
    Admin, Backend, Error, KafkaCode, NewTopic, Offset, PartitionReader, Producer, ProducerRecord,
};
use minikafka_testkit::{
    backend_tests, client_config, producer_config, reader_config, within, Cluster, TestBroker,
};

backend_tests!(
    admin_lists_and_describes_topics;
    // The mock cluster has no CreateTopics or DeleteTopics, and no way to turn off topic
    // auto-creation; the last scenario needs no cluster at all.
    ours_only: admin_creates_lists_and_deletes_topics,
    topic_configs_reach_the_broker,
    unknown_topic_without_auto_create_is_a_clear_error,
    unreachable_bootstrap_gives_a_clear_error,
);

async fn admin_lists_and_describes_topics(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "listed-a", 2).await;
    cluster.create_topic(backend, "listed-b", 5).await;
    let admin = Admin::new(cluster.client_config(backend))
        .await
        .expect("admin");
    let all = within("list", admin.list_topics()).await.expect("list");
    assert_eq!(all.brokers.len(), 1, "{:?}", all.brokers);
    let broker_id = all.brokers[0].id;
    for (name, partitions) in [("listed-a", 2), ("listed-b", 5)] {
        let topic = all
            .topics
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} listed: {:?}", all.topics));
        assert_eq!(topic.error, None);
        let ids: Vec<i32> = topic.partitions.iter().map(|p| p.id).collect();
        assert_eq!(ids, (0..partitions).collect::<Vec<_>>(), "{name}");
        assert!(topic.partitions.iter().all(|p| p.leader == broker_id));
    }
    let one = within("describe", admin.describe_topics(&["listed-b"]))
        .await
        .expect("describe");
    assert_eq!(one.topics.len(), 1);
    assert_eq!(one.topics[0].name, "listed-b");
    assert_eq!(one.topics[0].partitions.len(), 5);
}

async fn admin_creates_lists_and_deletes_topics(backend: Backend, cluster: &mut Cluster) {
    let broker = cluster.broker();
    let admin = Admin::new(client_config(&broker.bootstrap(), backend))
        .await
        .expect("admin");
    admin.create_topic("made", 5).await.expect("create");
    let err = admin
        .create_topic("made", 5)
        .await
        .expect_err("second create fails");
    assert!(
        matches!(
            err,
            Error::Kafka {
                code: KafkaCode::TopicAlreadyExists,
                ..
            }
        ),
        "{err}"
    );
    let all = admin.list_topics().await.expect("list");
    let made = all
        .topics
        .iter()
        .find(|t| t.name == "made")
        .expect("listed");
    assert_eq!(made.partitions.len(), 5);
    assert!(made.partitions.iter().all(|p| p.leader == 0));
    assert_eq!(all.brokers.len(), 1);
    assert_eq!(all.brokers[0].addr(), broker.bootstrap());
    admin.delete_topics(&["made"]).await.expect("delete");
    let all = admin.list_topics().await.expect("list");
    assert!(all.topics.iter().all(|t| t.name != "made"));
}

/// `NewTopic::config` is sent with CreateTopics: the broker refuses a bad value, and
/// applies a good one (`segment.bytes` small enough that every batch rolls a segment).
async fn topic_configs_reach_the_broker(backend: Backend, cluster: &mut Cluster) {
    let broker = cluster.broker();
    let admin = Admin::new(client_config(&broker.bootstrap(), backend))
        .await
        .expect("admin");
    let err = admin
        .create_topics(&[NewTopic::new("badly-configured", 1).config("segment.bytes", "1")])
        .await
        .expect_err("segment.bytes=1 is refused");
    assert!(
        matches!(
            err,
            Error::Kafka {
                code: KafkaCode::InvalidConfig,
                ..
            }
        ),
        "{err}"
    );
    admin
        .create_topics(&[NewTopic::new("small-segments", 1).config("segment.bytes", "100")])
        .await
        .expect("create with a config");
    let producer = Producer::new(producer_config(&broker.bootstrap(), backend))
        .await
        .unwrap();
    for i in 0..3 {
        let record = ProducerRecord::new("small-segments").value(format!("record {i}"));
        within("send", producer.send(record)).await.expect("sent");
    }
    producer.close().await;
    let logs = std::fs::read_dir(broker.data_dir().join("small-segments-0"))
        .expect("the partition dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .count();
    assert_eq!(logs, 3, "one segment per batch with segment.bytes=100");
}

async fn unknown_topic_without_auto_create_is_a_clear_error(backend: Backend, _: &mut Cluster) {
    let broker = TestBroker::builder()
        .partitions(1)
        .auto_create(false)
        .start()
        .await
        .expect("broker starts");
    let mut config = producer_config(&broker.bootstrap(), backend);
    config.client.retries = 2;
    config.client.retry_backoff = Duration::from_millis(10);
    let producer = Producer::new(config).await.unwrap();
    let err = within(
        "send",
        producer.send(ProducerRecord::new("missing").value("x")),
    )
    .await
    .expect_err("topic does not exist");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "topic `missing` does not exist; create it first or enable auto-creation on the broker"
    );
    let err = within(
        "assign",
        PartitionReader::assign(
            reader_config(&broker.bootstrap(), backend),
            "missing",
            0,
            Offset::Earliest,
        ),
    )
    .await
    .expect_err("topic does not exist");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    producer.close().await;
    broker.stop().await;
}

async fn unreachable_bootstrap_gives_a_clear_error(backend: Backend, _: &mut Cluster) {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut pc = minikafka_client::ProducerConfig::new(&addr);
    pc.client.backend = backend;
    let err = within("producer", Producer::new(pc))
        .await
        .expect_err("no broker");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to {addr}: is the broker running?")),
        "{err}"
    );
    let mut rc = minikafka_client::ReaderConfig::new(&addr);
    rc.client.backend = backend;
    let err = within(
        "reader",
        PartitionReader::assign(rc, "t", 0, Offset::Earliest),
    )
    .await
    .expect_err("no broker");
    assert!(err.to_string().contains("is the broker running?"), "{err}");
}
