//! DeleteRecords, DeleteGroups and OffsetDelete against a real broker, on the wire
//! (every error Kafka gives) and through the rdkafka crate's AdminClient (with
//! `--features rdkafka`). Each deletion must survive a restart: the log start offset
//! (`log-start-offset`) and the offsets' tombstones (`__consumer_offsets`).

use std::time::Duration;

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
    GroupId, ListOffsetsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_client::{Backend, Consumer};
use minikafka_testkit::wire::{batch, list_offsets, topic_name, Client};
use minikafka_testkit::{member_config, within, TestBroker};

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// `(low_watermark, error_code)` of DeleteRecords for one partition.
async fn delete_records(
    client: &mut Client,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (i64, i16) {
    let req = DeleteRecordsRequest::default()
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(partition)
                .with_offset(offset)])])
        .with_timeout_ms(5000);
    let resp: DeleteRecordsResponse = client.call(ApiKey::DeleteRecords, 2, &req).await;
    let p = &resp.topics[0].partitions[0];
    (p.low_watermark, p.error_code)
}

fn log_files(broker: &TestBroker, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(broker.data_dir().join(dir))
        .expect("the partition directory")
        .map(|e| {
            e.expect("present")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn delete_records_moves_the_log_start_and_deletes_whole_segments() {
    let mut broker = TestBroker::builder()
        .config(|c| c.log.segment_bytes = 200)
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("trimmed", 1).await;
    // Recent timestamps: the retention check at restart must not delete anything.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_millis() as i64;
    for i in 0..6 {
        let p = client
            .produce(
                "trimmed",
                0,
                batch(
                    &[(
                        None,
                        "one hundred bytes or so, so that each batch fills most of a segment",
                    )],
                    now + i,
                ),
            )
            .await;
        assert_eq!((p.error_code, p.base_offset), (0, i));
    }
    assert_eq!(
        log_files(&broker, "trimmed-0").len(),
        6,
        "one batch per segment"
    );

    assert_eq!(
        delete_records(&mut client, "trimmed", 0, 7).await,
        (-1, 1),
        "OFFSET_OUT_OF_RANGE past the high watermark"
    );
    assert_eq!(
        delete_records(&mut client, "trimmed", 1, 0).await.1,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        delete_records(&mut client, "__consumer_offsets", 0, 0)
            .await
            .1,
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    assert_eq!(delete_records(&mut client, "trimmed", 0, 3).await, (3, 0));
    assert_eq!(
        log_files(&broker, "trimmed-0"),
        [
            "00000000000000000003.log",
            "00000000000000000004.log",
            "00000000000000000005.log"
        ]
    );
    assert_eq!(
        delete_records(&mut client, "trimmed", 0, 1).await,
        (3, 0),
        "never backwards"
    );
    let below = client.fetch("trimmed", 0, 2, 0, 1).await;
    assert_eq!(
        below.error_code, 1,
        "a fetch below the log start is OFFSET_OUT_OF_RANGE"
    );
    let at = client.fetch("trimmed", 0, 3, 0, 1).await;
    assert_eq!((at.error_code, at.log_start_offset), (0, 3));

    broker.restart().await.expect("restart");
    let mut client = Client::connect(broker.addr()).await;
    let earliest: ListOffsetsResponse = client
        .call(ApiKey::ListOffsets, 6, &list_offsets("trimmed", &[-2]))
        .await;
    assert_eq!(
        earliest.topics[0].partitions[0].offset, 3,
        "kept across a restart"
    );
    // -1: up to the high watermark. The active segment stays, emptied of readable records.
    assert_eq!(delete_records(&mut client, "trimmed", 0, -1).await, (6, 0));
    assert_eq!(
        log_files(&broker, "trimmed-0"),
        ["00000000000000000005.log"]
    );
    let p = client
        .produce("trimmed", 0, batch(&[(None, "after")], now + 9))
        .await;
    assert_eq!(p.base_offset, 6);
    // `inspect topics` reads the stored log start offset too.
    let dir = broker.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .args(["inspect", "topics"])
        .arg(dir.path())
        .output()
        .expect("run inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("partition 0: log start 6, log end 7"),
        "{text}"
    );
}

async fn commit(client: &mut Client, group: &str, topic: &str, partitions: &[i32]) {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(""))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(1)
                    })
                    .collect(),
            )]);
    let resp: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 8, &req).await;
    assert!(
        resp.topics[0].partitions.iter().all(|p| p.error_code == 0),
        "{resp:?}"
    );
}

/// The committed offset of `topic[partition]` (-1: none).
async fn committed(client: &mut Client, group: &str, topic: &str, partition: i32) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![partition])]));
    let resp: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 7, &req).await;
    resp.topics[0].partitions[0].committed_offset
}

async fn delete_groups(client: &mut Client, groups: &[&str]) -> Vec<i16> {
    let req = DeleteGroupsRequest::default()
        .with_groups_names(groups.iter().map(|g| GroupId(s(g))).collect());
    let resp: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &req).await;
    resp.results.iter().map(|r| r.error_code).collect()
}

/// `(top-level error, per-partition errors)` of OffsetDelete.
async fn offset_delete(
    client: &mut Client,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> (i16, Vec<i16>) {
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                    .collect(),
            )]);
    let resp: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &req).await;
    let parts = resp
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .collect();
    (resp.error_code, parts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_groups_and_offset_delete_answer_as_kafka() {
    let mut broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("subscribed", 1).await;
    client.create_topic("other", 2).await;

    // A live group: one member subscribed to "subscribed", offsets on both topics.
    let mut member = Consumer::new(member_config(&broker.bootstrap(), Backend::Native, "live"))
        .await
        .expect("consumer");
    member.subscribe(&["subscribed"]).await.expect("subscribe");
    within("assignment", async {
        while member.assignment().is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(50), member.recv()).await;
        }
    })
    .await;
    commit(&mut client, "idle", "other", &[0, 1]).await;
    commit(&mut client, "idle", "subscribed", &[0]).await;

    assert_eq!(
        delete_groups(&mut client, &["live", "nobody", ""]).await,
        [68, 69, 24],
        "NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, INVALID_GROUP_ID"
    );
    assert_eq!(
        offset_delete(&mut client, "live", "subscribed", &[0]).await,
        (0, vec![86]),
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    assert_eq!(
        offset_delete(&mut client, "live", "other", &[0, 9]).await,
        (0, vec![0, 3])
    );
    assert_eq!(
        offset_delete(&mut client, "nobody", "other", &[0]).await.0,
        69
    );

    // OffsetDelete on an empty group: the offset is gone, the other one stays.
    assert_eq!(
        offset_delete(&mut client, "idle", "other", &[1]).await,
        (0, vec![0])
    );
    assert_eq!(committed(&mut client, "idle", "other", 1).await, -1);
    assert_eq!(committed(&mut client, "idle", "other", 0).await, 1);

    member.close().await.expect("close");
    assert_eq!(delete_groups(&mut client, &["live", "idle"]).await, [0, 0]);
    assert_eq!(committed(&mut client, "idle", "other", 0).await, -1);
    assert_eq!(
        delete_groups(&mut client, &["idle"]).await,
        [69],
        "already gone"
    );

    broker.restart().await.expect("restart");
    let mut client = Client::connect(broker.addr()).await;
    assert_eq!(
        committed(&mut client, "idle", "subscribed", 0).await,
        -1,
        "the tombstones survive a restart"
    );
    assert_eq!(
        delete_groups(&mut client, &["idle", "live"]).await,
        [69, 69]
    );
    broker.stop().await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_admin_deletes_records_and_groups() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("rdk-trimmed", 1).await;
    for i in 0..4 {
        client
            .produce("rdk-trimmed", 0, batch(&[(None, "v")], i))
            .await;
    }
    commit(&mut client, "rdk-group", "rdk-trimmed", &[0]).await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("admin client");
    let opts = AdminOptions::new();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("rdk-trimmed", 0, Offset::Offset(2))
        .expect("present");
    let done = admin
        .delete_records(&tpl, &opts)
        .await
        .expect("delete_records");
    let elem = done
        .find_partition("rdk-trimmed", 0)
        .expect("partition in the answer");
    assert_eq!(elem.offset(), Offset::Offset(2));
    assert!(elem.error().is_ok(), "{:?}", elem.error());
    let fetched = client.fetch("rdk-trimmed", 0, 0, 0, 1).await;
    assert_eq!(fetched.log_start_offset, 2);

    let groups = admin
        .delete_groups(&["rdk-group", "rdk-nobody"], &opts)
        .await
        .expect("delete_groups");
    assert!(groups[0].is_ok(), "{groups:?}");
    assert!(
        matches!(
            &groups[1],
            Err((_, rdkafka::types::RDKafkaErrorCode::GroupIdNotFound))
        ),
        "{groups:?}"
    );
    broker.stop().await;
}
