//! Compressed batches, end to end: real clients compress with each codec, the broker
//! validates the records inside and stores the batch as it came, `inspect dump` shows
//! the codec and the records, and the client reads them back; hand-made corrupt
//! compressed batches are refused with nothing stored.
//!
//! Flow: kcat / raw wire client → Produce → `record_batch::validate` (decompress, walk
//! the records) → segment → `inspect::dump` / Fetch → client.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ListOffsetsResponse};
use minikafka_broker::inspect::Shown;
use minikafka_broker::inspect::{dump, DumpReport};
use minikafka_broker::log::record::{build, NewRecord};
use minikafka_broker::log::record_batch::{self, Compression};
use minikafka_testkit::external::{kcat, run};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::TestBroker;
use tokio::process::Command;

const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// The `.log` files of partition 0 of `topic`, in offset order.
/// A batch without the two fields the broker writes on append: baseOffset (bytes 0–7)
/// and partitionLeaderEpoch (12–15). Neither is covered by the CRC.
fn but_broker_fields(batch: &[u8]) -> Vec<u8> {
    let mut b = batch.to_vec();
    b[0..8].fill(0);
    b[12..16].fill(0);
    b
}

fn segments(data_dir: &Path, topic: &str) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data_dir.join(format!("{topic}-0")))
        .expect("partition dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// `(codec, record values)` of every stored batch of partition 0, as `inspect dump`
/// reads them.
fn stored(data_dir: &Path, topic: &str) -> Vec<(String, Vec<String>)> {
    segments(data_dir, topic)
        .iter()
        .flat_map(|seg| match dump(seg, false).expect("dump") {
            DumpReport::Log(log) => log.batches,
            other => panic!("not a log: {other:?}"),
        })
        .map(|b| {
            assert!(b.crc_ok && b.error.is_none(), "{b:?}");
            let values = b
                .records
                .iter()
                .map(|r| match &r.value {
                    Some(Shown::Text(s)) => s.clone(),
                    other => format!("{other:?}"),
                })
                .collect();
            (b.compression.unwrap_or("?").to_string(), values)
        })
        .collect()
}

/// kcat 2.0.2 (librdkafka 2.0.2) compresses with every codec only because Produce v0 is
/// advertised; the batches are stored compressed, `inspect dump` shows the records
/// inside, and kcat reads them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_compresses_with_every_codec_and_reads_back() {
    let Some(kcat) = kcat() else { return };
    let broker = TestBroker::start().await.expect("broker starts");
    let bootstrap = broker.bootstrap();
    let count = 40;
    // Repetitive values, so that compressing pays and librdkafka keeps the result.
    let values: Vec<String> = (0..count)
        .map(|i| format!("{i:03} the quick brown fox jumps over the lazy dog, again and again"))
        .collect();
    let input = broker.data_dir().join("input.txt");
    std::fs::write(&input, values.join("\n") + "\n").expect("write input");
    for codec in CODECS {
        let topic = format!("kcat-{}", codec.name());
        run(Command::new(&kcat)
            .args(["-b", &bootstrap, "-t", &topic, "-p", "0", "-P"])
            .args(["-z", codec.name(), "-X", "linger.ms=100", "-l"])
            .arg(&input))
        .await;

        let batches = stored(broker.data_dir(), &topic);
        assert!(!batches.is_empty(), "{topic}: nothing stored");
        for (stored_codec, _) in &batches {
            assert_eq!(stored_codec, codec.name(), "{topic}: {batches:?}");
        }
        let inside: Vec<String> = batches.into_iter().flat_map(|(_, v)| v).collect();
        assert_eq!(
            inside, values,
            "{topic}: inspect dump shows the records inside"
        );

        let out = run(Command::new(&kcat)
            .args([
                "-b",
                &bootstrap,
                "-t",
                &topic,
                "-C",
                "-e",
                "-o",
                "beginning",
            ])
            .args(["-f", "%s\n"]))
        .await;
        let read: Vec<&str> = out.lines().collect();
        assert_eq!(read, values, "{topic}: kcat reads back");
    }
    broker.stop().await;
}

fn rec(value: &str) -> NewRecord {
    NewRecord {
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        timestamp: 1000,
        ..NewRecord::default()
    }
}

/// Rewrites the CRC of a batch the test damaged, so that only the codec can tell.
fn fix_crc(b: &mut [u8]) {
    let crc = record_batch::compute_crc(b);
    b[record_batch::CRC].copy_from_slice(&crc.to_be_bytes());
}

async fn log_end(client: &mut Client, topic: &str) -> i64 {
    let resp: ListOffsetsResponse = client
        .call(ApiKey::ListOffsets, 7, &wire::list_offsets(topic, &[-1]))
        .await;
    resp.topics[0].partitions[0].offset
}

/// A compressed batch whose payload does not decompress is CORRUPT_MESSAGE; one whose
/// records disagree with its header is INVALID_RECORD, as for an uncompressed batch.
/// Either way nothing is stored; the same batch intact is stored and read back.
#[tokio::test]
async fn corrupt_compressed_batches_are_refused_and_not_stored() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    for codec in CODECS {
        let topic = format!("bad-{}", codec.name());
        client.create_topic(&topic, 1).await;
        let good = build(&[rec("one"), rec("two"), rec("three")], 1000, codec);

        let mut garbled = good.clone();
        let end = garbled.len();
        for byte in &mut garbled[record_batch::HEADER_LEN + 4..end] {
            *byte ^= 0x5a;
        }
        fix_crc(&mut garbled);
        let r = client.produce(&topic, 0, Bytes::from(garbled)).await;
        assert_eq!(r.error_code, 2, "{topic}: CORRUPT_MESSAGE");

        let mut miscounted = good.clone();
        miscounted[record_batch::RECORD_COUNT].copy_from_slice(&4i32.to_be_bytes());
        miscounted[record_batch::LAST_OFFSET_DELTA].copy_from_slice(&3i32.to_be_bytes());
        fix_crc(&mut miscounted);
        let r = client.produce(&topic, 0, Bytes::from(miscounted)).await;
        assert_eq!(r.error_code, 87, "{topic}: INVALID_RECORD");

        assert_eq!(
            log_end(&mut client, &topic).await,
            0,
            "{topic}: nothing stored"
        );
        assert!(stored(broker.data_dir(), &topic).is_empty());

        let r = client.produce(&topic, 0, Bytes::from(good.clone())).await;
        assert_eq!(
            (r.error_code, r.base_offset),
            (0, 0),
            "{topic}: intact is stored"
        );
        // Stored and served byte for byte as produced (only baseOffset and the
        // partitionLeaderEpoch are the broker's).
        let fetched = client.fetch(&topic, 0, 0, 0, 1).await;
        let served = fetched.records.expect("records");
        assert_eq!(
            but_broker_fields(&served),
            but_broker_fields(&good),
            "{topic}: fetch never recompresses"
        );
        assert_eq!(
            stored(broker.data_dir(), &topic),
            [(
                codec.name().to_string(),
                vec!["one".into(), "two".into(), "three".into()]
            )]
        );
    }
    broker.stop().await;
}

/// Creates `topic` (one partition) with `compression.type` set.
async fn create_with_compression(client: &mut Client, topic: &str, codec: &str) {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
    use kafka_protocol::protocol::StrBytes;
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(wire::topic_name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("compression.type"))
                .with_value(Some(StrBytes::from_string(codec.to_string())))])]);
    let resp: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
}

/// `compression.type=gzip` stores gzip whatever the producer sent (Kafka's
/// LogValidator): another codec, or none, is written again as one gzip batch with
/// the same records; a gzip batch is stored as it came. `uncompressed` stores none.
#[tokio::test]
async fn a_topic_codec_is_applied_to_what_producers_send() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    create_with_compression(&mut client, "gz", "gzip").await;
    create_with_compression(&mut client, "plain", "uncompressed").await;
    let mut expected = Vec::new();
    for (i, codec) in [
        Compression::None,
        Compression::Lz4,
        Compression::Gzip,
        Compression::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let values: Vec<String> = (0..3)
            .map(|j| format!("{}-{i}-{j}", codec.name()))
            .collect();
        let recs: Vec<NewRecord> = values.iter().map(|v| rec(v)).collect();
        let sent = build(&recs, 1000, codec);
        for topic in ["gz", "plain"] {
            let r = client.produce(topic, 0, Bytes::from(sent.clone())).await;
            assert_eq!(
                (r.error_code, r.base_offset),
                (0, 3 * i as i64),
                "{topic} {codec:?}"
            );
        }
        if codec == Compression::Gzip {
            let fetched = client.fetch("gz", 0, 3 * i as i64, 0, 1).await;
            let served = fetched.records.expect("records");
            assert_eq!(
                but_broker_fields(&served),
                but_broker_fields(&sent),
                "gzip sent to a gzip topic: as it came"
            );
        }
        expected.push(values);
    }
    for (topic, codec) in [("gz", "gzip"), ("plain", "none")] {
        let batches = stored(broker.data_dir(), topic);
        assert_eq!(batches.len(), 4, "{topic}: {batches:?}");
        for ((stored_codec, values), want) in batches.iter().zip(&expected) {
            assert_eq!(stored_codec, codec, "{topic}");
            assert_eq!(values, want, "{topic}: the same records");
        }
        // Fetch serves what is stored, readable by any client.
        let fetched = client.fetch(topic, 0, 0, 0, 1).await;
        let read = wire::decode_records(fetched.records.expect("records"));
        let values: Vec<String> = read.into_iter().map(|(_, _, v)| v).collect();
        assert_eq!(values, expected.concat(), "{topic}: fetched");
    }
    broker.stop().await;
}

/// confluent-kafka (librdkafka 2.x) with every codec, and kafka-python with gzip (the
/// codec it has without extra modules): accepted, stored in the client's codec, records
/// readable by `inspect dump`, and read back by the same client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_compress_and_read_back() {
    let Some(python) = minikafka_testkit::external::python() else {
        return;
    };
    let broker = TestBroker::start().await.expect("broker starts");
    let script = minikafka_testkit::external::python_script("compression_roundtrip.py");
    let runs = [
        ("confluent", "gzip"),
        ("confluent", "snappy"),
        ("confluent", "lz4"),
        ("confluent", "zstd"),
        ("kafka-python", "gzip"),
    ];
    let specs: Vec<String> = runs.iter().map(|(c, z)| format!("{c}:{z}")).collect();
    let out = run(Command::new(python)
        .arg(script)
        .args([broker.bootstrap().as_str(), "py", "20"])
        .args(&specs))
    .await;
    assert_eq!(out.lines().count(), runs.len(), "{out}");
    for (client, codec) in runs {
        let topic = format!("py-{client}-{codec}");
        let batches = stored(broker.data_dir(), &topic);
        assert!(!batches.is_empty(), "{topic}");
        // librdkafka sends a batch uncompressed when compressing would not make it
        // smaller, which happens to a batch of one short record (the first send can
        // leave alone, before linger gathers the rest): such a batch may be `none`.
        for (stored_codec, records) in &batches {
            let alone = records.len() == 1 && client == "confluent";
            assert!(
                stored_codec == codec || (alone && stored_codec == "none"),
                "{topic}: {batches:?}"
            );
        }
        assert!(
            batches.iter().any(|(c, _)| c == codec),
            "{topic}: no {codec} batch: {batches:?}"
        );
        let inside: Vec<String> = batches.into_iter().flat_map(|(_, v)| v).collect();
        assert_eq!(inside.len(), 20, "{topic}: {inside:?}");
        assert!(inside[19].starts_with(&format!("019 {codec} ")), "{topic}");
    }
    broker.stop().await;
}

/// zstd came with Produce v7 and Fetch v10 (KIP-110): an older Produce carrying zstd,
/// and an older Fetch of a zstd topic, get UNSUPPORTED_COMPRESSION_TYPE (76), as Kafka
/// answers.
#[tokio::test]
async fn zstd_needs_produce_v7_and_fetch_v10() {
    use kafka_protocol::messages::{FetchResponse, ProduceResponse};
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    create_with_compression(&mut client, "z", "zstd").await;
    let zstd = Bytes::from(build(&[rec("z")], 1000, Compression::Zstd));
    let gzip = Bytes::from(build(&[rec("g")], 1000, Compression::Gzip));
    for (version, records, code) in [(6, zstd.clone(), 76), (6, gzip, 0), (7, zstd, 0)] {
        let resp: ProduceResponse = client
            .call(
                ApiKey::Produce,
                version,
                &wire::produce_request("z", 0, records, -1),
            )
            .await;
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, code, "Produce v{version}: {p:?}");
    }
    for (version, code) in [(9, 76), (10, 0)] {
        let resp: FetchResponse = client
            .call(
                ApiKey::Fetch,
                version,
                &wire::fetch_request("z", 0, 0, 0, 1),
            )
            .await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, code, "Fetch v{version}");
    }
    broker.stop().await;
}

/// The rdkafka crate (its bundled librdkafka, built with zlib; zstd is a crate feature
/// this workspace leaves off) with `compression.type` gzip, snappy and lz4: stored in
/// that codec with every record inside, and read back.
#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_crate_compresses_and_reads_back() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let broker = TestBroker::start().await.expect("broker starts");
    let bootstrap = broker.bootstrap();
    for codec in ["gzip", "snappy", "lz4"] {
        let topic = format!("rdk-{codec}");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("compression.type", codec)
            .set("linger.ms", "50")
            .create()
            .expect("rdkafka producer");
        let values: Vec<String> = (0..20)
            .map(|i| format!("{i:03} {codec} the quick brown fox jumps over the lazy dog"))
            .collect();
        let mut pending = Vec::with_capacity(values.len());
        for v in &values {
            let record = FutureRecord::<(), _>::to(&topic).partition(0).payload(v);
            pending.push(producer.send_result(record).expect("queue has room"));
        }
        for p in pending {
            let delivered = p.await.expect("delivered");
            assert!(delivered.is_ok(), "{topic}: {delivered:?}");
        }
        let batches = stored(broker.data_dir(), &topic);
        assert!(!batches.is_empty(), "{topic}");
        // librdkafka sends a batch uncompressed when compressing would not make it
        // smaller, which happens to a batch of one short record (the first send can
        // leave alone, before linger gathers the rest): such a batch may be `none`.
        for (stored_codec, records) in &batches {
            let alone = records.len() == 1;
            assert!(
                stored_codec == codec || (alone && stored_codec == "none"),
                "{topic}: {batches:?}"
            );
        }
        assert!(
            batches.iter().any(|(c, _)| c == codec),
            "{topic}: no {codec} batch: {batches:?}"
        );
        let inside: Vec<String> = batches.into_iter().flat_map(|(_, v)| v).collect();
        assert_eq!(inside, values, "{topic}: inspect dump");

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "unused-assign-only")
            .set("enable.auto.commit", "false")
            .create()
            .expect("rdkafka consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let read = tokio::task::spawn_blocking(move || {
            let mut read = Vec::new();
            for _ in 0..100 {
                if read.len() >= 20 {
                    break;
                }
                if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(100)) {
                    read.push(
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    );
                }
            }
            read
        })
        .await
        .expect("reader");
        assert_eq!(read, values, "{topic}: read back");
    }
    broker.stop().await;
}
