//! Transactions on the wire, request by request (testkit's raw `wire` client): the
//! records and the offsets of one transaction become visible together at its commit;
//! an abort is reported to read_committed fetches; the coordinator's state and an
//! open transaction survive a restart; a transaction open past its timeout is aborted
//! and its producer fenced; and the errors Kafka answers.

use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use minikafka_testkit::txn::{add_offsets, add_partitions, end, init, produce, txn_commit_offset};
use minikafka_testkit::wire::{fetch_request, producer_batch, topic_name, Client};
use minikafka_testkit::{within, TestBroker};

/// OffsetFetch v7 of partition 0; (error, offset).
async fn fetch_offset(
    c: &mut Client,
    group: &str,
    topic: &str,
    require_stable: bool,
) -> (i16, i64) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![0])]))
        .with_require_stable(require_stable);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &req).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

/// Fetch v12 of partition 0 at `isolation`: (values, last stable offset, aborted
/// transactions as (producer id, first offset), high watermark).
async fn fetch(
    c: &mut Client,
    topic: &str,
    isolation: i8,
) -> (Vec<String>, i64, Option<Vec<(i64, i64)>>, i64) {
    let req = fetch_request(topic, 0, 0, 0, 0).with_isolation_level(isolation);
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &req).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    // What a client hands its application: data records, not the control records of
    // the markers.
    let mut bytes = p.records.clone().unwrap_or_default();
    let values = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
        .expect("decode")
        .into_iter()
        .flat_map(|set| set.records)
        .filter(|r| !r.control)
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect();
    let aborted = p.aborted_transactions.as_ref().map(|a| {
        a.iter()
            .map(|t| (t.producer_id.0, t.first_offset))
            .collect()
    });
    (values, p.last_stable_offset, aborted, p.high_watermark)
}

/// ListOffsets v4 LATEST of partition 0 at `isolation`.
async fn latest(c: &mut Client, topic: &str, isolation: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 4, &req).await;
    r.topics[0].partitions[0].offset
}

#[tokio::test]
async fn records_and_offsets_of_a_transaction_become_visible_together_at_its_commit() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("in", 1).await;
    c.create_topic("out", 1).await;
    let (err, pid, epoch) = init(&mut c, "transfer", 60_000).await;
    assert_eq!((err, epoch), (0, 0));
    assert_eq!(
        add_partitions(&mut c, "transfer", pid, epoch, &[("out", 0)]).await,
        vec![0]
    );
    assert_eq!(
        produce(
            &mut c,
            "out",
            producer_batch(&["a", "b"], pid, epoch, 0, true)
        )
        .await,
        0
    );

    // Open: read_committed sees nothing, read_uncommitted sees both.
    let (values, lso, aborted, hw) = fetch(&mut c, "out", 1).await;
    assert_eq!((values.len(), lso, hw), (0, 0, 2));
    assert_eq!(aborted, Some(vec![]));
    assert_eq!(fetch(&mut c, "out", 0).await.0, ["a", "b"]);
    assert_eq!(latest(&mut c, "out", 1).await, 0);
    assert_eq!(latest(&mut c, "out", 0).await, 2);

    // The offsets of what it read, in the transaction.
    assert_eq!(add_offsets(&mut c, "transfer", pid, epoch, "g").await, 0);
    assert_eq!(
        txn_commit_offset(&mut c, "transfer", pid, epoch, "g", "in", 7).await,
        0
    );
    assert_eq!(fetch_offset(&mut c, "g", "in", true).await, (88, -1)); // UNSTABLE_OFFSET_COMMIT
    assert_eq!(fetch_offset(&mut c, "g", "in", false).await, (0, -1));

    assert_eq!(end(&mut c, "transfer", pid, epoch, true).await, 0);
    let (values, lso, aborted, hw) = fetch(&mut c, "out", 1).await;
    assert_eq!(values, ["a", "b"], "the marker is not a record");
    assert_eq!((lso, hw), (3, 3));
    assert_eq!(aborted, Some(vec![]));
    assert_eq!(fetch_offset(&mut c, "g", "in", true).await, (0, 7));
    // A retry of the same EndTxn succeeds; the other way does not.
    assert_eq!(end(&mut c, "transfer", pid, epoch, true).await, 0);
    assert_eq!(end(&mut c, "transfer", pid, epoch, false).await, 48); // INVALID_TXN_STATE
    broker.stop().await;
}

#[tokio::test]
async fn an_abort_is_reported_to_read_committed_fetches_and_drops_the_offsets() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("out", 1).await;
    let (_, pid, epoch) = init(&mut c, "t", 60_000).await;
    add_partitions(&mut c, "t", pid, epoch, &[("out", 0)]).await;
    produce(
        &mut c,
        "out",
        producer_batch(&["x", "y"], pid, epoch, 0, true),
    )
    .await;
    add_offsets(&mut c, "t", pid, epoch, "g").await;
    txn_commit_offset(&mut c, "t", pid, epoch, "g", "out", 2).await;
    assert_eq!(end(&mut c, "t", pid, epoch, false).await, 0);
    let (values, lso, aborted, _) = fetch(&mut c, "out", 1).await;
    // The records are returned, with the transaction to drop them by.
    assert_eq!(values, ["x", "y"]);
    assert_eq!(lso, 3);
    assert_eq!(aborted, Some(vec![(pid, 0)]));
    assert_eq!(
        fetch(&mut c, "out", 0).await.2,
        None,
        "read_uncommitted: null list"
    );
    assert_eq!(fetch_offset(&mut c, "g", "out", true).await, (0, -1));
    // The next transaction of the same producer, sequence going on.
    add_partitions(&mut c, "t", pid, epoch, &[("out", 0)]).await;
    assert_eq!(
        produce(&mut c, "out", producer_batch(&["z"], pid, epoch, 2, true)).await,
        0
    );
    assert_eq!(end(&mut c, "t", pid, epoch, true).await, 0);
    let (values, lso, aborted, _) = fetch(&mut c, "out", 1).await;
    assert_eq!(values, ["x", "y", "z"]);
    assert_eq!(lso, 5);
    assert_eq!(aborted, Some(vec![(pid, 0)]));
    broker.stop().await;
}

#[tokio::test]
async fn an_open_transaction_and_the_coordinator_survive_a_restart() {
    let mut broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("out", 1).await;
    let (_, pid, epoch) = init(&mut c, "durable", 60_000).await;
    add_partitions(&mut c, "durable", pid, epoch, &[("out", 0)]).await;
    produce(
        &mut c,
        "out",
        producer_batch(&["kept"], pid, epoch, 0, true),
    )
    .await;
    add_offsets(&mut c, "durable", pid, epoch, "g").await;
    txn_commit_offset(&mut c, "durable", pid, epoch, "g", "out", 1).await;
    drop(c);
    broker.restart().await.unwrap();

    let mut c = Client::connect(broker.addr()).await;
    let (_, lso, _, hw) = fetch(&mut c, "out", 1).await;
    assert_eq!((lso, hw), (0, 1), "still open after the restart");
    assert_eq!(fetch_offset(&mut c, "g", "out", true).await, (88, -1));
    assert_eq!(end(&mut c, "durable", pid, epoch, true).await, 0);
    assert_eq!(fetch(&mut c, "out", 1).await.0, ["kept"]);
    assert_eq!(fetch_offset(&mut c, "g", "out", true).await, (0, 1));
    // The next InitProducerId for the id bumps the epoch it had.
    assert_eq!(init(&mut c, "durable", 60_000).await, (0, pid, epoch + 1));
    broker.stop().await;
}

#[tokio::test]
async fn a_transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let broker = TestBroker::builder()
        .config(|c| c.transaction_abort_interval = Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("out", 1).await;
    let (_, pid, epoch) = init(&mut c, "slow", 300).await;
    add_partitions(&mut c, "slow", pid, epoch, &[("out", 0)]).await;
    produce(
        &mut c,
        "out",
        producer_batch(&["late"], pid, epoch, 0, true),
    )
    .await;
    within("the coordinator to abort the transaction", async {
        while fetch(&mut c, "out", 1).await.1 < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (_, _, aborted, _) = fetch(&mut c, "out", 1).await;
    assert_eq!(aborted, Some(vec![(pid, 0)]));
    assert_eq!(end(&mut c, "slow", pid, epoch, true).await, 90); // PRODUCER_FENCED
    assert_eq!(
        produce(
            &mut c,
            "out",
            producer_batch(&["zombie"], pid, epoch, 1, true)
        )
        .await,
        47 // INVALID_PRODUCER_EPOCH: the marker carried the bumped epoch
    );
    broker.stop().await;
}

#[tokio::test]
async fn the_errors_kafka_answers() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("out", 1).await;
    // A timeout above transaction.max.timeout.ms (15 min).
    assert_eq!(init(&mut c, "t", 900_001).await.0, 50);
    let (_, pid, epoch) = init(&mut c, "t", 60_000).await;
    // An unknown partition: it and the others refused, nothing added.
    assert_eq!(
        add_partitions(&mut c, "t", pid, epoch, &[("out", 0), ("nope", 0)]).await,
        vec![55, 3]
    );
    // Ending a transaction that is not open.
    assert_eq!(end(&mut c, "t", pid, epoch, true).await, 48);
    // Offsets without AddOffsetsToTxn.
    assert_eq!(
        txn_commit_offset(&mut c, "t", pid, epoch, "g", "out", 1).await,
        48
    );
    // Another producer id, or an unknown transactional id.
    assert_eq!(
        add_partitions(&mut c, "t", pid + 1, epoch, &[("out", 0)]).await,
        vec![49]
    );
    assert_eq!(
        add_partitions(&mut c, "other", pid, epoch, &[("out", 0)]).await,
        vec![49]
    );
    // A new holder fences the old epoch.
    let (_, pid2, epoch2) = init(&mut c, "t", 60_000).await;
    assert_eq!((pid2, epoch2), (pid, epoch + 1));
    assert_eq!(
        add_partitions(&mut c, "t", pid, epoch, &[("out", 0)]).await,
        vec![90]
    );
    broker.stop().await;
}

#[tokio::test]
async fn the_admin_apis_show_producers_and_transactions() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("out", 1).await;
    let (_, pid, epoch) = init(&mut c, "hanging", 60_000).await;
    add_partitions(&mut c, "hanging", pid, epoch, &[("out", 0)]).await;
    produce(
        &mut c,
        "out",
        producer_batch(&["h0", "h1"], pid, epoch, 0, true),
    )
    .await;
    let (_, done, done_epoch) = init(&mut c, "done", 60_000).await;
    add_partitions(&mut c, "done", done, done_epoch, &[("out", 0)]).await;
    produce(
        &mut c,
        "out",
        producer_batch(&["d0"], done, done_epoch, 0, true),
    )
    .await;
    end(&mut c, "done", done, done_epoch, true).await;

    // DescribeProducers: who wrote to out-0, and the open transaction at offset 0.
    let req = DescribeProducersRequest::default().with_topics(vec![
        kafka_protocol::messages::describe_producers_request::TopicRequest::default()
            .with_name(topic_name("out"))
            .with_partition_indexes(vec![0, 7]),
    ]);
    let r: DescribeProducersResponse = c.call(ApiKey::DescribeProducers, 0, &req).await;
    let parts = &r.topics[0].partitions;
    assert_eq!(parts[1].error_code, 3, "no partition 7");
    let states: Vec<(i64, i32, i32, i64)> = parts[0]
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.current_txn_start_offset,
            )
        })
        .collect();
    let mut expected = vec![(pid, 0, 1, 0), (done, 0, 0, -1)];
    expected.sort();
    assert_eq!(states, expected);

    // DescribeTransactions: the open one with its partition, an unknown id.
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![
        minikafka_testkit::txn::tid("hanging"),
        minikafka_testkit::txn::tid("nobody"),
    ]);
    let r: DescribeTransactionsResponse = c.call(ApiKey::DescribeTransactions, 0, &req).await;
    let open = &r.transaction_states[0];
    assert_eq!(open.error_code, 0);
    assert_eq!(open.transaction_state.as_str(), "Ongoing");
    assert_eq!((open.producer_id.0, open.producer_epoch), (pid, epoch));
    assert!(open.transaction_start_time_ms > 0);
    assert_eq!(open.topics[0].partitions, vec![0]);
    assert_eq!(r.transaction_states[1].error_code, 105); // TRANSACTIONAL_ID_NOT_FOUND

    // ListTransactions: everything, then the Ongoing ones, with an unknown state name.
    let r: ListTransactionsResponse = c
        .call(
            ApiKey::ListTransactions,
            1,
            &ListTransactionsRequest::default().with_duration_filter(-1),
        )
        .await;
    let mut all: Vec<(String, String)> = r
        .transaction_states
        .iter()
        .map(|t| {
            (
                t.transactional_id.0.to_string(),
                t.transaction_state.to_string(),
            )
        })
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            ("done".to_string(), "CompleteCommit".to_string()),
            ("hanging".to_string(), "Ongoing".to_string())
        ]
    );
    let req = ListTransactionsRequest::default()
        .with_duration_filter(-1)
        .with_state_filters(vec![
            kafka_protocol::protocol::StrBytes::from_static_str("Ongoing"),
            kafka_protocol::protocol::StrBytes::from_static_str("Stuck"),
        ]);
    let r: ListTransactionsResponse = c.call(ApiKey::ListTransactions, 1, &req).await;
    assert_eq!(r.transaction_states.len(), 1);
    assert_eq!(
        r.transaction_states[0].transactional_id.0.as_str(),
        "hanging"
    );
    assert_eq!(r.unknown_state_filters.len(), 1);
    broker.stop().await;
}
