//! librdkafka's balanced consumer (kcat -G, Debian's kcat links librdkafka 2.0.2) against
//! the coordinator: it finds the coordinator, joins, assigns (range/roundrobin), fetches,
//! commits on close; a second run in the same group gets only what is new.
//!
//! Skipped (with a message) when `kcat` is not on PATH. Every run is bounded by a timeout.

mod common;
mod groups_common;

use std::process::Stdio;
use std::time::Duration;

use common::{batch, Client, TestBroker};
use groups_common::{fetch_req, fetched, TOPIC};
use kafka_protocol::messages::{ApiKey, OffsetFetchResponse};

fn have_kcat() -> bool {
    std::process::Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `kcat -G <group>` until it reaches the end of every assigned partition; returns
/// the `partition:offset:value` lines it printed.
async fn consume(addr: std::net::SocketAddr, group: &str) -> Vec<String> {
    let run = tokio::process::Command::new("kcat")
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
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("kcat finishes within 60 s")
        .expect("kcat runs");
    assert!(
        out.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
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
    if !have_kcat() {
        eprintln!("kcat not installed: skipping the librdkafka group test");
        return;
    }
    let broker = TestBroker::start_with(|c| {
        c.group_min_session_timeout = Duration::from_millis(1000);
    })
    .await;
    let mut client = broker.client().await;
    client.create_topic(TOPIC, 3).await;
    produce(&mut client, "first").await;

    let got = consume(broker.addr(), "kcat-group").await;
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
    let got = consume(broker.addr(), "kcat-group").await;
    assert_eq!(got, vec!["0:1:second-p0", "1:1:second-p1", "2:1:second-p2"]);
    // Another group starts from the beginning: broadcast across groups.
    let other = consume(broker.addr(), "other-group").await;
    assert_eq!(other.len(), 6);
    broker.stop().await;
}
