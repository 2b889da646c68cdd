//! Black-box tests of the partition reader: start offsets, partial batches, streams and
//! errors. Each scenario is written once as `async fn(Backend, &mut Cluster)` and runs per
//! backend against our broker on 127.0.0.1:0, and with rdkafka against librdkafka's mock
//! cluster.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use minikafka_client::partitioner::partition_for_key;
use minikafka_client::{Backend, Error, Offset, PartitionReader, Producer, ProducerRecord};
use minikafka_testkit::cluster::read_n;
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    reader_starts_at_the_requested_offset_inside_a_batch,
    reader_from_latest_sees_only_new_records,
    reading_past_the_end_is_offset_out_of_range,
    reader_works_as_a_stream,
    thousands_of_records_round_trip_through_small_fetches,
);

async fn reader_starts_at_the_requested_offset_inside_a_batch(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "mid", 1).await;
    let mut config = cluster.producer_config(backend);
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
    let read = read_n(cluster, backend, "mid", 0, Offset::At(5), 5).await;
    let offsets: Vec<i64> = read.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![5, 6, 7, 8, 9]);
    assert_eq!(read[0].value, Some(Bytes::from("v5")));
    producer.close().await;
}

async fn reader_from_latest_sees_only_new_records(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "latest", 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
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
        PartitionReader::assign(cluster.reader_config(backend), "latest", 0, Offset::Latest)
            .await
            .expect("assign");
    assert_eq!(reader.position(), 3);
    producer
        .send(ProducerRecord::new("latest").partition(0).value("new"))
        .await
        .unwrap();
    let r = within("next", reader.next()).await.expect("record");
    assert_eq!((r.offset, r.value), (3, Some(Bytes::from("new"))));
    assert_eq!(reader.high_watermark(), Some(4));
    assert_eq!(reader.position(), 4);
    producer.close().await;
}

async fn reading_past_the_end_is_offset_out_of_range(backend: Backend, cluster: &mut Cluster) {
    cluster.create_topic(backend, "short", 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .unwrap();
    producer
        .send(ProducerRecord::new("short").partition(0).value("only"))
        .await
        .unwrap();
    let mut reader =
        PartitionReader::assign(cluster.reader_config(backend), "short", 0, Offset::At(1000))
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
}

async fn reader_works_as_a_stream(backend: Backend, cluster: &mut Cluster) {
    use futures::StreamExt;
    cluster.create_topic(backend, "streamed", 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
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
        cluster.reader_config(backend),
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
}

async fn thousands_of_records_round_trip_through_small_fetches(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, "volume", 3).await;
    let producer = Producer::new(cluster.producer_config(backend))
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
        let mut config = cluster.reader_config(backend);
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
}

/// A batch that goes bad on disk after it was stored (the broker serves stored bytes as they
/// are): the native reader hands out the good batch before it, then reports the bad one,
/// and never moves past it.
#[tokio::test]
async fn native_reader_hands_out_the_good_batches_then_reports_a_corrupt_one() {
    let cluster = Cluster::ours().await;
    let backend = Backend::Native;
    cluster.create_topic(backend, "rot", 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .unwrap();
    for i in 0..3 {
        // One send at a time: three batches.
        producer
            .send(
                ProducerRecord::new("rot")
                    .partition(0)
                    .value(format!("value-{i}")),
            )
            .await
            .unwrap();
    }
    producer.close().await;

    // Flip the last byte of the second batch (inside its record), in the stored file.
    let log = cluster
        .broker()
        .data_dir()
        .join("rot-0")
        .join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&log).unwrap();
    let first_len = 12 + i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let second_len =
        12 + i32::from_be_bytes(bytes[first_len + 8..first_len + 12].try_into().unwrap()) as usize;
    bytes[first_len + second_len - 1] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();

    let mut reader =
        PartitionReader::assign(cluster.reader_config(backend), "rot", 0, Offset::Earliest)
            .await
            .unwrap();
    let first = within("next", reader.next()).await.expect("the good batch");
    assert_eq!(
        (first.offset, first.value),
        (0, Some(Bytes::from("value-0")))
    );
    for _ in 0..2 {
        let err = within("next", reader.next())
            .await
            .expect_err("the bad batch");
        assert!(
            matches!(&err, Error::Protocol { api: "Fetch", message, .. } if message.contains("CRC")),
            "{err}"
        );
        assert_eq!(reader.position(), 1, "not past the bad batch");
    }
    cluster.shut_down().await;
}
