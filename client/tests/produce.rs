//! Black-box tests of the producer: partitioning, acks, batching, retries and errors.
//! Each scenario is written once as `async fn(Backend, &mut Cluster)` and runs per backend
//! against our broker on 127.0.0.1:0, and with rdkafka against librdkafka's mock cluster.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use minikafka_client::partitioner::partition_for_key;
use minikafka_client::{
    Acks, Admin, Backend, Error, Header, KafkaCode, Offset, Producer, ProducerRecord,
};
use minikafka_testkit::cluster::read_n;
use minikafka_testkit::disk::stored_batches;
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    keyed_records_land_on_murmur2_partitions_and_read_back_in_order,
    every_acks_level_delivers,
    auto_created_topic_gets_the_broker_default_partitions,
    keyless_records_are_spread_and_all_delivered,
    producer_reconnects_after_a_broker_restart,
    retries_run_out_with_the_network_error,
    send_after_close_fails,
    a_batch_over_the_broker_limit_fails_with_message_too_large,
    explicit_partition_outside_the_topic_is_refused,
    compressed_batches_round_trip_through_the_broker,
    concurrent_senders_keep_per_key_order,
    expired_metadata_is_fetched_again_between_sends;
    // These count the batches stored in our broker's data directory.
    ours_only: linger_batches_records_and_flush_sends_them,
    small_batch_size_sends_one_batch_per_record;
    // librdkafka does not send lingering batches early when its queue is full, and names
    // the limit queue.buffering.max.kbytes: this tests the native accumulator only.
    native_only: a_full_buffer_makes_send_wait_and_sends_without_lingering,
);

async fn keyed_records_land_on_murmur2_partitions_and_read_back_in_order(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "orders", 3).await;

    let producer = Producer::new(cluster.producer_config(backend))
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
            cluster,
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
}

async fn every_acks_level_delivers(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "acks-0", 1).await;
    cluster.create_topic(backend, "acks-1", 1).await;
    cluster.create_topic(backend, "acks-all", 1).await;
    for (acks, topic) in [
        (Acks::None, "acks-0"),
        (Acks::Leader, "acks-1"),
        (Acks::All, "acks-all"),
    ] {
        let mut config = cluster.producer_config(backend);
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
        let read = read_n(cluster, backend, topic, 0, Offset::Earliest, 5).await;
        let values: Vec<_> = read.iter().map(|r| r.value.clone().unwrap()).collect();
        let expected: Vec<Bytes> = (0..5).map(|i| Bytes::from(i.to_string())).collect();
        assert_eq!(values, expected, "{acks:?}");
    }
}

async fn linger_batches_records_and_flush_sends_them(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "lingering", 1).await;
    let mut config = cluster.producer_config(backend);
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
    let dir = cluster.broker().data_dir();
    assert_eq!(stored_batches(dir, "lingering", 0), vec![(0, 10)]);
}

async fn small_batch_size_sends_one_batch_per_record(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "tiny", 1).await;
    let mut config = cluster.producer_config(backend);
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
    assert_eq!(
        stored_batches(cluster.broker().data_dir(), "tiny", 0),
        vec![(0, 1), (1, 1), (2, 1), (3, 1)]
    );
}

async fn auto_created_topic_gets_the_broker_default_partitions(
    backend: Backend,
    cluster: &mut Cluster,
) {
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    let meta = within(
        "send",
        producer.send(ProducerRecord::new("fresh").key("user_1").value("x")),
    )
    .await
    .expect("first send auto-creates the topic");
    let partitions = cluster.default_partitions();
    assert_eq!(meta.partition, partition_for_key(b"user_1", partitions));
    let admin = Admin::new(cluster.client_config(backend)).await.unwrap();
    let topics = admin.describe_topics(&["fresh"]).await.unwrap().topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), partitions as usize);
    producer.close().await;
}

async fn keyless_records_are_spread_and_all_delivered(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "keyless", 3).await;
    let mut config = cluster.producer_config(backend);
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
    // Our sticky partitioner moves on after `batch_size` bytes. librdkafka's moves on
    // after `sticky.partitioning.linger.ms` of time instead, so a fast run may put all
    // 60 on one partition: only the native backend's choice is deterministic.
    if backend == Backend::Native {
        assert!(
            per_partition.len() > 1,
            "sticky partitioning moves on: {per_partition:?}"
        );
    }
    producer.close().await;
    let mut total = 0;
    for (p, offsets) in &per_partition {
        let read = read_n(
            cluster,
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
}

async fn producer_reconnects_after_a_broker_restart(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "bounce", 1).await;
    let mut config = cluster.producer_config(backend);
    config.client.retry_backoff = Duration::from_millis(50);
    config.client.retries = 100;
    let producer = Producer::new(config).await.expect("producer");
    let first = producer
        .send(ProducerRecord::new("bounce").partition(0).value("before"))
        .await
        .unwrap();
    assert_eq!(first.offset, 0);

    // Same address, same data: the open connection is dead, the producer must reconnect.
    cluster.stop().await;
    cluster.start_again().await;
    let second = within(
        "send after restart",
        producer.send(ProducerRecord::new("bounce").partition(0).value("after")),
    )
    .await
    .expect("delivered after reconnecting");
    assert_eq!(second.offset, 1);
    producer.close().await;
    let read = read_n(cluster, backend, "bounce", 0, Offset::Earliest, 2).await;
    assert_eq!(read[0].value, Some(Bytes::from("before")));
    assert_eq!(read[1].value, Some(Bytes::from("after")));
}

async fn retries_run_out_with_the_network_error(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "gone", 1).await;
    let mut config = cluster.producer_config(backend);
    config.client.retries = 2;
    config.client.retry_backoff = Duration::from_millis(10);
    let producer = Producer::new(config).await.expect("producer");
    producer
        .send(ProducerRecord::new("gone").partition(0).value("a"))
        .await
        .unwrap();
    let addr = cluster.bootstrap();
    cluster.stop().await;
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

async fn send_after_close_fails(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "closing", 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
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
    let producer = Producer::new(cluster.producer_config(backend))
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
}

async fn a_batch_over_the_broker_limit_fails_with_message_too_large(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "big", 1).await;
    let mut config = cluster.producer_config(backend);
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
}

async fn explicit_partition_outside_the_topic_is_refused(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "two", 2).await;
    let producer = Producer::new(cluster.producer_config(backend))
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
}

async fn compressed_batches_round_trip_through_the_broker(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "gzip", 1).await;
    cluster.create_topic(backend, "snappy", 1).await;
    cluster.create_topic(backend, "lz4", 1).await;
    cluster.create_topic(backend, "zstd", 1).await;
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let mut config = cluster.producer_config(backend);
        config.set("compression.type", codec).unwrap();
        // Nothing is sent by time: one batch per codec, sent by flush (checked on our
        // broker's disk below).
        config.linger = Duration::from_secs(3600);
        let producer = Producer::new(config).await.unwrap();
        let mut futures = Vec::new();
        for i in 0..20 {
            let r = ProducerRecord::new(codec)
                .partition(0)
                .key(format!("k{i}"))
                .value(format!("{codec} value {i} ").repeat(10))
                .header("i", i.to_string());
            futures.push(producer.enqueue(r).await.unwrap());
        }
        producer.flush().await;
        for (i, f) in futures.into_iter().enumerate() {
            assert_eq!(
                within("delivery", f).await.expect("delivered").offset,
                i as i64
            );
        }
        producer.close().await;
        let read = read_n(cluster, backend, codec, 0, Offset::At(3), 17).await;
        for (n, r) in read.iter().enumerate() {
            let i = n + 3;
            assert_eq!(r.offset, i as i64, "{codec}");
            assert_eq!(r.key, Some(Bytes::from(format!("k{i}"))), "{codec}");
            assert_eq!(
                r.value,
                Some(Bytes::from(format!("{codec} value {i} ").repeat(10)))
            );
            assert_eq!(r.headers, vec![Header::new("i", i.to_string())], "{codec}");
        }
    }
    if cluster.is_mock() {
        return; // the batches on disk are our broker's to show
    }
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        assert_eq!(
            stored_batches(cluster.broker().data_dir(), codec, 0),
            vec![(0, 20)],
            "{codec}"
        );
    }
}

async fn concurrent_senders_keep_per_key_order(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "ordered", 3).await;
    let mut config = cluster.producer_config(backend);
    config.batch_size = 300; // many small batches, so ordering across batches matters
    let producer = std::sync::Arc::new(Producer::new(config).await.unwrap());
    let mut tasks = Vec::new();
    for task in 0..4 {
        let producer = producer.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("task-{task}");
            let mut futures = Vec::new();
            for seq in 0..100 {
                let r = ProducerRecord::new("ordered")
                    .key(key.clone())
                    .value(format!("{seq}"));
                futures.push(producer.enqueue(r).await.expect("enqueue"));
            }
            let mut offsets = Vec::new();
            for f in futures {
                offsets.push(f.await.expect("delivered").offset);
            }
            (key, offsets)
        }));
    }
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let mut keys = Vec::new();
    for t in tasks {
        let (key, offsets) = within("task", t).await.expect("task");
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "{key}: offsets grow with send order"
        );
        *per_partition
            .entry(partition_for_key(key.as_bytes(), 3))
            .or_default() += offsets.len();
        keys.push(key);
    }
    producer.close().await;
    for (partition, count) in per_partition {
        let read = read_n(
            cluster,
            backend,
            "ordered",
            partition,
            Offset::Earliest,
            count,
        )
        .await;
        for key in &keys {
            let values: Vec<u32> = read
                .iter()
                .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
                .map(|r| {
                    std::str::from_utf8(r.value.as_ref().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect();
            if !values.is_empty() {
                assert_eq!(values, (0..100).collect::<Vec<u32>>(), "{key} in order");
            }
        }
    }
}

async fn expired_metadata_is_fetched_again_between_sends(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "aging", 2).await;
    let mut config = cluster.producer_config(backend);
    config.set("metadata.max.age.ms", "0").unwrap(); // every send asks for metadata again
    let producer = Producer::new(config).await.unwrap();
    for i in 0..3 {
        let m = within(
            "send",
            producer.send(ProducerRecord::new("aging").key("k").value("v")),
        )
        .await
        .expect("delivered");
        assert_eq!((m.partition, m.offset), (partition_for_key(b"k", 2), i));
    }
    producer.close().await;
}

async fn a_full_buffer_makes_send_wait_and_sends_without_lingering(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "tight", 1).await;
    let mut config = cluster.producer_config(backend);
    config.set("buffer.memory", "1000").unwrap();
    // Only a full buffer can make these go out before close: linger never expires.
    config.linger = Duration::from_secs(3600);
    let producer = Producer::new(config).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..40 {
        let r = ProducerRecord::new("tight")
            .partition(0)
            .value(vec![b'x'; 100 + i]);
        futures.push(
            within("enqueue into a full buffer", producer.enqueue(r))
                .await
                .expect("room"),
        );
    }
    // 40 records of ~120 bytes went through a 1000-byte buffer, so earlier batches were sent
    // without waiting for linger; the last batch still lingers until flush.
    within("flush", producer.flush()).await;
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(
            within("delivery", f).await.expect("delivered").offset,
            i as i64
        );
    }
    let err = producer
        .send(
            ProducerRecord::new("tight")
                .partition(0)
                .value(vec![0u8; 2000]),
        )
        .await
        .expect_err("larger than the whole buffer");
    assert!(err.to_string().contains("buffer.memory"), "{err}");
    producer.close().await;
    let read = read_n(cluster, backend, "tight", 0, Offset::Earliest, 40).await;
    assert!(read
        .iter()
        .enumerate()
        .all(|(i, r)| r.value.as_ref().unwrap().len() == 100 + i));
}
