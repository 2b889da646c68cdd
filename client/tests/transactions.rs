//! The transactional producer on both backends against our broker: commit and abort,
//! consume-transform-produce with the group's offsets in the transaction, and a second
//! instance with the same `transactional.id` fencing the first.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use minikafka_client::{
    Backend, Consumer, ConsumerEvent, Error, IsolationLevel, Offset, PartitionReader, Producer,
    ProducerConfig, ProducerRecord,
};
use minikafka_testkit::wire::Client;
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    ;
    // Reads the group's committed offsets from our broker.
    ours_only: committed_and_aborted_transactions,
    consume_transform_produce_commits_the_offsets_with_the_records,
    a_second_instance_fences_the_first,
);

fn transactional(cluster: &Cluster, backend: Backend, id: &str) -> ProducerConfig {
    let mut config = cluster.producer_config(backend);
    config.set("transactional.id", id).unwrap();
    config.set("linger.ms", "1").unwrap();
    config
}

/// Every value of `topic`[`partition`] a reader at `isolation` gets, until quiet.
async fn read(
    cluster: &Cluster,
    backend: Backend,
    topic: &str,
    partition: i32,
    isolation: IsolationLevel,
) -> Vec<String> {
    let mut config = cluster.reader_config(backend);
    config.isolation_level = isolation;
    let mut reader = within(
        "assign",
        PartitionReader::assign(config, topic, partition, Offset::Earliest),
    )
    .await
    .unwrap();
    let mut values = Vec::new();
    while let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), reader.next()).await {
        values.push(String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned());
    }
    values
}

fn send(topic: &str, partition: i32, value: &str) -> ProducerRecord {
    ProducerRecord::new(topic)
        .partition(partition)
        .value(value.to_string())
}

async fn committed_and_aborted_transactions(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "tx", 2).await;
    let p = Producer::new(transactional(cluster, backend, "tx-client"))
        .await
        .unwrap();
    // Sending outside a transaction is refused.
    assert!(p.send(send("tx", 0, "outside")).await.is_err());
    p.init_transactions().await.unwrap();
    assert!(p.send(send("tx", 0, "outside")).await.is_err());
    p.begin_transaction().await.unwrap();
    for (i, v) in ["c0", "c1", "c2"].iter().enumerate() {
        p.send(send("tx", i as i32 % 2, v)).await.unwrap();
    }
    p.commit_transaction().await.unwrap();
    p.begin_transaction().await.unwrap();
    p.send(send("tx", 0, "a0")).await.unwrap();
    p.send(send("tx", 1, "a1")).await.unwrap();
    p.abort_transaction().await.unwrap();
    p.begin_transaction().await.unwrap();
    p.send(send("tx", 1, "c3")).await.unwrap();
    p.commit_transaction().await.unwrap();
    p.close().await;

    let committed = IsolationLevel::ReadCommitted;
    assert_eq!(
        read(cluster, backend, "tx", 0, committed).await,
        ["c0", "c2"]
    );
    assert_eq!(
        read(cluster, backend, "tx", 1, committed).await,
        ["c1", "c3"]
    );
    let all = IsolationLevel::ReadUncommitted;
    assert_eq!(
        read(cluster, backend, "tx", 0, all).await,
        ["c0", "c2", "a0"]
    );
    assert_eq!(
        read(cluster, backend, "tx", 1, all).await,
        ["c1", "a1", "c3"]
    );
}

async fn consume_transform_produce_commits_the_offsets_with_the_records(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "ctp-in", 1).await;
    cluster.create_topic(backend, "ctp-out", 1).await;
    let plain = Producer::new(cluster.producer_config(backend))
        .await
        .unwrap();
    for i in 0..10 {
        plain.send(send("ctp-in", 0, &i.to_string())).await.unwrap();
    }
    plain.close().await;

    let mut config = cluster.member_config(backend, "ctp");
    config.set("enable.auto.commit", "false").unwrap();
    config.set("isolation.level", "read_committed").unwrap();
    let mut consumer = Consumer::new(config).await.unwrap();
    consumer.subscribe(&["ctp-in"]).await.unwrap();
    let p = Producer::new(transactional(cluster, backend, "ctp-tx"))
        .await
        .unwrap();
    p.init_transactions().await.unwrap();
    let mut done = 0;
    while done < 10 {
        let event = within("a record", consumer.recv()).await.unwrap();
        let ConsumerEvent::Record(r) = event else {
            continue;
        };
        let n: i64 = String::from_utf8_lossy(&r.value.unwrap_or_default())
            .parse()
            .unwrap();
        p.begin_transaction().await.unwrap();
        p.send(send("ctp-out", 0, &(n * 100).to_string()))
            .await
            .unwrap();
        p.send_offsets_to_transaction(
            &[("ctp-in".to_string(), 0, r.offset + 1)],
            &consumer.group_metadata(),
        )
        .await
        .unwrap();
        // Every third one is aborted, and redone from the start of the next loop.
        if n % 3 == 2 && done == n {
            p.abort_transaction().await.unwrap();
            p.begin_transaction().await.unwrap();
            p.send(send("ctp-out", 0, &(n * 100).to_string()))
                .await
                .unwrap();
            p.send_offsets_to_transaction(
                &[("ctp-in".to_string(), 0, r.offset + 1)],
                &consumer.group_metadata(),
            )
            .await
            .unwrap();
        }
        p.commit_transaction().await.unwrap();
        done = r.offset + 1;
    }
    p.close().await;
    within("close", consumer.close()).await.unwrap();

    let out = read(
        cluster,
        backend,
        "ctp-out",
        0,
        IsolationLevel::ReadCommitted,
    )
    .await;
    let expected: Vec<String> = (0..10).map(|n| (n * 100).to_string()).collect();
    assert_eq!(out, expected, "each input once in the output");
    // The group's committed offset is the end of the input.
    let mut c = Client::connect(cluster.broker().addr()).await;
    assert_eq!(committed_offset(&mut c, "ctp", "ctp-in").await, 10);
}

async fn committed_offset(c: &mut Client, group: &str, topic: &str) -> i64 {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse};
    use kafka_protocol::protocol::StrBytes;
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(minikafka_testkit::wire::topic_name(topic))
            .with_partition_indexes(vec![0])]))
        .with_require_stable(true);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &req).await;
    r.topics[0].partitions[0].committed_offset
}

async fn a_second_instance_fences_the_first(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "zombie", 1).await;
    let first = Producer::new(transactional(cluster, backend, "same-id"))
        .await
        .unwrap();
    first.init_transactions().await.unwrap();
    first.begin_transaction().await.unwrap();
    first
        .send(send("zombie", 0, "from-the-zombie"))
        .await
        .unwrap();

    let second = Producer::new(transactional(cluster, backend, "same-id"))
        .await
        .unwrap();
    second.init_transactions().await.unwrap();
    second.begin_transaction().await.unwrap();
    second
        .send(send("zombie", 0, "from-the-successor"))
        .await
        .unwrap();
    second.commit_transaction().await.unwrap();

    let outcome = first.commit_transaction().await;
    assert!(
        matches!(
            outcome,
            Err(Error::ProducerFailed { .. } | Error::Transaction { .. } | Error::Kafka { .. })
        ),
        "the zombie's commit must fail: {outcome:?}"
    );
    first.close().await;
    second.close().await;
    assert_eq!(
        read(cluster, backend, "zombie", 0, IsolationLevel::ReadCommitted).await,
        ["from-the-successor"]
    );
}
