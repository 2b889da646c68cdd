//! Black-box test of `BrokerHandle::snapshot` (`snapshot.rs`), what the dashboard's
//! `/api/state` and the tour read: a real broker on 127.0.0.1:0, a known workload over
//! the wire (a topic, produces that roll a tiny segment, a group that joins, syncs and
//! commits), then the snapshot; then a restart, after which the group is known only by
//! its commits. And transactions, with the native client's transactional producer: the
//! last stable offset and the open transaction while one is open, then after a commit
//! and an abort, beside the coordinator's state of the transactional id.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, OffsetCommitResponse, SyncGroupResponse};
use minikafka_broker::group::assignment::Assigned;
use minikafka_broker::snapshot::{
    AbortedTxnView, OpenTxnView, PartitionView, Snapshot, TransactionView,
};
use minikafka_client::{Admin, Backend, NewTopic, Producer, ProducerRecord};
use minikafka_testkit::groups::{
    assignment, commit_errors, commit_req, join_new_over_wire, sync_req, TOPIC,
};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::{client_config, producer_config, within, TestBroker};

const GROUP: &str = "snapshot-group";

#[tokio::test]
async fn snapshot_after_a_known_workload_and_a_restart() {
    // Segments of at most 200 bytes: each batch of partition 0 below rolls a new one.
    let mut broker = TestBroker::builder()
        .config(|c| c.log.segment_bytes = 200)
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic(TOPIC, 3).await;
    // Timestamps of now: records from 1970 would go at the restart's retention check.
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    for _ in 0..3 {
        let batch = wire::batch(&[(Some("a"), &"x".repeat(100)), (Some("a"), "2")], now_ms);
        assert_eq!(c.produce(TOPIC, 0, batch).await.error_code, 0);
    }
    let batch = wire::batch(
        &[(None, "1"), (None, "2"), (None, "3"), (None, "4")],
        now_ms,
    );
    assert_eq!(c.produce(TOPIC, 1, batch).await.error_code, 0);

    let session = Duration::from_secs(30);
    let joined = join_new_over_wire(&mut c, GROUP, &["range"], session).await;
    let id = joined.member_id.to_string();
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let mine = assignment(&[(TOPIC, &[0, 2])]);
    let synced: SyncGroupResponse = c
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(GROUP, &id, 1, &[(&id, mine)]),
        )
        .await;
    assert_eq!(synced.error_code, 0);
    let committed: OffsetCommitResponse = c
        .call(
            ApiKey::OffsetCommit,
            8,
            &commit_req(GROUP, &id, 1, &[(0, 5, ""), (1, 4, "")]),
        )
        .await;
    assert_eq!(commit_errors(&committed), vec![(0, 0), (1, 0)]);

    let now = broker.handle().unwrap().snapshot();
    let names: Vec<&str> = now.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["__consumer_offsets", TOPIC]);
    assert!(now.topics[0].internal);
    let topic = &now.topics[1];
    assert!(!topic.internal);
    let ends: Vec<(i32, i64, i64)> = topic
        .partitions
        .iter()
        .map(|p| (p.partition, p.log_start_offset, p.log_end_offset))
        .collect();
    assert_eq!(ends, [(0, 0, 6), (1, 0, 4), (2, 0, 0)]);
    // Partition 0 rolled before each append that would not fit: one segment per batch,
    // the last one active.
    let p0 = &topic.partitions[0];
    let bases: Vec<i64> = p0.segments.iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 2, 4], "{p0:?}");
    assert_eq!(p0.segments[1].next_offset, 4);
    assert_eq!(
        p0.segments[1].file,
        format!("{TOPIC}-0/00000000000000000002.log")
    );
    let on_disk = std::fs::metadata(broker.data_dir().join(&p0.segments[1].file)).unwrap();
    assert_eq!(p0.segments[1].size_bytes, on_disk.len());
    assert_eq!(
        p0.size_bytes,
        p0.segments.iter().map(|s| s.size_bytes).sum::<u64>()
    );

    assert_eq!(now.groups.len(), 1);
    let g = &now.groups[0];
    assert_eq!(
        (g.group_id.as_str(), g.state.as_str(), g.generation),
        (GROUP, "Stable", 1)
    );
    assert_eq!(g.leader.as_deref(), Some(id.as_str()));
    assert_eq!(g.protocol.as_deref(), Some("range"));
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_id, id);
    assert_eq!(g.members[0].session_timeout_ms, 30_000);
    assert_eq!(
        g.members[0].assignment,
        [Assigned {
            topic: TOPIC.to_string(),
            partitions: vec![0, 2]
        }]
    );
    let offsets: Vec<(i32, i64, Option<i64>)> = g
        .offsets
        .iter()
        .map(|o| (o.partition, o.committed_offset, o.lag))
        .collect();
    assert_eq!(offsets, [(0, 5, Some(1)), (1, 4, Some(0))]);
    // Taking a snapshot changes nothing.
    assert_eq!(broker.handle().unwrap().snapshot(), now);

    // After a restart, membership is gone but the commits are replayed.
    drop(c);
    broker.restart().await.unwrap();
    let after = broker.handle().unwrap().snapshot();
    assert_eq!(after.topics, now.topics);
    let g = &after.groups[0];
    assert_eq!(
        (g.state.as_str(), g.generation, g.members.len()),
        ("Empty", 0, 0)
    );
    assert_eq!(g.offsets, now.groups[0].offsets);
    broker.stop().await;
}

#[tokio::test]
async fn retention_never_deletes_committed_offsets() {
    // Broker-wide retention of 100 bytes, checked every 50 ms, and 200-byte segments:
    // any ordinary topic would lose all but its active segment. `__consumer_offsets`
    // (compacted, so retention leaves it alone) keeps every commit.
    let broker = TestBroker::builder()
        .config(|c| {
            c.log.segment_bytes = 200;
            c.offsets_topic_segment_bytes = 200;
            c.log.retention_bytes = Some(100);
            c.retention_check_interval = Duration::from_millis(50);
        })
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic(TOPIC, 1).await;
    for offset in 1..=10 {
        // A simple consumer's commit (no membership: generation -1).
        let committed: OffsetCommitResponse = c
            .call(
                ApiKey::OffsetCommit,
                8,
                &commit_req(GROUP, "", -1, &[(0, offset, "")]),
            )
            .await;
        assert_eq!(commit_errors(&committed), vec![(0, 0)]);
    }
    // Several retention checks later...
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = broker.handle().unwrap().snapshot();
    let offsets = now.topics.iter().find(|t| t.internal).unwrap();
    let log = &offsets.partitions[0];
    assert!(
        log.segments.len() > 1,
        "the commits rolled segments: {log:?}"
    );
    assert_eq!(
        log.log_start_offset, 0,
        "retention deleted commits: {log:?}"
    );
    assert_eq!(log.log_end_offset, 10);
    drop(c);
    broker.stop().await;
}

#[tokio::test]
async fn retention_deletes_nothing_from_a_compact_only_topic() {
    // Two topics with 200-byte segments, 1 ms retention and old records; retention is
    // checked every 50 ms. `cleanup.policy=delete` loses every closed segment;
    // `cleanup.policy=compact` (Connect's configs, Schema Registry's `_schemas`) keeps
    // them all, as Kafka does.
    let broker = TestBroker::builder()
        .config(|c| c.retention_check_interval = Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(broker.addr()).await;
    for (topic, policy) in [("kept", "compact"), ("deleted", "delete")] {
        let configs = [
            ("cleanup.policy", policy),
            ("retention.ms", "1"),
            ("segment.bytes", "200"),
        ];
        assert_eq!(c.create_topic_with(topic, 1, &configs).await, 0);
        for _ in 0..3 {
            let batch = wire::batch(&[(Some("k"), &"x".repeat(120))], 1_000);
            assert_eq!(c.produce(topic, 0, batch).await.error_code, 0);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = broker.handle().unwrap().snapshot();
    let log = |name: &str| {
        let t = now.topics.iter().find(|t| t.name == name).unwrap();
        let p = &t.partitions[0];
        (p.log_start_offset, p.segments.len())
    };
    assert_eq!(log("kept"), (0, 3), "compact only: every segment stays");
    assert_eq!(
        log("deleted"),
        (2, 1),
        "delete: only the active segment stays"
    );
    drop(c);
    broker.stop().await;
}

/// Partition 0 of `topic`, and the state of `id` at the transaction coordinator.
fn tx_views(s: &Snapshot, topic: &str, id: &str) -> (PartitionView, TransactionView) {
    let p = s
        .topics
        .iter()
        .find(|t| t.name == topic)
        .unwrap()
        .partitions[0]
        .clone();
    let t = s
        .transactions
        .iter()
        .find(|t| t.transactional_id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", s.transactions))
        .clone();
    (p, t)
}

#[tokio::test]
async fn transactions_hold_the_last_stable_offset_until_they_end() {
    let broker = TestBroker::start().await.unwrap();
    let admin = Admin::new(client_config(&broker.bootstrap(), Backend::Native))
        .await
        .unwrap();
    admin
        .create_topics(&[NewTopic::new("tx", 1)])
        .await
        .unwrap();
    let record = |v: &str| ProducerRecord::new("tx").partition(0).value(v.to_string());
    // Offset 0: a record outside any transaction.
    let plain = Producer::new(producer_config(&broker.bootstrap(), Backend::Native))
        .await
        .unwrap();
    plain.send(record("plain")).await.unwrap();
    plain.close().await;
    let none = broker.handle().unwrap().snapshot();
    assert!(none.transactions.is_empty(), "{:?}", none.transactions);
    let p = &none
        .topics
        .iter()
        .find(|t| t.name == "tx")
        .unwrap()
        .partitions[0];
    assert_eq!((p.high_watermark, p.last_stable_offset), (1, 1));

    let mut config = producer_config(&broker.bootstrap(), Backend::Native);
    config.set("transactional.id", "snap-tx").unwrap();
    config.set("transaction.timeout.ms", "30000").unwrap();
    let tx = Producer::new(config).await.unwrap();
    within("init_transactions", tx.init_transactions())
        .await
        .unwrap();
    let (_, t) = tx_views(&broker.handle().unwrap().snapshot(), "tx", "snap-tx");
    assert_eq!(
        (t.state.as_str(), t.producer_epoch, t.timeout_ms, t.start_ms),
        ("Empty", 0, 30_000, None)
    );
    assert!(t.partitions.is_empty());
    let pid = t.producer_id;

    // Open: offsets 1 and 2 are written, the LSO stays at 1.
    tx.begin_transaction().await.unwrap();
    tx.send(record("t1")).await.unwrap();
    tx.send(record("t2")).await.unwrap();
    let open = broker.handle().unwrap().snapshot();
    let (p, t) = tx_views(&open, "tx", "snap-tx");
    assert_eq!((p.high_watermark, p.last_stable_offset), (3, 1), "{p:?}");
    assert_eq!(
        p.open_transactions,
        [OpenTxnView {
            producer_id: pid,
            producer_epoch: 0,
            first_offset: 1
        }]
    );
    assert!(p.aborted_transactions.is_empty());
    assert_eq!(t.state, "Ongoing");
    assert_eq!(
        t.partitions
            .iter()
            .map(|tp| (tp.topic.as_str(), tp.partition))
            .collect::<Vec<_>>(),
        [("tx", 0)]
    );
    assert!(t.start_ms.is_some_and(|s| s > 0), "{t:?}");

    // Committed: the COMMIT marker takes offset 3, and the LSO is the high watermark.
    tx.commit_transaction().await.unwrap();
    let (p, t) = tx_views(&broker.handle().unwrap().snapshot(), "tx", "snap-tx");
    assert_eq!((p.high_watermark, p.last_stable_offset), (4, 4), "{p:?}");
    assert!(p.open_transactions.is_empty(), "{p:?}");
    assert_eq!((t.state.as_str(), t.start_ms), ("CompleteCommit", None));
    assert!(t.partitions.is_empty());

    // Aborted: offset 4, its ABORT marker at 5; listed until its segment goes.
    tx.begin_transaction().await.unwrap();
    tx.send(record("a1")).await.unwrap();
    tx.abort_transaction().await.unwrap();
    let (p, t) = tx_views(&broker.handle().unwrap().snapshot(), "tx", "snap-tx");
    assert_eq!((p.high_watermark, p.last_stable_offset), (6, 6), "{p:?}");
    assert_eq!(
        p.aborted_transactions,
        [AbortedTxnView {
            producer_id: pid,
            first_offset: 4,
            last_offset: 5
        }]
    );
    assert_eq!(t.state, "CompleteAbort");
    tx.close().await;
    broker.stop().await;
}
