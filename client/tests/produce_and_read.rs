//! Black-box tests of the producer, the partition reader and the admin client against a real
//! broker on 127.0.0.1:0. Each scenario is written once as `async fn(Backend)`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::{stored_batches, within, TestBroker};
use minikafka_client::partitioner::partition_for_key;
use minikafka_client::{
    Acks, Admin, Backend, ConsumerRecord, Error, Header, KafkaCode, Offset, PartitionReader,
    Producer, ProducerRecord,
};

backend_tests!(
    keyed_records_land_on_murmur2_partitions_and_read_back_in_order,
    every_acks_level_delivers,
    linger_batches_records_and_flush_sends_them,
    small_batch_size_sends_one_batch_per_record,
    reader_starts_at_the_requested_offset_inside_a_batch,
    reader_from_latest_sees_only_new_records,
    auto_created_topic_gets_the_broker_default_partitions,
    keyless_records_are_spread_and_all_delivered,
    admin_creates_lists_and_deletes_topics,
    unreachable_bootstrap_gives_a_clear_error,
    reading_past_the_end_is_offset_out_of_range,
    send_after_close_fails,
    producer_reconnects_after_a_broker_restart,
    retries_run_out_with_the_network_error,
    reader_works_as_a_stream,
    thousands_of_records_round_trip_through_small_fetches,
    unknown_topic_without_auto_create_is_a_clear_error,
    a_batch_over_the_broker_limit_fails_with_message_too_large,
    explicit_partition_outside_the_topic_is_refused,
);

/// Read exactly `n` records from `topic[partition]`, starting at `start`.
async fn read_n(
    broker: &TestBroker,
    backend: Backend,
    topic: &str,
    partition: i32,
    start: Offset,
    n: usize,
) -> Vec<ConsumerRecord> {
    let mut reader = within(
        "assign",
        PartitionReader::assign(broker.reader_config(backend), topic, partition, start),
    )
    .await
    .expect("assign");
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(within("next record", reader.next()).await.expect("record"));
    }
    out
}

async fn keyed_records_land_on_murmur2_partitions_and_read_back_in_order(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let admin = Admin::new(broker.client_config(backend))
        .await
        .expect("admin");
    admin.create_topic("orders", 3).await.expect("create topic");

    let producer = Producer::new(broker.producer_config(backend))
        .await
        .expect("producer");
    let mut futures = Vec::new();
    for i in 0..90u32 {
        let key = format!("key-{}", i % 10);
        let record = ProducerRecord::new("orders")
            .key(key.clone())
            .value(format!("value-{i}"))
            .header("seq", i.to_string())
            .header("source", "test");
        futures.push((
            i,
            key,
            within("enqueue", producer.enqueue(record))
                .await
                .expect("enqueue"),
        ));
    }
    let mut sent: BTreeMap<i32, Vec<(i64, u32, String)>> = BTreeMap::new();
    for (i, key, f) in futures {
        let meta = within("delivery", f).await.expect("delivered");
        assert_eq!(meta.topic, "orders");
        assert_eq!(
            meta.partition,
            partition_for_key(key.as_bytes(), 3),
            "{key}"
        );
        sent.entry(meta.partition)
            .or_default()
            .push((meta.offset, i, key));
    }
    producer.close().await;

    for (partition, records) in &sent {
        let read = read_n(
            &broker,
            backend,
            "orders",
            *partition,
            Offset::Earliest,
            records.len(),
        )
        .await;
        for (n, (r, (offset, i, key))) in read.iter().zip(records).enumerate() {
            assert_eq!(r.offset, n as i64, "offsets are dense from 0");
            assert_eq!(
                r.offset, *offset,
                "delivery report matches the stored offset"
            );
            assert_eq!(r.topic, "orders");
            assert_eq!(r.partition, *partition);
            assert_eq!(r.key.as_deref(), Some(key.as_bytes()));
            assert_eq!(r.value, Some(Bytes::from(format!("value-{i}"))));
            assert_eq!(
                r.headers,
                vec![
                    Header::new("seq", i.to_string()),
                    Header::new("source", "test")
                ]
            );
            assert!(r.timestamp > 0);
        }
    }
    assert_eq!(sent.values().map(Vec::len).sum::<usize>(), 90);
    broker.shutdown().await;
}

async fn every_acks_level_delivers(backend: Backend) {
    let broker = TestBroker::start(1).await;
    for (acks, topic) in [
        (Acks::None, "acks-0"),
        (Acks::Leader, "acks-1"),
        (Acks::All, "acks-all"),
    ] {
        let mut config = broker.producer_config(backend);
        config.acks = acks;
        let producer = Producer::new(config).await.expect("producer");
        for i in 0..5 {
            let meta = within(
                "send",
                producer.send(
                    ProducerRecord::new(topic)
                        .partition(0)
                        .value(format!("{i}")),
                ),
            )
            .await
            .expect("send");
            if acks == Acks::None {
                assert_eq!(meta.offset, -1, "acks=0 has no broker answer, so no offset");
            } else {
                assert_eq!(meta.offset, i, "{acks:?}");
            }
        }
        producer.close().await;
        let read = read_n(&broker, backend, topic, 0, Offset::Earliest, 5).await;
        let values: Vec<_> = read.iter().map(|r| r.value.clone().unwrap()).collect();
        let expected: Vec<Bytes> = (0..5).map(|i| Bytes::from(i.to_string())).collect();
        assert_eq!(values, expected, "{acks:?}");
    }
    broker.shutdown().await;
}

async fn linger_batches_records_and_flush_sends_them(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let mut config = broker.producer_config(backend);
    // Nothing is sent by time: only flush() sends, so all ten must share one batch.
    config.linger = Duration::from_secs(3600);
    config.batch_size = 1024 * 1024;
    let producer = Producer::new(config).await.expect("producer");
    let mut futures = Vec::new();
    for i in 0..10 {
        let r = ProducerRecord::new("lingering")
            .partition(0)
            .value(format!("v{i}"));
        futures.push(producer.enqueue(r).await.expect("enqueue"));
    }
    within("flush", producer.flush()).await;
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(
            within("delivery", f).await.expect("delivered").offset,
            i as i64
        );
    }
    producer.close().await;
    let dir = broker.shutdown().await;
    assert_eq!(stored_batches(dir.path(), "lingering", 0), vec![(0, 10)]);
}

async fn small_batch_size_sends_one_batch_per_record(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let mut config = broker.producer_config(backend);
    config.linger = Duration::from_secs(3600);
    config.batch_size = 1; // every record fills a batch on its own
    let producer = Producer::new(config).await.expect("producer");
    let mut futures = Vec::new();
    for i in 0..4 {
        let r = ProducerRecord::new("tiny")
            .partition(0)
            .value(format!("v{i}"));
        futures.push(producer.enqueue(r).await.expect("enqueue"));
    }
    for f in futures {
        within("delivery", f).await.expect("delivered");
    }
    producer.close().await;
    let dir = broker.shutdown().await;
    assert_eq!(
        stored_batches(dir.path(), "tiny", 0),
        vec![(0, 1), (1, 1), (2, 1), (3, 1)]
    );
}

async fn reader_starts_at_the_requested_offset_inside_a_batch(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let mut config = broker.producer_config(backend);
    config.linger = Duration::from_secs(3600);
    let producer = Producer::new(config).await.expect("producer");
    let mut futures = Vec::new();
    for i in 0..10 {
        futures.push(
            producer
                .enqueue(
                    ProducerRecord::new("mid")
                        .partition(0)
                        .value(format!("v{i}")),
                )
                .await
                .unwrap(),
        );
    }
    producer.flush().await;
    for f in futures {
        within("delivery", f).await.expect("delivered");
    }
    // The broker returns the whole batch (offsets 0..9); the reader must skip 0..4.
    let read = read_n(&broker, backend, "mid", 0, Offset::At(5), 5).await;
    let offsets: Vec<i64> = read.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![5, 6, 7, 8, 9]);
    assert_eq!(read[0].value, Some(Bytes::from("v5")));
    producer.close().await;
    broker.shutdown().await;
}

async fn reader_from_latest_sees_only_new_records(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .expect("producer");
    for i in 0..3 {
        producer
            .send(
                ProducerRecord::new("latest")
                    .partition(0)
                    .value(format!("old-{i}")),
            )
            .await
            .unwrap();
    }
    let mut reader =
        PartitionReader::assign(broker.reader_config(backend), "latest", 0, Offset::Latest)
            .await
            .expect("assign");
    assert_eq!(reader.position(), 3);
    producer
        .send(ProducerRecord::new("latest").partition(0).value("new"))
        .await
        .unwrap();
    let r = within("next", reader.next()).await.expect("record");
    assert_eq!((r.offset, r.value), (3, Some(Bytes::from("new"))));
    producer.close().await;
    broker.shutdown().await;
}

async fn auto_created_topic_gets_the_broker_default_partitions(backend: Backend) {
    let broker = TestBroker::start(4).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .expect("producer");
    let meta = within(
        "send",
        producer.send(ProducerRecord::new("fresh").key("user_1").value("x")),
    )
    .await
    .expect("first send auto-creates the topic");
    assert_eq!(meta.partition, partition_for_key(b"user_1", 4));
    let admin = Admin::new(broker.client_config(backend)).await.unwrap();
    let topics = admin.describe_topics(&["fresh"]).await.unwrap().topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 4);
    producer.close().await;
    broker.shutdown().await;
}

async fn keyless_records_are_spread_and_all_delivered(backend: Backend) {
    let broker = TestBroker::start(3).await;
    let mut config = broker.producer_config(backend);
    config.batch_size = 200; // sticky moves on after ~200 bytes
    let producer = Producer::new(config).await.expect("producer");
    let mut futures = Vec::new();
    for i in 0..60 {
        futures.push(
            producer
                .enqueue(ProducerRecord::new("keyless").value(format!("value-{i:04}")))
                .await
                .unwrap(),
        );
    }
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for f in futures {
        let m = within("delivery", f).await.expect("delivered");
        assert!((0..3).contains(&m.partition));
        per_partition.entry(m.partition).or_default().push(m.offset);
    }
    assert!(
        per_partition.len() > 1,
        "sticky partitioning moves on: {per_partition:?}"
    );
    producer.close().await;
    let mut total = 0;
    for (p, offsets) in &per_partition {
        let read = read_n(
            &broker,
            backend,
            "keyless",
            *p,
            Offset::Earliest,
            offsets.len(),
        )
        .await;
        assert_eq!(read.iter().map(|r| r.offset).collect::<Vec<_>>(), *offsets);
        total += read.len();
    }
    assert_eq!(total, 60);
    broker.shutdown().await;
}

async fn admin_creates_lists_and_deletes_topics(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let admin = Admin::new(broker.client_config(backend))
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
    broker.shutdown().await;
}

async fn unreachable_bootstrap_gives_a_clear_error(backend: Backend) {
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

async fn reading_past_the_end_is_offset_out_of_range(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .unwrap();
    producer
        .send(ProducerRecord::new("short").partition(0).value("only"))
        .await
        .unwrap();
    let mut reader =
        PartitionReader::assign(broker.reader_config(backend), "short", 0, Offset::At(1000))
            .await
            .expect("assign");
    let err = within("next", reader.next())
        .await
        .expect_err("out of range");
    assert!(
        matches!(
            err,
            Error::OffsetOutOfRange {
                offset: 1000,
                partition: 0,
                ..
            }
        ),
        "{err}"
    );
    producer.close().await;
    broker.shutdown().await;
}

async fn send_after_close_fails(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .unwrap();
    producer
        .send(ProducerRecord::new("closing").value("a"))
        .await
        .unwrap();
    producer.close().await;
    let err = producer
        .send(ProducerRecord::new("closing").value("b"))
        .await
        .expect_err("closed");
    assert!(matches!(err, Error::ProducerClosed), "{err}");
    // Duplicate header keys are refused rather than silently collapsed.
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .unwrap();
    let err = producer
        .send(
            ProducerRecord::new("closing")
                .value("c")
                .header("h", "1")
                .header("h", "2"),
        )
        .await
        .expect_err("duplicate header");
    assert!(
        err.to_string().contains("header `h` appears twice"),
        "{err}"
    );
    producer.close().await;
    broker.shutdown().await;
}

async fn producer_reconnects_after_a_broker_restart(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let addr = broker.bootstrap();
    let mut config = broker.producer_config(backend);
    config.client.retry_backoff = Duration::from_millis(50);
    config.client.retries = 100;
    let producer = Producer::new(config).await.expect("producer");
    let first = producer
        .send(ProducerRecord::new("bounce").partition(0).value("before"))
        .await
        .unwrap();
    assert_eq!(first.offset, 0);

    // Same address, same data: the open connection is dead, the producer must reconnect.
    let dir = broker.shutdown().await;
    let broker = TestBroker::start_at(&addr, dir, 1).await;
    let second = within(
        "send after restart",
        producer.send(ProducerRecord::new("bounce").partition(0).value("after")),
    )
    .await
    .expect("delivered after reconnecting");
    assert_eq!(second.offset, 1);
    producer.close().await;
    let read = read_n(&broker, backend, "bounce", 0, Offset::Earliest, 2).await;
    assert_eq!(read[0].value, Some(Bytes::from("before")));
    assert_eq!(read[1].value, Some(Bytes::from("after")));
    broker.shutdown().await;
}

async fn retries_run_out_with_the_network_error(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let mut config = broker.producer_config(backend);
    config.client.retries = 2;
    config.client.retry_backoff = Duration::from_millis(10);
    let producer = Producer::new(config).await.expect("producer");
    producer
        .send(ProducerRecord::new("gone").partition(0).value("a"))
        .await
        .unwrap();
    let addr = broker.bootstrap();
    broker.shutdown().await;
    let err = within(
        "send to a stopped broker",
        producer.send(ProducerRecord::new("gone").partition(0).value("b")),
    )
    .await
    .expect_err("no broker to deliver to");
    assert!(err.is_retriable(), "a network error: {err:?}");
    assert!(err.to_string().contains(&addr), "names the broker: {err}");
    producer.close().await;
}

async fn reader_works_as_a_stream(backend: Backend) {
    use futures::StreamExt;
    let broker = TestBroker::start(1).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .unwrap();
    for i in 0..3 {
        producer
            .send(
                ProducerRecord::new("streamed")
                    .partition(0)
                    .key(format!("k{i}")),
            )
            .await
            .unwrap();
    }
    producer.close().await;
    let reader = PartitionReader::assign(
        broker.reader_config(backend),
        "streamed",
        0,
        Offset::Earliest,
    )
    .await
    .unwrap();
    let records: Vec<_> = within("stream", reader.into_stream().take(3).collect::<Vec<_>>()).await;
    let keys: Vec<_> = records
        .into_iter()
        .map(|r| r.unwrap().key.unwrap())
        .collect();
    assert_eq!(
        keys,
        vec![Bytes::from("k0"), Bytes::from("k1"), Bytes::from("k2")]
    );
    broker.shutdown().await;
}

async fn thousands_of_records_round_trip_through_small_fetches(backend: Backend) {
    let broker = TestBroker::start(3).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in 0..5000u32 {
        // Values of varying length, some empty and some null, so batches differ in size.
        let value = match i % 50 {
            0 => None,
            1 => Some(Bytes::new()),
            n => Some(Bytes::from(vec![(i % 251) as u8; (n as usize) * 7])),
        };
        let mut record = ProducerRecord::new("volume").key(format!("key-{}", i % 97));
        record.value = value.clone();
        futures.push((
            record.key.clone().unwrap(),
            value,
            producer.enqueue(record).await.unwrap(),
        ));
    }
    let mut expected: BTreeMap<i32, Vec<(Bytes, Option<Bytes>)>> = BTreeMap::new();
    for (key, value, f) in futures {
        let m = within("delivery", f).await.expect("delivered");
        assert_eq!(m.partition, partition_for_key(&key, 3));
        let list = expected.entry(m.partition).or_default();
        assert_eq!(m.offset, list.len() as i64, "offsets dense per partition");
        list.push((key, value));
    }
    producer.close().await;

    for (partition, records) in &expected {
        // A small per-partition limit makes responses end in partial batches.
        let mut config = broker.reader_config(backend);
        config.max_partition_fetch_bytes = 3000;
        let mut reader = PartitionReader::assign(config, "volume", *partition, Offset::Earliest)
            .await
            .unwrap();
        for (offset, (key, value)) in records.iter().enumerate() {
            let r = within("next", reader.next()).await.expect("record");
            assert_eq!(r.offset, offset as i64);
            assert_eq!(r.key.as_ref(), Some(key));
            assert_eq!(&r.value, value, "{partition}@{offset}");
        }
    }
    broker.shutdown().await;
}

async fn unknown_topic_without_auto_create_is_a_clear_error(backend: Backend) {
    let broker = TestBroker::start_without_auto_create().await;
    let mut config = broker.producer_config(backend);
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
            broker.reader_config(backend),
            "missing",
            0,
            Offset::Earliest,
        ),
    )
    .await
    .expect_err("topic does not exist");
    assert!(matches!(err, Error::UnknownTopic { .. }), "{err:?}");
    producer.close().await;
    broker.shutdown().await;
}

async fn a_batch_over_the_broker_limit_fails_with_message_too_large(backend: Backend) {
    let broker = TestBroker::start(1).await;
    let mut config = broker.producer_config(backend);
    config.batch_size = 4 * 1024 * 1024;
    let producer = Producer::new(config).await.unwrap();
    let big = vec![7u8; 2 * 1024 * 1024]; // the broker's max.message.bytes is 1 MiB
    let err = within(
        "send",
        producer.send(ProducerRecord::new("big").partition(0).value(big)),
    )
    .await
    .expect_err("too large");
    assert!(
        matches!(
            err,
            Error::Kafka {
                code: KafkaCode::MessageTooLarge,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("big[0]"), "{err}");
    // The partition is usable afterwards, and nothing of the rejected batch was stored.
    let ok = producer
        .send(ProducerRecord::new("big").partition(0).value("small"))
        .await
        .unwrap();
    assert_eq!(ok.offset, 0);
    producer.close().await;
    broker.shutdown().await;
}

async fn explicit_partition_outside_the_topic_is_refused(backend: Backend) {
    let broker = TestBroker::start(2).await;
    let producer = Producer::new(broker.producer_config(backend))
        .await
        .unwrap();
    let err = producer
        .send(ProducerRecord::new("two").partition(2).value("x"))
        .await
        .expect_err("partition 2 of 2");
    assert!(
        matches!(
            err,
            Error::InvalidPartition {
                partition: 2,
                count: 2,
                ..
            }
        ),
        "{err:?}"
    );
    producer.close().await;
    broker.shutdown().await;
}
