//! librdkafka's balanced consumer (kcat -G, Debian's kcat links librdkafka 2.0.2) against
//! the coordinator: it finds the coordinator, joins, assigns (range/roundrobin), fetches,
//! commits on close; a second run in the same group gets only what is new.
//!
//! Skipped (visibly) when `kcat` is not on PATH, failed instead under
//! `MINIKAFKA_REQUIRE_EXTERNAL=1`: the test kit's one rule. Every run is bounded.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_testkit::external::{kcat, run};
use minikafka_testkit::groups::{fetch_req, fetched, TOPIC};
use minikafka_testkit::wire::{batch, Client};
use minikafka_testkit::TestBroker;

/// Runs `kcat -G <group>` until it reaches the end of every assigned partition; returns
/// the `partition:offset:value` lines it printed.
async fn consume(kcat: &Path, addr: std::net::SocketAddr, group: &str) -> Vec<String> {
    let out = run(tokio::process::Command::new(kcat)
        .args([
            "-b",
            &addr.to_string(),
            "-G",
            group,
            "-X",
            "partition.assignment.strategy=roundrobin",
            "-X",
            "session.timeout.ms=6000",
            // Not `-o beginning`: in -G mode kcat would apply it over the committed offsets.
            "-X",
            "auto.offset.reset=earliest",
            "-e",
            "-q",
            "-f",
            "%p:%o:%s\n",
            TOPIC,
        ])
        .stdin(Stdio::null()))
    .await;
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// A broker that accepts kcat's short sessions, and a client that created `demo-topic`.
async fn broker_with_topic() -> (TestBroker, Client) {
    let broker = TestBroker::builder()
        .config(|c| c.group_min_session_timeout = Duration::from_millis(1000))
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic(TOPIC, 3).await;
    (broker, client)
}

async fn produce(c: &mut Client, round: &str) {
    for p in 0..3 {
        let value = format!("{round}-p{p}");
        let resp = c
            .produce(TOPIC, p, batch(&[(None, &value)], 1_700_000_000_000))
            .await;
        assert_eq!(resp.error_code, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_group_consumer_resumes_from_committed_offsets() {
    let Some(kcat) = kcat() else { return };
    let (broker, mut client) = broker_with_topic().await;
    produce(&mut client, "first").await;

    let got = consume(&kcat, broker.addr(), "kcat-group").await;
    assert_eq!(got, vec!["0:0:first-p0", "1:0:first-p1", "2:0:first-p2"]);
    let committed: OffsetFetchResponse = client
        .call(
            ApiKey::OffsetFetch,
            7,
            &fetch_req("kcat-group", Some(&[0, 1, 2])),
        )
        .await;
    for ((_, p), (offset, _)) in fetched(&committed) {
        assert_eq!(offset, 1, "partition {p}: librdkafka committed on close");
    }

    produce(&mut client, "second").await;
    let got = consume(&kcat, broker.addr(), "kcat-group").await;
    assert_eq!(got, vec!["0:1:second-p0", "1:1:second-p1", "2:1:second-p2"]);
    // Another group starts from the beginning: broadcast across groups.
    let other = consume(&kcat, broker.addr(), "other-group").await;
    assert_eq!(other.len(), 6);
    broker.stop().await;
}

/// A raw-protocol member that leads the group: it rejoins whenever told to, and gives
/// every other member partition 1 and itself partitions 0 and 2.
async fn lead(mut c: Client, group: String, stop: tokio::sync::watch::Receiver<bool>) -> usize {
    use kafka_protocol::messages::{HeartbeatResponse, JoinGroupResponse, SyncGroupResponse};
    use minikafka_testkit::groups::{assignment, heartbeat_req, join_req, sync_req};
    let session = Duration::from_secs(6);
    let join = |member: String| join_req(&group, &member, &["roundrobin"], session);
    let first: JoinGroupResponse = c.call(ApiKey::JoinGroup, 5, &join(String::new())).await;
    let me = first.member_id.to_string();
    let mut generation = -1;
    let mut others_seen = 0;
    let mut rejoin = true;
    while !*stop.borrow() {
        if rejoin {
            let joined: JoinGroupResponse = c.call(ApiKey::JoinGroup, 5, &join(me.clone())).await;
            assert_eq!(joined.error_code, 0);
            assert_eq!(joined.leader.as_str(), me, "the first member leads");
            generation = joined.generation_id;
            let mut plan = Vec::new();
            for m in &joined.members {
                let id = m.member_id.to_string();
                if id == me {
                    plan.push((id, assignment(&[(TOPIC, &[0, 2])])));
                } else {
                    others_seen = others_seen.max(joined.members.len() - 1);
                    plan.push((id, assignment(&[(TOPIC, &[1])])));
                }
            }
            let plan: Vec<(&str, bytes::Bytes)> =
                plan.iter().map(|(m, a)| (m.as_str(), a.clone())).collect();
            let synced: SyncGroupResponse = c
                .call(
                    ApiKey::SyncGroup,
                    5,
                    &sync_req(&group, &me, generation, &plan),
                )
                .await;
            rejoin = synced.error_code != 0;
            continue;
        }
        let hb: HeartbeatResponse = c
            .call(
                ApiKey::Heartbeat,
                4,
                &heartbeat_req(&group, &me, generation),
            )
            .await;
        rejoin = hb.error_code != 0;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    others_seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_follows_an_assignment_made_by_another_member() {
    let Some(kcat) = kcat() else { return };
    let (broker, mut client) = broker_with_topic().await;
    produce(&mut client, "mixed").await;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let leader = tokio::spawn(lead(
        Client::connect(broker.addr()).await,
        "mixed-group".into(),
        stop_rx,
    ));
    // Start kcat only once the raw member leads a Stable group, so it joins second.
    let mut stable = false;
    for _ in 0..200 {
        let mut describe = DescribeGroupsRequest::default();
        describe.groups = vec![GroupId(StrBytes::from_static_str("mixed-group"))];
        let resp: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &describe).await;
        if resp.groups[0].group_state.as_str() == "Stable" {
            stable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stable, "the raw member formed the group");
    let got = consume(&kcat, broker.addr(), "mixed-group").await;
    stop_tx.send_replace(true);
    let others = tokio::time::timeout(Duration::from_secs(20), leader)
        .await
        .expect("the leader task stops")
        .expect("the leader task does not panic");
    assert_eq!(
        others, 1,
        "the leader saw the librdkafka member's subscription"
    );
    assert_eq!(
        got,
        vec!["1:0:mixed-p1"],
        "kcat read only the partition it was given"
    );
    let committed: OffsetFetchResponse = client
        .call(
            ApiKey::OffsetFetch,
            7,
            &fetch_req("mixed-group", Some(&[0, 1, 2])),
        )
        .await;
    let committed = fetched(&committed);
    assert_eq!(committed[&(TOPIC.to_string(), 1)].0, 1);
    assert_eq!(committed[&(TOPIC.to_string(), 0)].0, -1);
    broker.stop().await;
}
