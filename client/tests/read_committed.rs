//! `isolation.level` on both backends: a topic holds a committed transaction, an
//! aborted one and one still open (written with raw requests, testkit's `txn`), between
//! plain records. A read_committed reader and group consumer get the committed and plain
//! records only, and stop at the open transaction; a read_uncommitted one gets every data
//! record; nobody gets the markers.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use minikafka_client::{Backend, Consumer, ConsumerEvent, IsolationLevel, Offset, PartitionReader};
use minikafka_testkit::txn::{add_partitions, end, init, produce};
use minikafka_testkit::wire::{batch, producer_batch, Client};
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    ;
    // The transactions are written with raw requests to our broker.
    ours_only: readers_see_what_their_isolation_level_allows,
    a_read_committed_group_consumer_skips_aborted_records,
);

/// Offsets 0–11: plain p0; A's a0 a1 (committed); B's b0 b1 (aborted); plain p1; the two
/// markers; C's c0 (open); plain p2.
async fn write_transactions(cluster: &Cluster, topic: &str) {
    let mut c = Client::connect(cluster.broker().addr()).await;
    c.create_topic(topic, 1).await;
    let plain = |v: &'static str| batch(&[(None, v)], 1_000);
    assert_eq!(produce(&mut c, topic, plain("p0")).await, 0);
    let (_, a, ae) = init(&mut c, "A", 60_000).await;
    let (_, b, be) = init(&mut c, "B", 60_000).await;
    let (_, cc, ce) = init(&mut c, "C", 60_000).await;
    add_partitions(&mut c, "A", a, ae, &[(topic, 0)]).await;
    add_partitions(&mut c, "B", b, be, &[(topic, 0)]).await;
    assert_eq!(
        produce(&mut c, topic, producer_batch(&["a0", "a1"], a, ae, 0, true)).await,
        0
    );
    assert_eq!(
        produce(&mut c, topic, producer_batch(&["b0", "b1"], b, be, 0, true)).await,
        0
    );
    assert_eq!(produce(&mut c, topic, plain("p1")).await, 0);
    assert_eq!(end(&mut c, "A", a, ae, true).await, 0);
    assert_eq!(end(&mut c, "B", b, be, false).await, 0);
    add_partitions(&mut c, "C", cc, ce, &[(topic, 0)]).await;
    assert_eq!(
        produce(&mut c, topic, producer_batch(&["c0"], cc, ce, 0, true)).await,
        0
    );
    assert_eq!(produce(&mut c, topic, plain("p2")).await, 0);
}

/// Every value a reader at `isolation` gets within a second of quiet.
async fn read(
    cluster: &Cluster,
    backend: Backend,
    topic: &str,
    isolation: IsolationLevel,
) -> Vec<String> {
    let mut config = cluster.reader_config(backend);
    config.isolation_level = isolation;
    let mut reader = within(
        "assign",
        PartitionReader::assign(config, topic, 0, Offset::Earliest),
    )
    .await
    .unwrap();
    let mut values = Vec::new();
    while let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), reader.next()).await {
        values.push(String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned());
    }
    values
}

async fn readers_see_what_their_isolation_level_allows(backend: Backend, cluster: &mut Cluster) {
    write_transactions(cluster, "iso").await;
    assert_eq!(
        read(cluster, backend, "iso", IsolationLevel::ReadCommitted).await,
        ["p0", "a0", "a1", "p1"],
        "committed and plain records, up to the open transaction"
    );
    assert_eq!(
        read(cluster, backend, "iso", IsolationLevel::ReadUncommitted).await,
        ["p0", "a0", "a1", "b0", "b1", "p1", "c0", "p2"],
        "every data record, no marker"
    );
}

async fn a_read_committed_group_consumer_skips_aborted_records(
    backend: Backend,
    cluster: &mut Cluster,
) {
    write_transactions(cluster, "iso-group").await;
    let mut config = cluster.member_config(backend, "iso-readers");
    config.set("isolation.level", "read_committed").unwrap();
    let mut consumer = Consumer::new(config).await.unwrap();
    consumer.subscribe(&["iso-group"]).await.unwrap();
    let mut values = Vec::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
        if let ConsumerEvent::Record(r) = event.unwrap() {
            values.push(String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned());
            if values.len() == 4 {
                break;
            }
        }
    }
    assert_eq!(values, ["p0", "a0", "a1", "p1"]);
    within("close", consumer.close()).await.unwrap();
}
