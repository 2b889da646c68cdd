//! Black-box test of `--http` and `/metrics`: a real broker on 127.0.0.1:0 with HTTP on
//! (port 0 too), a known workload over the wire (creates, produces, a fetch, a group
//! that joins, syncs and commits), then a scrape over a plain HTTP/1.1 GET.
//!
//! What it pins down:
//! - the request counter by API, version and error code, and the latency histogram's
//!   count per API;
//! - log start and end offsets, segment counts and sizes per partition;
//! - the group's members and generation, its committed offsets and lag;
//! - open connections, bytes in and out, the process's CPU and memory;
//! - an unknown path answers 404, and the HTTP server stops with the broker.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, OffsetCommitResponse, SyncGroupResponse};
use minikafka_testkit::groups::{
    assignment, commit_errors, commit_req, join_new_over_wire, sync_req, TOPIC,
};
use minikafka_testkit::http::get;
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::TestBroker;
use tokio::net::TcpStream;

const GROUP: &str = "metrics-group";

/// `name{labels}` → value, for every sample line of a text exposition.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in the scrape"))
}

#[tokio::test]
async fn metrics_after_a_known_workload() {
    let broker = TestBroker::builder()
        .config(|c| c.http = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .unwrap();
    let http = broker.handle().unwrap().http_addr().expect("http is on");
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic(TOPIC, 3).await;

    // Partition 0: 3 batches of 2 records; partition 1: one batch of 4; partition 2: none.
    for _ in 0..3 {
        let batch = wire::batch(&[(Some("a"), "1"), (Some("a"), "2")], 0);
        assert_eq!(c.produce(TOPIC, 0, batch).await.error_code, 0);
    }
    let batch = wire::batch(&[(None, "1"), (None, "2"), (None, "3"), (None, "4")], 0);
    assert_eq!(c.produce(TOPIC, 1, batch).await.error_code, 0);
    // One fetch that returns data, one that finds none (the idle path, logged at debug).
    assert_eq!(c.fetch(TOPIC, 0, 0, 0, 1).await.error_code, 0);
    assert_eq!(c.fetch(TOPIC, 2, 0, 0, 1).await.error_code, 0);

    // One member joins (MEMBER_ID_REQUIRED, then generation 1), syncs and commits
    // 5 of partition 0's 6 records and all of partition 1's 4.
    let session = Duration::from_secs(30);
    let joined = join_new_over_wire(&mut c, GROUP, &["range"], session).await;
    let id = joined.member_id.to_string();
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let mine = assignment(&[(TOPIC, &[0, 1, 2])]);
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

    let (status, text) = get(http, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("# HELP kafka_server_requests "), "{text}");
    let s = samples(&text);

    // Requests by API, version and error code; one latency observation each.
    let requests = |api: &str, version: i16, code: i16| {
        format!(
            "kafka_server_requests_total{{api=\"{api}\",version=\"{version}\",error_code=\"{code}\"}}"
        )
    };
    assert_eq!(value(&s, &requests("Produce", 9, 0)), 4.0);
    assert_eq!(value(&s, &requests("CreateTopics", 7, 0)), 1.0);
    assert_eq!(value(&s, &requests("Fetch", 12, 0)), 2.0);
    assert_eq!(value(&s, &requests("JoinGroup", 5, 79)), 1.0);
    assert_eq!(value(&s, &requests("JoinGroup", 5, 0)), 1.0);
    assert_eq!(value(&s, &requests("OffsetCommit", 8, 0)), 1.0);
    assert_eq!(
        value(
            &s,
            "kafka_server_request_duration_seconds_count{api=\"Produce\"}"
        ),
        4.0
    );
    assert_eq!(
        value(
            &s,
            "kafka_server_request_duration_seconds_count{api=\"JoinGroup\"}"
        ),
        2.0
    );

    // Per partition: offsets, one segment each, bytes only where records are.
    let part = |name: &str, p: i32| format!("{name}{{topic=\"{TOPIC}\",partition=\"{p}\"}}");
    for (p, end) in [(0, 6.0), (1, 4.0), (2, 0.0)] {
        assert_eq!(value(&s, &part("kafka_log_log_start_offset", p)), 0.0);
        assert_eq!(value(&s, &part("kafka_log_log_end_offset", p)), end);
        assert_eq!(value(&s, &part("kafka_log_segments", p)), 1.0);
        let size = value(&s, &part("kafka_log_size_bytes", p));
        assert_eq!(size > 0.0, end > 0.0, "partition {p} holds {size} bytes");
    }

    // The group: one member, generation 1; committed offsets and lag.
    let group = |name: &str| format!("{name}{{group=\"{GROUP}\"}}");
    assert_eq!(value(&s, &group("kafka_consumer_group_members")), 1.0);
    assert_eq!(value(&s, &group("kafka_consumer_group_generation")), 1.0);
    let gp = |name: &str, p: i32| {
        format!("{name}{{group=\"{GROUP}\",topic=\"{TOPIC}\",partition=\"{p}\"}}")
    };
    assert_eq!(
        value(&s, &gp("kafka_consumer_group_committed_offset", 0)),
        5.0
    );
    assert_eq!(value(&s, &gp("kafka_consumer_group_lag", 0)), 1.0);
    assert_eq!(
        value(&s, &gp("kafka_consumer_group_committed_offset", 1)),
        4.0
    );
    assert_eq!(value(&s, &gp("kafka_consumer_group_lag", 1)), 0.0);

    // Connections, bytes, the process.
    assert!(value(&s, "kafka_server_connections") >= 1.0);
    assert!(value(&s, "kafka_server_bytes_in_total") > 0.0);
    assert!(value(&s, "kafka_server_bytes_out_total") > 0.0);
    assert!(value(&s, "process_cpu_seconds_total") >= 0.0);
    assert!(value(&s, "process_resident_memory_bytes") > 0.0);

    // Anything else: 404.
    let (status, _) = get(http, "/nope").await;
    assert_eq!(status, 404);

    // The HTTP server stops with the broker.
    drop(c);
    broker.stop().await;
    assert!(
        TcpStream::connect(http).await.is_err(),
        "the HTTP port still accepts after shutdown"
    );
}

#[tokio::test]
async fn the_log_cleaner_s_last_pass_is_in_the_scrape() {
    use minikafka_testkit::compaction::{create, produce, BALANCES};
    let broker = TestBroker::builder()
        .config(|c| c.http = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .unwrap();
    let http = broker.handle().unwrap().http_addr().expect("http is on");
    let bootstrap = broker.bootstrap();
    create(
        &bootstrap,
        "balances",
        &[
            ("segment.bytes", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    let produced = produce(&bootstrap, "balances", &BALANCES).await;
    let part = |name: &str| format!("{name}{{topic=\"balances\",partition=\"0\"}}");
    let before = samples(&get(http, "/metrics").await.1);
    assert!(!before.contains_key(&part("kafka_log_cleaner_cleaned_up_to_offset")));

    let reports = broker.handle().unwrap().clean_now().await.unwrap();
    let report = &reports["balances-0"];
    let s = samples(&get(http, "/metrics").await.1);
    assert_eq!(
        value(&s, &part("kafka_log_cleaner_cleaned_up_to_offset")),
        report.cleaned_up_to as f64
    );
    assert!(report.cleaned_up_to > 0 && report.cleaned_up_to < produced.len() as i64);
    let removed = report.stats.records_before - report.stats.records_after;
    assert!(removed > 0);
    assert_eq!(
        value(&s, &part("kafka_log_cleaner_records_removed")),
        removed as f64
    );
    let ratio = value(&s, &part("kafka_log_cleaner_recopy_ratio"));
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
    broker.stop().await;
}
