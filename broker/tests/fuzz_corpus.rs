//! The fuzz corpus in the normal suite: every committed seed (`fuzz/corpus/<target>/`)
//! and every crash regression (`fuzz/regressions/<target>/`) goes through the same
//! entry point its `cargo fuzz` target calls (`minikafka_broker::fuzzing`), on stable,
//! so CI checks that none of them panics, without nightly or libFuzzer.
//!
//! `write_seed_corpus` (ignored) regenerates the seeds from real frames, batches and
//! segments: `cargo test -p minikafka-broker --test fuzz_corpus -- --ignored`.
//! See docs/fuzzing.md.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use minikafka_broker::config::LogConfig;
use minikafka_broker::fuzzing::{self, SegmentFiles};
use minikafka_broker::group::offset_record::{self, CommittedOffset, OffsetKey};
use minikafka_broker::log::record::{self, NewRecord};
use minikafka_broker::log::record_batch::Compression;
use minikafka_broker::log::segment::file_name;
use minikafka_broker::log::PartitionLog;
use minikafka_broker::protocol::api_versions::SUPPORTED;

const TARGETS: [&str; 4] = ["requests", "record_batch", "recovery", "offsets_records"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none when the folder is missing).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs one input through its target's entry point.
fn run(target: &str, data: &[u8]) {
    match target {
        "requests" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime")
            .block_on(fuzzing::requests(data)),
        "record_batch" => fuzzing::record_batch(data),
        "recovery" => fuzzing::recovery(data),
        "offsets_records" => fuzzing::offsets_records(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

fn replay(kind: &str) -> usize {
    let mut count = 0;
    for target in TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).expect("read corpus file");
            let outcome = std::panic::catch_unwind(|| run(target, &data));
            assert!(outcome.is_ok(), "{} panicked", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn seed_corpus_replays_without_panic() {
    let count = replay("corpus");
    assert!(
        count >= TARGETS.len(),
        "the seed corpus is missing ({count} files)"
    );
}

#[test]
fn crash_regressions_replay_without_panic() {
    replay("regressions");
}

/// The first crash the `requests` target found, end to end: a 26-byte Produce that
/// claims `i32::MAX` topics made kafka-protocol's decoder reserve hundreds of GiB, and
/// the failed allocation aborted the broker. Now (vendor/README.md) it is a decode
/// error: that connection closes, and every other client is still served.
#[tokio::test]
async fn a_bogus_array_count_closes_only_that_connection() {
    use minikafka_testkit::wire::Client;
    use minikafka_testkit::TestBroker;

    let broker = TestBroker::start().await.expect("broker starts");
    let mut bystander = Client::connect(broker.addr()).await;
    let mut request = Vec::new();
    request.extend(0i16.to_be_bytes()); // api_key: Produce
    request.extend(3i16.to_be_bytes()); // api_version 3
    request.extend(1i32.to_be_bytes()); // correlation_id
    request.extend((-1i16).to_be_bytes()); // client_id: null
    request.extend((-1i16).to_be_bytes()); // transactional_id: null
    request.extend(1i16.to_be_bytes()); // acks
    request.extend(1000i32.to_be_bytes()); // timeout_ms
    request.extend(i32::MAX.to_be_bytes()); // topic_data: "2^31 - 1 topics follow"
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend(request);

    let mut bad = Client::connect(broker.addr()).await;
    bad.send_raw(&frame).await;
    assert!(
        bad.is_closed_by_broker().await,
        "the bad connection is closed"
    );
    let resp: ApiVersionsResponse = bystander
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0, "the broker still serves");
    broker.stop().await;
}

// ---------------------------------------------------------------------------------
// The seed corpus, from real frames, batches and segments.
// ---------------------------------------------------------------------------------

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn str(s: &'static str) -> StrBytes {
    StrBytes::from_static_str(s)
}

fn sample(n: usize, keyed: bool) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            key: keyed.then(|| Bytes::from(format!("key-{}", i % 3))),
            value: Some(Bytes::from(format!("value {i}"))),
            headers: if i % 2 == 0 {
                vec![("h".into(), Some(Bytes::from_static(b"x")))]
            } else {
                Vec::new()
            },
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A frame as a client sends it: size, then header and body.
fn frame<T: Encodable>(api: ApiKey, version: i16, correlation_id: i32, body: &T) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(str("fuzz")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header encodes");
    body.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("{api:?} v{version} body encodes: {e:#}"));
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

use kafka_protocol::protocol::Encodable;

/// Frames of every version in `min..=max` of `api`, each with the default body.
fn default_frames(api: ApiKey, min: i16, max: i16) -> Vec<u8> {
    fn all<T: Encodable>(api: ApiKey, min: i16, max: i16, body: T) -> Vec<u8> {
        (min..=max)
            .flat_map(|v| frame(api, v, i32::from(v), &body))
            .collect()
    }
    match api {
        ApiKey::Produce => all(api, min, max, ProduceRequest::default().with_acks(1)),
        ApiKey::Fetch => all(api, min, max, FetchRequest::default()),
        ApiKey::ListOffsets => all(api, min, max, ListOffsetsRequest::default()),
        ApiKey::Metadata => all(api, min, max, MetadataRequest::default()),
        ApiKey::OffsetCommit => all(api, min, max, OffsetCommitRequest::default()),
        ApiKey::OffsetFetch => all(api, min, max, OffsetFetchRequest::default()),
        ApiKey::FindCoordinator => all(api, min, max, FindCoordinatorRequest::default()),
        ApiKey::JoinGroup => all(api, min, max, JoinGroupRequest::default()),
        ApiKey::Heartbeat => all(api, min, max, HeartbeatRequest::default()),
        ApiKey::LeaveGroup => all(api, min, max, LeaveGroupRequest::default()),
        ApiKey::SyncGroup => all(api, min, max, SyncGroupRequest::default()),
        ApiKey::DescribeGroups => all(api, min, max, DescribeGroupsRequest::default()),
        ApiKey::ListGroups => all(api, min, max, ListGroupsRequest::default()),
        ApiKey::ApiVersions => all(api, min, max, ApiVersionsRequest::default()),
        ApiKey::CreateTopics => all(api, min, max, CreateTopicsRequest::default()),
        ApiKey::DeleteTopics => all(api, min, max, DeleteTopicsRequest::default()),
        ApiKey::DeleteRecords => all(api, min, max, DeleteRecordsRequest::default()),
        ApiKey::InitProducerId => all(api, min, max, InitProducerIdRequest::default()),
        ApiKey::OffsetForLeaderEpoch => all(api, min, max, OffsetForLeaderEpochRequest::default()),
        ApiKey::DescribeConfigs => all(api, min, max, DescribeConfigsRequest::default()),
        ApiKey::AlterConfigs => all(api, min, max, AlterConfigsRequest::default()),
        ApiKey::CreatePartitions => all(api, min, max, CreatePartitionsRequest::default()),
        ApiKey::DeleteGroups => all(api, min, max, DeleteGroupsRequest::default()),
        ApiKey::IncrementalAlterConfigs => {
            all(api, min, max, IncrementalAlterConfigsRequest::default())
        }
        ApiKey::OffsetDelete => all(api, min, max, OffsetDeleteRequest::default()),
        ApiKey::DescribeCluster => all(api, min, max, DescribeClusterRequest::default()),
        other => panic!("{other:?} is not supported: add it here"),
    }
}

fn topic(name: &'static str) -> TopicName {
    TopicName(str(name))
}

/// One connection's life: create a topic, produce in every codec, fetch, list
/// offsets, join a group, sync, commit, fetch the commit, heartbeat, leave.
fn scenario(version_hi: bool) -> Vec<u8> {
    let v = |api: ApiKey| {
        let (_, min, max) = SUPPORTED
            .iter()
            .find(|(a, ..)| *a == api)
            .copied()
            .expect("api");
        if version_hi {
            max
        } else {
            min
        }
    };
    let mut out = Vec::new();
    let mut id = 0;
    let mut push = |api: ApiKey, frame_of: &dyn Fn(i16, i32) -> Vec<u8>| {
        id += 1;
        out.extend(frame_of(v(api), id));
    };
    push(ApiKey::CreateTopics, &|v, id| {
        frame(
            ApiKey::CreateTopics,
            v,
            id,
            &CreateTopicsRequest::default().with_topics(vec![creatable_topic("t", 2)]),
        )
    });
    for codec in CODECS {
        let batch = record::build(&sample(3, true), 1_700_000_000_000, codec);
        let request = produce("t", 0, batch);
        push(ApiKey::Produce, &|v, id| {
            frame(ApiKey::Produce, v, id, &request)
        });
    }
    push(ApiKey::Fetch, &|v, id| {
        frame(
            ApiKey::Fetch,
            v,
            id,
            &FetchRequest::default()
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic("t"))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(1)
                        .with_partition_max_bytes(1 << 20)])]),
        )
    });
    push(ApiKey::ListOffsets, &|v, id| {
        frame(
            ApiKey::ListOffsets,
            v,
            id,
            &ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]),
        )
    });
    push(ApiKey::JoinGroup, &|v, id| {
        frame(
            ApiKey::JoinGroup,
            v,
            id,
            &JoinGroupRequest::default()
                .with_group_id(GroupId(str("g")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(str("member-1"))
                .with_protocol_type(str("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(str("range"))
                    .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 1, b't']))]),
        )
    });
    push(ApiKey::SyncGroup, &|v, id| {
        frame(
            ApiKey::SyncGroup,
            v,
            id,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(str("g")))
                .with_generation_id(1)
                .with_member_id(str("member-1")),
        )
    });
    push(ApiKey::OffsetCommit, &|v, id| {
        frame(
            ApiKey::OffsetCommit,
            v,
            id,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(str("g")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(2)])]),
        )
    });
    push(ApiKey::OffsetFetch, &|v, id| {
        let request = if v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default().with_group_id(GroupId(str("g")))
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(str("g")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0])]))
        };
        frame(ApiKey::OffsetFetch, v, id, &request)
    });
    push(ApiKey::Heartbeat, &|v, id| {
        frame(
            ApiKey::Heartbeat,
            v,
            id,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(str("g")))
                .with_generation_id(1)
                .with_member_id(str("member-1")),
        )
    });
    push(ApiKey::DeleteRecords, &|v, id| {
        frame(
            ApiKey::DeleteRecords,
            v,
            id,
            &DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(2)])]),
        )
    });
    push(ApiKey::CreatePartitions, &|v, id| {
        frame(
            ApiKey::CreatePartitions,
            v,
            id,
            &CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic("t"))
                .with_count(3)]),
        )
    });
    push(ApiKey::DescribeConfigs, &|v, id| {
        frame(
            ApiKey::DescribeConfigs,
            v,
            id,
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(str("t")),
            ]),
        )
    });
    push(ApiKey::Metadata, &|v, id| {
        frame(
            ApiKey::Metadata,
            v,
            id,
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic("auto")))
            ])),
        )
    });
    push(ApiKey::DeleteTopics, &|v, id| {
        let request = if v >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_name(Some(topic("t")))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic("t")])
        };
        frame(ApiKey::DeleteTopics, v, id, &request)
    });
    out
}

fn creatable_topic(name: &'static str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
}

fn produce(name: &'static str, partition: i32, batch: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic(name))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(batch)))])])
}

fn request_seeds() {
    // Every advertised API, its default body at every version it serves.
    for &(api, min, max) in SUPPORTED {
        let frames = default_frames(api, min, max);
        write(
            "requests",
            &format!("api-{:02}-{api:?}", api as i16),
            &frames,
        );
    }
    write("requests", "scenario-min-versions", &scenario(false));
    write("requests", "scenario-max-versions", &scenario(true));
    // ApiVersions at a version the broker does not know, and an API it does not serve.
    let mut future = frame(ApiKey::ApiVersions, 3, 1, &ApiVersionsRequest::default());
    future[6..8].copy_from_slice(&99i16.to_be_bytes());
    let again = frame(ApiKey::ApiVersions, 3, 2, &ApiVersionsRequest::default());
    write("requests", "unsupported", &[future, again].concat());
}

fn batch_seeds() {
    for codec in CODECS {
        let batch = record::build(&sample(4, true), 1_700_000_000_000, codec);
        write(
            "record_batch",
            &format!("{}-keyed", codec.name()),
            &[&[0u8][..], &batch].concat(),
        );
        let keyless = record::build(&sample(2, false), 1_700_000_000_000, codec);
        let compacted = fuzzing::BATCH_COMPACTED | fuzzing::BATCH_FIX_CRC;
        write(
            "record_batch",
            &format!("{}-keyless-compacted", codec.name()),
            &[&[compacted][..], &keyless].concat(),
        );
    }
    let two = [
        record::build(&sample(1, true), 0, Compression::None),
        record::build(&sample(5, true), 0, Compression::Gzip),
    ]
    .concat();
    write("record_batch", "two-batches", &[&[0u8][..], &two].concat());
    let one = record::build(&sample(1, true), 0, Compression::None);
    write(
        "record_batch",
        "fix-length-and-crc",
        &[
            &[fuzzing::BATCH_FIX_LENGTH | fuzzing::BATCH_FIX_CRC][..],
            &one,
        ]
        .concat(),
    );
}

/// The files of a real partition directory: several segments, index entries, closed
/// cleanly, as `(base offset, .index, .timeindex, .log)`.
fn real_segments(codec: Compression, batches: usize) -> Vec<SegmentFiles> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 100,
        max_index_bytes: 4096,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).expect("open");
    for i in 0..batches {
        let batch = record::build(
            &sample(1 + i % 3, true),
            1_700_000_000_000 + i as i64,
            codec,
        );
        log.append(&batch).expect("append");
    }
    log.close().expect("close");
    let mut bases: Vec<i64> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort();
    bases
        .into_iter()
        .map(|base| {
            let read =
                |ext: &str| std::fs::read(dir.path().join(file_name(base, ext))).expect("read");
            SegmentFiles {
                base_offset: u16::try_from(base).expect("small offsets"),
                index: read("index"),
                time_index: read("timeindex"),
                log: read("log"),
            }
        })
        .collect()
}

fn recovery_seeds() {
    use fuzzing::{recovery_input, RECOVERY_CLEAN, RECOVERY_FIX_CRC, RECOVERY_POINT};
    let segs = real_segments(Compression::None, 12);
    assert!(segs.len() >= 2, "the seed log rolled");
    write(
        "recovery",
        "clean",
        &recovery_input(RECOVERY_CLEAN | 0x20, 0, 0, &segs),
    );
    write("recovery", "unclean", &recovery_input(0x20, 0, 0, &segs));
    write(
        "recovery",
        "unclean-recovery-point",
        &recovery_input(RECOVERY_POINT | 0x20, segs[1].base_offset, 0, &segs),
    );
    write(
        "recovery",
        "log-start",
        &recovery_input(fuzzing::RECOVERY_LOG_START | RECOVERY_CLEAN, 0, 3, &segs),
    );
    let zstd = real_segments(Compression::Zstd, 6);
    write(
        "recovery",
        "zstd-unclean-fix-crc",
        &recovery_input(RECOVERY_FIX_CRC, 0, 0, &zstd),
    );
    // A torn tail: the active segment cut mid-batch, with garbage after it.
    let mut torn = segs.clone();
    let last = torn.last_mut().expect("a segment");
    last.log.truncate(last.log.len() - 7);
    last.log.extend_from_slice(b"garbage!");
    write("recovery", "torn-tail", &recovery_input(0, 0, 0, &torn));
    write(
        "recovery",
        "torn-tail-clean",
        &recovery_input(RECOVERY_CLEAN, 0, 0, &torn),
    );
    // Indexes cut short or lost.
    let mut short = segs.clone();
    for s in &mut short {
        s.index.truncate(s.index.len() / 2);
        s.time_index.clear();
    }
    write(
        "recovery",
        "short-indexes-clean",
        &recovery_input(RECOVERY_CLEAN | 0x20, 0, 0, &short),
    );
    write(
        "recovery",
        "short-indexes",
        &recovery_input(0x20, 0, 0, &short),
    );
    write("recovery", "empty", &recovery_input(0, 0, 0, &[]));
}

fn offsets_seeds() {
    let key = |group: &str, topic: &str, partition: i32| OffsetKey {
        group: group.into(),
        topic: topic.into(),
        partition,
    };
    let value = |offset: i64, metadata: &str| CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: metadata.into(),
        commit_timestamp: 1_700_000_000_000,
    };
    let commit = |k: &OffsetKey, v: Option<&CommittedOffset>| NewRecord {
        key: Some(offset_record::encode_key(k)),
        value: v.map(offset_record::encode_value),
        headers: Vec::new(),
        timestamp: 1_700_000_000_000,
    };
    let (k1, k2) = (key("g", "t", 0), key("group-2", "orders", 7));
    let (v1, v2) = (value(42, ""), value(7, "meta"));
    let mut stored = record::build(
        &[commit(&k1, Some(&v1)), commit(&k2, Some(&v2))],
        0,
        Compression::None,
    );
    let second = record::build(&[commit(&k1, None)], 0, Compression::Gzip);
    let mut second = second;
    minikafka_broker::log::record_batch::set_base_offset(&mut second, 2);
    write("offsets_records", "two-commits", &stored);
    stored.extend_from_slice(&second);
    write("offsets_records", "commits-then-tombstone-gzip", &stored);
    write("offsets_records", "key", &offset_record::encode_key(&k2));
    write(
        "offsets_records",
        "value",
        &offset_record::encode_value(&v2),
    );
    // A group-metadata key (version 2), which the replay skips.
    let foreign = record::build(
        &[NewRecord {
            key: Some(Bytes::from_static(&[0, 2, 0, 1, b'g'])),
            value: Some(Bytes::from_static(&[0, 3, 0, 0])),
            headers: Vec::new(),
            timestamp: 0,
        }],
        0,
        Compression::Snappy,
    );
    write("offsets_records", "group-metadata-key", &foreign);
}

/// Regenerates `fuzz/corpus/` (run by hand; see docs/fuzzing.md).
#[test]
#[ignore]
fn write_seed_corpus() {
    request_seeds();
    batch_seeds();
    recovery_seeds();
    offsets_seeds();
}
