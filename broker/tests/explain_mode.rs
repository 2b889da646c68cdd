//! Black-box tests of explain mode and of the lesson-sized timings: the real
//! `minikafka-broker` binary, driven over TCP with the test kit's raw wire client, with
//! its log read from its stdout, as a learner would read it.
//!
//! What they pin down:
//! - `--explain` prints one `explain: <file> <function>: …` line for each step: the
//!   partition the producer chose, the append (segment, position, index entry), the
//!   fsync, the fetch wait and wake-up, the read, each group state change, each offset
//!   commit record, each segment roll and each retention deletion;
//! - without `--explain`, rolls and retention deletions are still logged at info, and no
//!   explain line appears; `--retention-check-interval-ms` is applied;
//! - the retention check at start-up deletes a segment that expired while the broker was
//!   down, before the listener opens;
//! - `--group-min/max-session-timeout-ms` bound JoinGroup's session timeout, refused with
//!   Kafka's INVALID_SESSION_TIMEOUT (26);
//! - a refused produce (key-less records in a compacted topic) is explained, and its
//!   request log line shows the error.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{
    ApiKey, JoinGroupResponse, OffsetCommitResponse, SyncGroupResponse,
};
use minikafka_testkit::groups::{self, TOPIC};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::WAIT;

/// A running `minikafka-broker` and every line it has printed so far.
struct Broker {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    /// Reads stdout until EOF; joined by `stop` so no line is missed.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Broker {
    /// Starts the binary on 127.0.0.1:0 with `data_dir` and `args`; returns once it
    /// prints the line with the address it listens on.
    fn start(data_dir: &Path, args: &[&str]) -> Broker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .spawn()
            .expect("run minikafka-broker");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut broker = Broker {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            reader: Some(reader),
        };
        let line = broker.wait_for("the listening line", |l| l.contains("listening on "));
        let rest = line.split("listening on ").nth(1).unwrap();
        broker.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
        broker
    }

    /// The first line (since start) matching `pred`; fails the test after [`WAIT`].
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join(); // every line it printed is in now
                    continue;
                }
                panic!(
                    "the broker exited ({status}) before printing {what}: {}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {WAIT:?}; the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the explain line printed by `site` (`<file> <function>`) that contains
    /// every one of `parts`.
    fn explained(&mut self, site: &str, parts: &[&str]) -> String {
        let head = format!("explain: {site}: ");
        self.wait_for(&format!("{head}… {parts:?}"), |l| {
            l.contains(&head) && parts.iter().all(|p| l.contains(p))
        })
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Ctrl+C (SIGINT), then waits for the graceful shutdown to finish.
    fn stop(self) {
        self.stop_with("INT");
    }

    /// Sends `SIG<signal>` (`INT` for Ctrl+C, `TERM` for `kill`), then waits for the
    /// graceful shutdown to finish and checks its exit status is 0.
    fn stop_with(mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the broker did not stop after SIG{signal}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "SIG{signal}: {status}: {}", self.log());
        self.wait_for("the shutdown line", |l| l.contains("shutdown complete"));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // A test that failed midway still leaves no broker behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A batch of three keyed records, about 100 bytes.
fn three_records(ts: i64) -> bytes::Bytes {
    wire::batch(
        &[
            (Some("k1"), "value-1"),
            (Some("k2"), "value-2"),
            (Some("k3"), "value-3"),
        ],
        ts,
    )
}

/// 400-byte segments (a roll every few batches), 400 bytes kept per partition, and a
/// retention check every 100 ms.
const SMALL_LOGS: [&str; 6] = [
    "--segment-bytes",
    "400",
    "--retention-bytes",
    "400",
    "--retention-check-interval-ms",
    "100",
];

/// Starts the binary with `args` and creates `demo-topic` with one partition.
async fn start_with_topic(data_dir: &Path, args: &[&str]) -> (Broker, Client) {
    let broker = Broker::start(data_dir, args);
    let mut client = Client::connect(broker.addr).await;
    client.create_topic(TOPIC, 1).await;
    (broker, client)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

// Two workers: the test thread blocks while it reads the log, and the parked fetch must
// keep running meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        &["--explain", "--quiet", "--fsync", "always"][..],
        &SMALL_LOGS,
    ]
    .concat();
    let (mut broker, mut client) = start_with_topic(dir.path(), &args).await;

    // Produce: the partition the client chose, the append, the fsync.
    let first = client.produce(TOPIC, 0, three_records(now_ms())).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    broker.explained(
        "protocol/produce.rs produce::handle",
        &["the producer chose partition 0 of demo-topic (partition count 1)"],
    );
    broker.explained(
        "log/partition_log/append.rs PartitionLog::append",
        &[
            "demo-topic-0 batch of 3 records at offsets 0 to 2",
            "segment 00000000000000000000.log position 0",
            "no index entry",
        ],
    );
    broker.explained(
        "log/partition_log/append.rs PartitionLog::append",
        &["demo-topic-0 fsync (sync_data) of 00000000000000000000.log"],
    );

    // Fetch: the read, then a long poll that waits and is woken by an append.
    let read = client.fetch(TOPIC, 0, 0, 0, 1).await;
    assert_eq!(read.error_code, 0);
    broker.explained(
        "log/partition_log.rs PartitionLog::slice",
        &["demo-topic-0 offset 0: segment 00000000000000000000.log"],
    );
    let addr = broker.addr;
    let waiting = tokio::spawn(async move {
        let mut other = Client::connect(addr).await;
        other.fetch(TOPIC, 0, 3, 10_000, 1).await
    });
    broker.explained(
        "protocol/fetch.rs fetch::handle",
        &["fetch waits: 0 of min_bytes 1 bytes ready at demo-topic-0@3"],
    );
    client.produce(TOPIC, 0, three_records(now_ms())).await;
    let woken = minikafka_testkit::within("the parked fetch", waiting)
        .await
        .unwrap();
    assert_eq!(woken.error_code, 0);
    assert!(!woken.records.unwrap_or_default().is_empty());
    broker.explained(
        "protocol/fetch.rs fetch::handle",
        &["fetch woken by an append to a watched partition"],
    );

    // A group: join (MEMBER_ID_REQUIRED, then the real join), sync, commit.
    let session = Duration::from_secs(10);
    let joined = groups::join_new_over_wire(&mut client, "lesson", &["range"], session).await;
    let member = joined.member_id.to_string();
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let mine = groups::assignment(&[(TOPIC, &[0])]);
    let synced: SyncGroupResponse = client
        .call(
            ApiKey::SyncGroup,
            3,
            &groups::sync_req("lesson", &member, 1, &[(&member, mine)]),
        )
        .await;
    assert_eq!(synced.error_code, 0);
    for (from, to) in [
        ("Empty", "PreparingRebalance"),
        ("PreparingRebalance", "CompletingRebalance"),
        ("CompletingRebalance", "Stable"),
    ] {
        broker.explained(
            "group/state.rs Group::transition",
            &[&format!("group lesson: {from} → {to}")],
        );
    }
    let committed: OffsetCommitResponse = client
        .call(
            ApiKey::OffsetCommit,
            8,
            &groups::commit_req("lesson", &member, 1, &[(0, 6, "seen")]),
        )
        .await;
    assert_eq!(groups::commit_errors(&committed), vec![(0, 0)]);
    broker.explained(
        "group/offset_store.rs OffsetStore::commit",
        &[
            "__consumer_offsets-0 offset 0: commit record key (group \"lesson\", topic \"demo-topic\", partition 0)",
            "value (offset 6,",
            "metadata \"seen\"",
        ],
    );

    // A roll (segment.bytes = 400), then retention (retention.bytes = 400) deletes the
    // oldest segment within a check interval or two.
    for _ in 0..6 {
        assert_eq!(
            client
                .produce(TOPIC, 0, three_records(now_ms()))
                .await
                .error_code,
            0
        );
    }
    broker.explained(
        "log/partition_log/append.rs PartitionLog::maybe_roll",
        &[
            "demo-topic-0: rolled segment 00000000000000000000.log",
            "segment.bytes reached",
        ],
    );
    broker.explained(
        "log/partition_log/retention.rs PartitionLog::apply_retention",
        &[
            "demo-topic-0/00000000000000000000.log",
            "by retention.bytes",
            "log start offset is now",
        ],
    );
    // With an index interval of 4096 bytes no index entry is added here; every append
    // says so, naming the setting.
    assert!(broker
        .log()
        .contains("one every index.interval.bytes = 4096"));
    broker.stop();
}

#[tokio::test]
async fn rolls_and_retention_are_logged_at_info_without_explain() {
    let dir = tempfile::tempdir().unwrap();
    // SMALL_LOGS sets --retention-check-interval-ms 100: with Kafka's 5-minute default
    // this test would wait in vain, so passing shows the flag is applied.
    let (mut broker, mut client) = start_with_topic(dir.path(), &SMALL_LOGS).await;
    for _ in 0..8 {
        assert_eq!(
            client
                .produce(TOPIC, 0, three_records(now_ms()))
                .await
                .error_code,
            0
        );
    }
    broker.wait_for("a roll at info", |l| {
        l.contains("INFO") && l.contains("demo-topic-0: rolled segment 00000000000000000000.log")
    });
    broker.wait_for("a retention deletion at info", |l| {
        l.contains("INFO") && l.contains("retention: deleted") && l.contains("demo-topic-0")
    });
    let data = dir.path().join("demo-topic-0");
    let files = segment_files(&data);
    assert!(
        !files
            .iter()
            .any(|f| f.ends_with("00000000000000000000.log")),
        "the oldest segment is gone: {files:?}"
    );
    assert!(
        !broker.log().contains("explain:"),
        "explain is off: {}",
        broker.log()
    );
    broker.stop();
}

#[tokio::test]
async fn retention_runs_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-topic-0");
    // Records written eight days ago: past the default retention.ms of 7 days, but the
    // broker checks only every 5 minutes (the default), so they stay while it runs.
    let eight_days_ago = now_ms() - 8 * 24 * 3600 * 1000;
    let (broker, mut client) = start_with_topic(dir.path(), &["--segment-bytes", "200"]).await;
    for _ in 0..3 {
        let r = client
            .produce(TOPIC, 0, three_records(eight_days_ago))
            .await;
        assert_eq!(r.error_code, 0);
    }
    drop(client);
    assert_eq!(segment_files(&data).len(), 3, "one segment per batch");
    // `kill` (SIGTERM) shuts down as gracefully as Ctrl+C: the markers are written.
    broker.stop_with("TERM");
    assert!(
        data.join("clean-shutdown").is_file(),
        "SIGTERM left no clean-shutdown marker"
    );

    // At start-up, before the listener opens, the expired segments go (never the
    // active one).
    let mut again = Broker::start(dir.path(), &["--segment-bytes", "200"]);
    let files = segment_files(&data);
    assert_eq!(files.len(), 1, "only the active segment is left: {files:?}");
    assert!(files[0].ends_with("00000000000000000006.log"), "{files:?}");
    again.wait_for("the deletion at info", |l| {
        l.contains("retention: deleted")
            && l.contains("by retention.ms")
            && l.contains("log start offset is now 6")
    });
    let mut client = Client::connect(again.addr).await;
    let gone = client.fetch(TOPIC, 0, 0, 0, 1).await;
    assert_eq!(gone.error_code, 1, "offset 0 is out of range now");
    assert_eq!(gone.log_start_offset, 6);
    drop(client);
    again.stop();
}

#[tokio::test]
async fn session_timeouts_outside_the_broker_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bounds = [
        "--group-min-session-timeout-ms",
        "1000",
        "--group-max-session-timeout-ms",
        "5000",
    ];
    let (broker, mut client) = start_with_topic(dir.path(), &bounds).await;
    for (ms, code) in [(999, 26), (5001, 26), (60_000, 26), (1000, 79), (5000, 79)] {
        let req = groups::join_req("bounds", "", &["range"], Duration::from_millis(ms));
        let resp: JoinGroupResponse = client.call(ApiKey::JoinGroup, 5, &req).await;
        assert_eq!(
            resp.error_code, code,
            "session timeout {ms} ms: 26 = INVALID_SESSION_TIMEOUT, 79 = MEMBER_ID_REQUIRED"
        );
    }
    drop(client);
    broker.stop();
}

/// A refused produce: the explain line says why (key-less records in a compacted topic,
/// which ones, and what the producer is told) and the request log line shows the error.
#[tokio::test]
async fn a_refused_produce_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path(), &["--explain"]);
    let mut client = Client::connect(broker.addr).await;
    let topic = "compacted";
    let code = client
        .create_topic_with(topic, 1, &[("cleanup.policy", "compact")])
        .await;
    assert_eq!(code, 0);
    let keyless = wire::batch(&[(Some("k"), "a"), (None, "b")], now_ms());
    let r = client.produce(topic, 0, keyless).await;
    assert_eq!(r.error_code, 87, "INVALID_RECORD");
    broker.explained(
        "protocol/produce.rs produce::handle",
        &[
            "compacted[0] refused with INVALID_RECORD, nothing of it appended",
            "1 of the batch's 2 records have no key (batch index 1)",
            "cleanup.policy=compact",
            "record_errors names the 1 refused record",
        ],
    );
    broker.wait_for("the request log line", |l| {
        l.contains("produce acks=-1 compacted[0] rejected: INVALID_RECORD")
    });
    drop(client);
    broker.stop();
}

#[test]
fn help_shows_the_new_flags_with_their_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--explain",
        "--retention-check-interval-ms",
        "--group-min-session-timeout-ms",
        "--group-max-session-timeout-ms",
    ] {
        assert!(help.contains(flag), "{flag} in --help:\n{help}");
    }
    assert!(help.contains("[default: 300000]"), "{help}");
    assert!(help.contains("[default: 6000]"), "{help}");
    assert!(help.contains("[default: 1800000]"), "{help}");
}
