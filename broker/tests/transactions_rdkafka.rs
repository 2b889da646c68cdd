//! Transactions with librdkafka (the rdkafka crate's bundled 2.12) against minikafka:
//! a transactional producer commits one transaction and aborts another across two
//! partitions; a read_committed consumer sees only the committed records, a
//! read_uncommitted one sees both; a second producer with the same transactional id
//! fences the first; offsets sent in a transaction become visible with its commit.
//!
//! Built only with `--features rdkafka`.
#![cfg(feature = "rdkafka")]
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn producer(bootstrap: &str, id: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .set("linger.ms", "1")
        .create()
        .expect("a transactional producer")
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, partition: i32, value: &str) {
    p.send(
        BaseRecord::<(), str>::to(topic)
            .partition(partition)
            .payload(value),
    )
    .map_err(|(e, _)| e)
    .expect("queued");
}

/// Every value of `topic` (partitions 0 and 1) a consumer with `isolation` reads.
fn read_all(
    bootstrap: &str,
    topic: &str,
    isolation: &str,
    expect_at_least: usize,
) -> BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut seen = BTreeSet::new();
    let start = Instant::now();
    // Read until nothing new comes for a second (and at least what is expected).
    let mut quiet_since = Instant::now();
    while start.elapsed() < TIMEOUT {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
                quiet_since = Instant::now();
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None if seen.len() >= expect_at_least
                && quiet_since.elapsed() > Duration::from_secs(1) =>
            {
                break
            }
            None => {}
        }
    }
    seen
}

#[test]
fn committed_and_aborted_transactions_as_read_committed_and_uncommitted_consumers_see_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let broker = rt.block_on(TestBroker::start()).unwrap();
    let bootstrap = broker.bootstrap();
    rt.block_on(async {
        Client::connect(broker.addr())
            .await
            .create_topic("txn-topic", 2)
            .await;
    });

    let p = producer(&bootstrap, "tx-1");
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p.begin_transaction().unwrap();
    for i in 0..4 {
        send(&p, "txn-topic", i % 2, &format!("committed-{i}"));
    }
    p.commit_transaction(TIMEOUT).expect("commit");
    p.begin_transaction().unwrap();
    for i in 0..4 {
        send(&p, "txn-topic", i % 2, &format!("aborted-{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    p.abort_transaction(TIMEOUT).expect("abort");
    p.begin_transaction().unwrap();
    send(&p, "txn-topic", 1, "committed-last");
    p.commit_transaction(TIMEOUT).expect("commit");

    let committed = read_all(&bootstrap, "txn-topic", "read_committed", 5);
    let expected: BTreeSet<String> = (0..4)
        .map(|i| format!("committed-{i}"))
        .chain(["committed-last".to_string()])
        .collect();
    assert_eq!(
        committed, expected,
        "read_committed sees only committed records"
    );
    let everything = read_all(&bootstrap, "txn-topic", "read_uncommitted", 9);
    assert_eq!(
        everything.len(),
        9,
        "read_uncommitted sees the aborted records too: {everything:?}"
    );

    // A second producer with the same id fences the first.
    let zombie = p;
    zombie.begin_transaction().unwrap();
    send(&zombie, "txn-topic", 0, "zombie");
    let successor = producer(&bootstrap, "tx-1");
    successor
        .init_transactions(TIMEOUT)
        .expect("the successor's init_transactions");
    let fenced = zombie.commit_transaction(TIMEOUT);
    match fenced {
        Err(KafkaError::Transaction(e)) => assert!(e.is_fatal() || e.txn_requires_abort(), "{e}"),
        other => panic!("the zombie's commit should fail: {other:?}"),
    }
    let after = read_all(&bootstrap, "txn-topic", "read_committed", 5);
    assert!(
        !after.contains("zombie"),
        "the zombie's record was aborted: {after:?}"
    );
    drop(zombie);
    drop(successor);
    rt.block_on(broker.stop());
}
