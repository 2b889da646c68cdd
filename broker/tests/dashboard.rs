//! Black-box tests of the live dashboard (`--http`): `/api/state` after a known
//! workload, and the page itself rendered by a real headless chromium.
//!
//! The workload ([`demo`]), over the wire with the test kit's raw client: `demo-topic`
//! with 3 partitions and `segment.bytes` = 256 (so partitions roll), 20 keyed records
//! (8, 7 and 5 per partition), and `demo-group` with two members that join together
//! (generation 1), sync (the leader takes partitions 0 and 1, the other partition 2)
//! and commit 5, 7 and 3 (lags 3, 0 and 2).
//!
//! What it pins down:
//! - `/api/state`: the topic, its partitions' offsets and segment files, the newest
//!   records' keys, the group's members, assignments, committed offsets and lag, and
//!   the events (topic created, joins, rebalances, the assignment, rolls, a leave), in
//!   order, with `?since=` returning only newer ones;
//! - `/` and its script and style sheet are served from the binary;
//! - in chromium (`--dump-dom`), the page shows the topic, its three partitions, the
//!   group, and a cursor at the committed offset that moves when the group commits
//!   further; a long log is drawn from its newest offsets, after a `…`;
//! - a screenshot is written and is not blank. Set `MINIKAFKA_DASHBOARD_PNG` to a path
//!   to keep a copy of it and look at it;
//! - a member whose session times out is a `member-expired` event (on the coordinator
//!   itself, with tokio's clock paused);
//! - a compacted topic after a cleaning pass (`BrokerHandle::clean_now`): its cleaned
//!   segments, the gaps in its offsets, its tombstone and its last pass, in
//!   `/api/state` and on the page;
//! - transactions (the native client's transactional producer): a committed, an aborted
//!   and an open one in a topic: the last stable offset, the open and aborted
//!   transactions, the markers and the coordinator's state in `/api/state`, and on the
//!   page the LSO line, the records of each, the COMMIT and ABORT cells and the
//!   Transactions panel; after the commit, no LSO line any more.
//!
//! Chromium is an external program: missing, these tests are skipped (or fail under
//! `MINIKAFKA_REQUIRE_EXTERNAL=1`, as in CI), by the test kit's one rule. Every run is
//! wrapped in `timeout`, which kills chromium's whole process group, so a hang cannot
//! block the suite.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, GroupId, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, OffsetCommitResponse, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_broker::events::EventKind;
use minikafka_client::{Admin, Backend, NewTopic, Producer, ProducerRecord};
use minikafka_testkit::compaction;
use minikafka_testkit::external;
use minikafka_testkit::groups::{
    self, assignment, commit_errors, commit_req, join_req, sync_req, TOPIC,
};
use minikafka_testkit::http::get;
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::{client_config, producer_config, within, TestBroker};
use serde_json::Value;
use tokio::process::Command;

const GROUP: &str = "demo-group";
/// The compacted topic of [`a_cleaned_segment_is_shown`].
const ACCOUNTS: &str = "accounts";
const SESSION: Duration = Duration::from_secs(120);
/// Records per partition, and the offsets the group commits.
const RECORDS: [i64; 3] = [8, 7, 5];
const COMMITTED: [i64; 3] = [5, 7, 3];

/// A broker after the workload, with the group's two members still connected.
struct Demo {
    broker: TestBroker,
    http: SocketAddr,
    leader: Client,
    leader_id: String,
    follower: Client,
    follower_id: String,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn demo() -> Demo {
    let broker = TestBroker::builder()
        .config(|c| c.http = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .unwrap();
    let http = broker.handle().unwrap().http_addr().expect("http is on");
    let mut leader = Client::connect(broker.addr()).await;
    let mut follower = Client::connect(broker.addr()).await;

    // demo-topic, 3 partitions, segments of at most 256 bytes: they roll every 2 or 3 batches.
    let topic = CreatableTopic::default()
        .with_name(wire::topic_name(TOPIC))
        .with_num_partitions(3)
        .with_replication_factor(1)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(s("segment.bytes"))
            .with_value(Some(s("256")))]);
    let created: CreateTopicsResponse = leader
        .call(
            ApiKey::CreateTopics,
            7,
            &CreateTopicsRequest::default()
                .with_topics(vec![topic])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");

    // 20 records: partition 0 in batches of 2, partition 1 one by one, partition 2 as 2 + 3.
    let keys = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
    let mut n = 0;
    let mut record = |partition: usize| {
        n += 1;
        (keys[(n + partition) % keys.len()], format!("{{\"n\":{n}}}"))
    };
    let plan: [&[usize]; 3] = [&[2, 2, 2, 2], &[1, 1, 1, 1, 1, 1, 1], &[2, 3]];
    for (partition, sizes) in plan.iter().enumerate() {
        for &size in sizes.iter() {
            let records: Vec<(&str, String)> = (0..size).map(|_| record(partition)).collect();
            let refs: Vec<(Option<&str>, &str)> = records
                .iter()
                .map(|(k, v)| (Some(*k), v.as_str()))
                .collect();
            let batch = wire::batch(&refs, now_ms());
            let answer = leader.produce(TOPIC, partition as i32, batch).await;
            assert_eq!(answer.error_code, 0);
        }
    }

    // Two members: both get their ids (MEMBER_ID_REQUIRED), then both join, and the
    // rebalance completes with both in generation 1; the first is the leader.
    let mut ids = Vec::new();
    for c in [&mut leader, &mut follower] {
        let first: JoinGroupResponse = c
            .call(
                ApiKey::JoinGroup,
                5,
                &join_req(GROUP, "", &["range"], SESSION),
            )
            .await;
        assert_eq!(first.error_code, 79);
        ids.push(first.member_id.to_string());
    }
    let (leader_id, follower_id) = (ids[0].clone(), ids[1].clone());
    leader
        .send(
            ApiKey::JoinGroup,
            5,
            &join_req(GROUP, &leader_id, &["range"], SESSION),
        )
        .await;
    follower
        .send(
            ApiKey::JoinGroup,
            5,
            &join_req(GROUP, &follower_id, &["range"], SESSION),
        )
        .await;
    for c in [&mut leader, &mut follower] {
        let (_, joined): (i32, JoinGroupResponse) = c.recv(ApiKey::JoinGroup, 5).await;
        assert_eq!((joined.error_code, joined.generation_id), (0, 1));
        assert_eq!(joined.leader.as_str(), leader_id);
    }
    let shares = [
        (leader_id.as_str(), assignment(&[(TOPIC, &[0, 1])])),
        (follower_id.as_str(), assignment(&[(TOPIC, &[2])])),
    ];
    let synced: SyncGroupResponse = leader
        .call(
            ApiKey::SyncGroup,
            5,
            &sync_req(GROUP, &leader_id, 1, &shares),
        )
        .await;
    assert_eq!(synced.error_code, 0);
    let synced: SyncGroupResponse = follower
        .call(ApiKey::SyncGroup, 5, &sync_req(GROUP, &follower_id, 1, &[]))
        .await;
    assert_eq!(synced.error_code, 0);
    let offsets: Vec<(i32, i64, &str)> = (0..3).map(|p| (p, COMMITTED[p as usize], "")).collect();
    commit(&mut leader, &leader_id, &offsets).await;
    Demo {
        broker,
        http,
        leader,
        leader_id,
        follower,
        follower_id,
    }
}

async fn commit(c: &mut Client, member_id: &str, offsets: &[(i32, i64, &str)]) {
    let committed: OffsetCommitResponse = c
        .call(
            ApiKey::OffsetCommit,
            8,
            &commit_req(GROUP, member_id, 1, offsets),
        )
        .await;
    assert!(commit_errors(&committed).iter().all(|(_, e)| *e == 0));
}

async fn state(http: SocketAddr, path: &str) -> Value {
    let (status, body) = get(http, path).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn find<'a>(list: &'a Value, field: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[field] == name)
        .unwrap_or_else(|| panic!("no {field} = {name} in {list}"))
}

#[tokio::test]
async fn api_state_after_a_known_workload() {
    let Demo {
        broker,
        http,
        leader_id,
        mut follower,
        follower_id,
        ..
    } = demo().await;
    let st = state(http, "/api/state").await;
    assert_eq!(st["broker"]["host"], "127.0.0.1");
    assert_eq!(st["broker"]["port"], broker.addr().port());

    // The topic: offsets and segment files per partition.
    let topic = find(&st["topics"], "name", TOPIC);
    assert_eq!(topic["internal"], false);
    let parts = topic["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let segment_bases: [&[i64]; 3] = [&[0, 4], &[0, 3, 6], &[0]];
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["partition"], i);
        assert_eq!(p["log_start_offset"], 0);
        assert_eq!(p["log_end_offset"], RECORDS[i]);
        assert_eq!(p["high_watermark"], RECORDS[i]);
        let bases: Vec<i64> = p["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["base_offset"].as_i64().unwrap())
            .collect();
        assert_eq!(bases, segment_bases[i], "partition {i}: {p}");
        let last = p["segments"].as_array().unwrap().last().unwrap();
        assert_eq!(last["next_offset"], RECORDS[i]);
    }
    assert_eq!(
        parts[1]["segments"][1]["file"],
        "demo-topic-1/00000000000000000003.log"
    );
    assert_eq!(
        find(&st["topics"], "name", "__consumer_offsets")["internal"],
        true
    );

    // Per partition: its settings and newest records, keys included.
    let p0 = &st["partitions"]["demo-topic-0"];
    assert_eq!(p0["segment_bytes"], 256);
    let records = p0["records"].as_array().unwrap();
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, (0..8).collect::<Vec<_>>());
    assert_eq!(records[0]["key"], "bob");
    assert_eq!(records[0]["value"], "{\"n\":1}");
    // The commits, as records of __consumer_offsets, decoded.
    let commits = st["partitions"]["__consumer_offsets-0"]["records"]
        .as_array()
        .unwrap();
    assert_eq!(commits.len(), 3);
    assert_eq!(commits[0]["key"], "demo-group demo-topic-0");
    assert_eq!(commits[0]["value"], "offset 5");
    assert_eq!(commits[2]["key"], "demo-group demo-topic-2");

    // The group: members in join order, the leader's assignment, commits and lag.
    let group = find(&st["groups"], "group_id", GROUP);
    assert_eq!(group["state"], "Stable");
    assert_eq!(group["generation"], 1);
    assert_eq!(group["protocol"], "range");
    assert_eq!(group["leader"], leader_id.as_str());
    let members = group["members"].as_array().unwrap();
    assert_eq!(members[0]["member_id"], leader_id.as_str());
    assert_eq!(members[0]["client_id"], "minikafka-test");
    assert_eq!(
        members[0]["assignment"],
        serde_json::json!([{"topic": TOPIC, "partitions": [0, 1]}])
    );
    assert_eq!(members[1]["member_id"], follower_id.as_str());
    assert_eq!(
        members[1]["assignment"],
        serde_json::json!([{"topic": TOPIC, "partitions": [2]}])
    );
    for (i, o) in group["offsets"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            (o["topic"].as_str(), o["partition"].as_i64()),
            (Some(TOPIC), Some(i as i64))
        );
        assert_eq!(o["committed_offset"], COMMITTED[i]);
        assert_eq!(o["log_end_offset"], RECORDS[i]);
        assert_eq!(o["lag"], RECORDS[i] - COMMITTED[i]);
    }

    // The events, in order, in the log lines' words.
    let events = st["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(st["last_event_seq"], *seqs.last().unwrap());
    let texts: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let position = |kind: &str, words: &str| {
        texts
            .iter()
            .position(|(k, t)| k == kind && t.contains(words))
            .unwrap_or_else(|| panic!("no {kind} event with {words:?} in {texts:#?}"))
    };
    let created = position(
        "topic-created",
        "created topic \"demo-topic\" with 3 partitions",
    );
    let rolled = position(
        "segment-rolled",
        "demo-topic-0: rolled segment 00000000000000000000.log (offsets 0 to 3,",
    );
    let joined = position("member-joined", &format!("member {leader_id} joined"));
    let joined_too = position("member-joined", &format!("member {follower_id} joined"));
    let preparing = position("rebalance", "group demo-group: Empty -> PreparingRebalance");
    let completing = position(
        "rebalance",
        "PreparingRebalance -> CompletingRebalance (all 2 members joined); generation 1",
    );
    let assigned = position("assignment", "-> generation 1; assignment:");
    let stable = position("rebalance", "CompletingRebalance -> Stable");
    assert!(created < rolled && rolled < joined, "{texts:#?}");
    assert!(joined < preparing && preparing < joined_too && joined_too < completing);
    assert!(completing < assigned && assigned < stable);
    assert!(texts[assigned]
        .1
        .contains(&format!("{follower_id}=[demo-topic-2]")));

    // `?since=` gives only what is newer; a leave shows up as one.
    let last = st["last_event_seq"].as_u64().unwrap();
    let none = state(http, &format!("/api/state?since={last}")).await;
    assert_eq!(none["events"], serde_json::json!([]));
    assert_eq!(none["last_event_seq"], last);
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s(&follower_id));
    let left: LeaveGroupResponse = follower.call(ApiKey::LeaveGroup, 1, &leave).await;
    assert_eq!(left.error_code, 0);
    let after = state(http, &format!("/api/state?since={last}")).await;
    let kinds: Vec<&str> = after["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["member-left", "rebalance"], "{after}");
    assert!(after["events"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with(&format!(
            "member {follower_id} removed (it sent LeaveGroup)"
        )));
    assert_eq!(after["events"][0]["seq"], last + 1);

    // The page and its files come from the binary.
    let (status, html) = get(http, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("<script src=\"dashboard.js\">"), "{html}");
    let (status, js) = get(http, "/dashboard.js").await;
    assert_eq!(status, 200);
    assert!(js.contains("api/state"));
    assert_eq!(get(http, "/dashboard.css").await.0, 200);
    assert_eq!(get(http, "/nope").await.0, 404);

    broker.stop().await;
}

/// Chromium, headless, with exactly the flags CI allows and a fresh profile in `profile`,
/// inside `timeout`, which kills its whole process group after 60 s.
fn chromium(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "60"])
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// The page's DOM after it has polled `/api/state` for a few (virtual) seconds.
async fn rendered_dom(browser: &Path, http: SocketAddr) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = chromium(browser, profile.path());
    cmd.args([
        "--virtual-time-budget=4000",
        "--window-size=1400,1000",
        "--dump-dom",
    ])
    .arg(format!("http://{http}/"));
    external::run(&mut cmd).await
}

/// The HTML of one partition's log of demo-topic in the rendered DOM.
fn partition_html(dom: &str, partition: i32) -> &str {
    partition_in(dom, TOPIC, partition)
}

/// The HTML of one partition's log in the rendered DOM.
fn partition_in<'a>(dom: &'a str, topic: &str, partition: i32) -> &'a str {
    let start =
        format!("class=\"partition\" data-topic=\"{topic}\" data-partition=\"{partition}\"");
    let from = dom
        .find(&start)
        .unwrap_or_else(|| panic!("no {start} in the page:\n{dom}"));
    let rest = &dom[from + start.len()..];
    let to = rest.find("class=\"partition\"").unwrap_or(rest.len());
    &rest[..to]
}

#[tokio::test]
async fn the_page_shows_the_logs_the_group_and_a_moving_cursor() {
    let Some(browser) = external::chromium() else {
        return;
    };
    let Demo {
        broker,
        http,
        mut leader,
        leader_id,
        ..
    } = demo().await;
    let dom = rendered_dom(&browser, http).await;
    assert!(dom.contains("data-status=\"live\""), "{dom}");
    assert!(dom.contains(&format!("data-topic=\"{TOPIC}\"")), "{dom}");
    assert!(
        dom.contains(&format!("class=\"group\" data-group=\"{GROUP}\"")),
        "{dom}"
    );
    for (i, end) in RECORDS.iter().enumerate() {
        let p = partition_html(&dom, i as i32);
        assert!(p.contains(&format!("data-log-end=\"{end}\"")), "{p}");
        // Every record is a cell, labelled with its offset.
        assert!(p.contains(&format!("data-offset=\"{}\"", end - 1)), "{p}");
    }
    // The cursor of the group sits at its committed offset, with the lag.
    let cursor = |committed: i64, lag: i64| {
        format!("data-group=\"{GROUP}\" data-offset=\"{committed}\" data-lag=\"{lag}\"")
    };
    assert!(partition_html(&dom, 0).contains(&cursor(5, 3)), "{dom}");
    assert!(partition_html(&dom, 2).contains(&cursor(3, 2)), "{dom}");
    assert!(dom.contains("data-kind=\"member-joined\""), "{dom}");
    assert!(dom.contains("data-kind=\"segment-rolled\""), "{dom}");

    // The group reads on and commits: the cursor moves to the log end (lag 0); a new
    // record on partition 2 appears as a cell.
    commit(&mut leader, &leader_id, &[(0, 8, "")]).await;
    let batch = wire::batch(&[(Some("heidi"), "{\"n\":21}")], now_ms());
    assert_eq!(leader.produce(TOPIC, 2, batch).await.error_code, 0);
    // Partition 1 grows to 67 records: too many to draw, so the oldest become `…`.
    let values: Vec<String> = (0..60).map(|i| format!("{{\"m\":{i}}}")).collect();
    let many: Vec<(Option<&str>, &str)> =
        values.iter().map(|v| (Some("ivan"), v.as_str())).collect();
    assert_eq!(
        leader
            .produce(TOPIC, 1, wire::batch(&many, now_ms()))
            .await
            .error_code,
        0
    );
    let dom = rendered_dom(&browser, http).await;
    assert!(partition_html(&dom, 0).contains(&cursor(8, 0)), "{dom}");
    let p2 = partition_html(&dom, 2);
    assert!(
        p2.contains("data-log-end=\"6\"") && p2.contains("data-offset=\"5\""),
        "{p2}"
    );
    assert!(p2.contains("heidi"), "{p2}");
    let p1 = partition_html(&dom, 1);
    assert!(p1.contains("class=\"ellipsis\""), "{p1}");
    assert!(
        p1.contains("class=\"cell") && p1.contains("data-offset=\"66\""),
        "{p1}"
    );
    assert!(
        !p1.contains("data-offset=\"0\""),
        "offset 0 is not drawn: {p1}"
    );
    // The cursor still shows where the group is, behind the drawn offsets, with the lag.
    assert!(p1.contains(&cursor(7, 60)), "{p1}");

    broker.stop().await;
}

#[tokio::test]
async fn screenshot_of_a_realistic_state() {
    let Some(browser) = external::chromium() else {
        return;
    };
    let demo = demo().await;
    let profile = tempfile::tempdir().unwrap();
    let png = profile.path().join("dashboard.png");
    let mut cmd = chromium(&browser, profile.path());
    cmd.args(["--virtual-time-budget=4000", "--window-size=1400,1000"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("http://{}/", demo.http));
    external::run(&mut cmd).await;
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // IHDR: width and height, big-endian, right after the signature and chunk header.
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 1000));
    // A blank or unstyled page compresses to a few KiB; the drawn dashboard does not.
    assert!(bytes.len() > 40_000, "only {} bytes", bytes.len());
    if let Some(keep) = std::env::var_os("MINIKAFKA_DASHBOARD_PNG") {
        std::fs::copy(&png, keep).unwrap();
    }
    demo.broker.stop().await;
}

/// A compacted topic after `BrokerHandle::clean_now`: `/api/state` marks the cleaned
/// segments and the last pass, and the page draws them: the segments with a `cleaned`
/// band, the gaps the cleaner left as empty offsets, the tombstone, the partition's
/// last cleaning in words, and the `segment-cleaned` event. Set
/// `MINIKAFKA_DASHBOARD_CLEANED_PNG` to a path to keep a screenshot of it.
#[tokio::test]
async fn a_cleaned_segment_is_shown() {
    let broker = TestBroker::builder()
        .config(|c| {
            c.http = Some("127.0.0.1:0".parse().unwrap());
            c.log_cleaner_backoff = Duration::from_secs(3600);
        })
        .start()
        .await
        .unwrap();
    let http = broker.handle().unwrap().http_addr().unwrap();
    let bootstrap = broker.bootstrap();
    compaction::create(
        &bootstrap,
        ACCOUNTS,
        &[
            ("segment.bytes", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    let produced = compaction::produce(&bootstrap, ACCOUNTS, &compaction::BALANCES).await;
    let reports = broker.handle().unwrap().clean_now().await.unwrap();
    let up_to = reports["accounts-0"].cleaned_up_to;
    let kept = compaction::after_cleaning(&produced, up_to, false);
    let gap = (0..up_to)
        .find(|o| !kept.iter().any(|(k, _, _)| k == o))
        .unwrap();

    // /api/state: which segments are cleaned, the last pass, the offsets read.
    let st = state(http, "/api/state").await;
    let p = &find(&st["topics"], "name", ACCOUNTS)["partitions"][0];
    assert_eq!(p["cleanup_policy"], "compact");
    let segments = p["segments"].as_array().unwrap();
    let (active, sealed) = segments.split_last().unwrap();
    assert_eq!(active["cleaned"], false);
    assert!(sealed.iter().all(|s| s["cleaned"] == true), "{p}");
    assert_eq!(p["last_clean"]["cleaned_up_to"], up_to);
    assert_eq!(p["last_clean"]["records_before"], up_to);
    assert!(p["last_clean"]["next_delete_horizon_ms"].is_i64(), "{p}");
    let extra = &st["partitions"]["accounts-0"];
    assert_eq!(
        (extra["records_from"].as_i64(), extra["records_to"].as_i64()),
        (Some(0), Some(12))
    );
    let offsets: Vec<i64> = extra["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, kept.iter().map(|(o, _, _)| *o).collect::<Vec<_>>());
    let cleaned = find(&st["events"], "kind", "segment-cleaned");
    assert!(
        cleaned["text"]
            .as_str()
            .unwrap()
            .contains("accounts-0: log cleaner"),
        "{cleaned}"
    );

    let Some(browser) = external::chromium() else {
        broker.stop().await;
        return;
    };
    let dom = rendered_dom(&browser, http).await;
    let page = partition_in(&dom, ACCOUNTS, 0);
    assert!(page.contains(&format!("data-log-end=\"{}\"", 12)), "{page}");
    assert!(page.contains("class=\"segment cleaned starts\""), "{page}");
    assert!(
        page.contains(&format!("class=\"cell gap\" data-offset=\"{gap}\"")),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "class=\"cell tombstone\" data-offset=\"{}\"",
            compaction::BALANCES_TOMBSTONE
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "class=\"clean-summary\" data-cleaned-up-to=\"{up_to}\""
        )),
        "{page}"
    );
    assert!(page.contains("records → "), "{page}");
    assert!(
        dom.contains("compacted: the latest record per key is kept"),
        "{dom}"
    );
    assert!(dom.contains("data-kind=\"segment-cleaned\""), "{dom}");

    let profile = tempfile::tempdir().unwrap();
    let png = profile.path().join("cleaned.png");
    let mut cmd = chromium(&browser, profile.path());
    cmd.args(["--virtual-time-budget=4000", "--window-size=1400,1000"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("http://{http}/"));
    external::run(&mut cmd).await;
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    if let Some(keep) = std::env::var_os("MINIKAFKA_DASHBOARD_CLEANED_PNG") {
        std::fs::copy(&png, keep).unwrap();
    }
    broker.stop().await;
}

/// The timeline's `member-expired`: a member that stops heartbeating is removed after its
/// session timeout, and that is an event (with the group's state changes after it). On
/// the coordinator directly, with tokio's clock paused.
#[tokio::test(start_paused = true)]
async fn a_session_timeout_is_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let (topics, c) = groups::open(dir.path(), &groups::config(dir.path()));
    let joined = groups::join_new(&c, "g", Duration::from_secs(6)).await;
    assert_eq!(joined.error_code, 0);
    let before = topics.events().last_seq();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let texts: Vec<(EventKind, String)> = topics
        .events()
        .since(before)
        .into_iter()
        .map(|e| (e.kind, e.text))
        .collect();
    let removed = format!(
        "group g: member {} removed (session timeout: no heartbeat for 6000 ms)",
        joined.member_id.as_str()
    );
    assert_eq!(texts[0], (EventKind::MemberExpired, removed), "{texts:#?}");
    assert_eq!(texts.last().unwrap().0, EventKind::Rebalance, "{texts:#?}");
    assert!(texts.last().unwrap().1.contains("-> Empty"), "{texts:#?}");
    c.shutdown().await;
}

/// A committed transaction (offsets 0, 1; COMMIT at 2), an aborted one (3; ABORT at 4)
/// and an open one (5, 6) in `payments`: `/api/state` and the page show the LSO at 5,
/// what happened to each record, and the transactional id Ongoing; after the commit, the
/// LSO is the high watermark again. Set `MINIKAFKA_DASHBOARD_TXN_PNG` to a path to keep
/// a screenshot of the open transaction.
#[tokio::test]
async fn transactions_and_the_last_stable_offset_are_shown() {
    let broker = TestBroker::builder()
        .config(|c| c.http = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .unwrap();
    let http = broker.handle().unwrap().http_addr().unwrap();
    let admin = Admin::new(client_config(&broker.bootstrap(), Backend::Native))
        .await
        .unwrap();
    admin
        .create_topics(&[NewTopic::new("payments", 1)])
        .await
        .unwrap();
    let mut config = producer_config(&broker.bootstrap(), Backend::Native);
    config.set("transactional.id", "pay-tx").unwrap();
    let tx = Producer::new(config).await.unwrap();
    within("init_transactions", tx.init_transactions())
        .await
        .unwrap();
    let send = |k: &str, v: &str| {
        ProducerRecord::new("payments")
            .partition(0)
            .key(k.to_string())
            .value(v.to_string())
    };
    tx.begin_transaction().await.unwrap();
    tx.send(send("alice", "-10")).await.unwrap();
    tx.send(send("bob", "+10")).await.unwrap();
    tx.commit_transaction().await.unwrap();
    tx.begin_transaction().await.unwrap();
    tx.send(send("carol", "-99")).await.unwrap();
    tx.abort_transaction().await.unwrap();
    tx.begin_transaction().await.unwrap();
    tx.send(send("dave", "-5")).await.unwrap();
    tx.send(send("erin", "+5")).await.unwrap();

    let st = state(http, "/api/state").await;
    let p = &find(&st["topics"], "name", "payments")["partitions"][0];
    assert_eq!(
        (
            p["high_watermark"].as_i64(),
            p["last_stable_offset"].as_i64()
        ),
        (Some(7), Some(5)),
        "{p}"
    );
    let t = find(&st["transactions"], "transactional_id", "pay-tx");
    let pid = t["producer_id"].as_i64().unwrap();
    assert_eq!(t["state"], "Ongoing", "{t}");
    assert_eq!(t["partitions"][0]["topic"], "payments", "{t}");
    assert_eq!(p["open_transactions"][0]["first_offset"], 5, "{p}");
    assert_eq!(p["open_transactions"][0]["producer_id"], pid, "{p}");
    assert_eq!(
        (
            p["aborted_transactions"][0]["first_offset"].as_i64(),
            p["aborted_transactions"][0]["last_offset"].as_i64()
        ),
        (Some(3), Some(4)),
        "{p}"
    );
    let records = st["partitions"]["payments-0"]["records"]
        .as_array()
        .unwrap();
    let at = |o: i64| records.iter().find(|r| r["offset"] == o).unwrap();
    assert_eq!(at(2)["marker"], "COMMIT");
    assert_eq!(at(4)["marker"], "ABORT");
    assert!(
        at(2)["key"].is_null() && at(2)["value"].is_null(),
        "{}",
        at(2)
    );
    assert_eq!(at(5)["transactional"], true);
    assert_eq!(at(5)["producer_id"], pid);
    assert!(at(5)["marker"].is_null());

    let Some(browser) = external::chromium() else {
        tx.close().await;
        broker.stop().await;
        return;
    };
    let dom = rendered_dom(&browser, http).await;
    let page = partition_in(&dom, "payments", 0);
    assert!(page.contains("data-lso=\"5\""), "{page}");
    assert!(page.contains("class=\"lso\" data-lso=\"5\""), "{page}");
    assert!(page.contains("LSO 5: read_committed stops here"), "{page}");
    assert!(
        page.contains("last stable offset 5 (a transaction is open)"),
        "{page}"
    );
    for (offset, fate) in [(0, "committed"), (3, "aborted"), (5, "open"), (6, "open")] {
        assert!(
            page.contains(&format!("txn-{fate}\" data-offset=\"{offset}\"")),
            "offset {offset} should be {fate}: {page}"
        );
    }
    for (offset, marker, class) in [(2, "COMMIT", "commit"), (4, "ABORT", "abort")] {
        assert!(
            page.contains(&format!(
                "class=\"cell ctrl {class}\" data-offset=\"{offset}\" data-marker=\"{marker}\""
            )),
            "{page}"
        );
    }
    assert!(
        dom.contains("class=\"txn\" data-transactional-id=\"pay-tx\" data-state=\"Ongoing\""),
        "{dom}"
    );
    assert!(
        dom.contains("class=\"open-txn\" data-partition=\"payments-0\" data-first-offset=\"5\""),
        "{dom}"
    );
    assert!(
        dom.contains("open from offset 5: holds the LSO at 5"),
        "{dom}"
    );

    let profile = tempfile::tempdir().unwrap();
    let png = profile.path().join("transactions.png");
    let mut cmd = chromium(&browser, profile.path());
    cmd.args(["--virtual-time-budget=4000", "--window-size=1400,1000"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("http://{http}/"));
    external::run(&mut cmd).await;
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    if let Some(keep) = std::env::var_os("MINIKAFKA_DASHBOARD_TXN_PNG") {
        std::fs::copy(&png, keep).unwrap();
    }

    // Committed: the marker at 7, the LSO back at the high watermark, no line.
    tx.commit_transaction().await.unwrap();
    let dom = rendered_dom(&browser, http).await;
    let page = partition_in(&dom, "payments", 0);
    assert!(
        page.contains("data-log-end=\"8\"") && page.contains("data-lso=\"8\""),
        "{page}"
    );
    assert!(!page.contains("class=\"lso\""), "{page}");
    assert!(page.contains("txn-committed\" data-offset=\"5\""), "{page}");
    assert!(page.contains("data-marker=\"COMMIT\""), "{page}");
    assert!(page.contains("end / HW / LSO"), "{page}");
    assert!(dom.contains("data-state=\"CompleteCommit\""), "{dom}");
    tx.close().await;
    broker.stop().await;
}
