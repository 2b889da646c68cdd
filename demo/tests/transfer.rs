//! The transfer demo (`demo/src/bin/transfer.rs`) killed with SIGKILL at random moments
//! and started again, over and over, until it has moved the whole input: a
//! `read_committed` reader then finds every input message in the output exactly once,
//! and the group's committed offsets are at the end of the input.
//!
//! The kill moments come from a seeded generator; the seed is printed, and
//! `MINIKAFKA_TRANSFER_SEED` replays one.

use std::collections::BTreeMap;
use std::time::Duration;

use minikafka_client::{
    Admin, ClientConfig, IsolationLevel, NewTopic, Offset, PartitionReader, Producer,
    ProducerConfig, ProducerRecord, ReaderConfig,
};
use minikafka_testkit::{within, TestBroker};
use tokio::process::Command;

const PARTITIONS: i32 = 3;

/// xorshift64*: enough for kill moments.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// (value, transfer.source header) of every record of `topic` a reader at `isolation`
/// gets, per partition, until quiet.
async fn read_all(addr: &str, topic: &str, isolation: IsolationLevel) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let mut config = ReaderConfig::new(addr);
        config.isolation_level = isolation;
        config.fetch_max_wait = Duration::from_millis(100);
        let mut reader = within(
            "assign",
            PartitionReader::assign(config, topic, p, Offset::Earliest),
        )
        .await
        .expect("assign");
        while let Ok(Ok(r)) = tokio::time::timeout(Duration::from_millis(400), reader.next()).await
        {
            let source = r
                .headers
                .iter()
                .find(|h| h.key == "transfer.source")
                .and_then(|h| h.value.clone())
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            out.push((
                String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned(),
                source,
            ));
        }
    }
    out
}

/// Sends `m0`, `m1`, … to `src` (about 300 a second) until `stop`; how many it sent.
async fn produce_input(addr: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> usize {
    let producer = Producer::new(ProducerConfig::new(&addr))
        .await
        .expect("producer");
    let mut sent = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let record = ProducerRecord::new("src")
            .key(format!("k{}", sent % 13))
            .value(format!("m{sent}"));
        within("send", producer.send(record)).await.expect("sent");
        sent += 1;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    producer.close().await;
    sent
}

/// Each value at most once in `out`; the count of each.
fn assert_once(out: &[(String, String)], seed: u64) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (value, _) in out {
        *seen.entry(value.clone()).or_default() += 1;
    }
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(v, _)| v)
        .collect();
    assert!(twice.is_empty(), "seed {seed}: written twice: {twice:?}");
    seen
}

fn transfer(addr: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_transfer"));
    cmd.args([
        "--bootstrap-server",
        addr,
        "--from",
        "src",
        "--to",
        "dst",
        "--group",
        "movers",
        "--transactional-id",
        "mover",
        "--batch",
        "7",
        "--linger-ms",
        "100",
        "--process-ms",
        "2",
        "--config",
        "session.timeout.ms=1000",
        "--config",
        "heartbeat.interval.ms=300",
    ])
    .env("RUST_LOG", "warn")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_killed_at_random_moments_moves_each_message_exactly_once() {
    let seed: u64 = std::env::var("MINIKAFKA_TRANSFER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("MINIKAFKA_TRANSFER_SEED={seed}");
    let mut rng = Rng(seed);
    let broker = TestBroker::builder()
        .partitions(PARTITIONS)
        .config(|c| {
            c.group_min_session_timeout = Duration::from_millis(500);
            c.log_requests = false;
        })
        .start()
        .await
        .expect("broker");
    let addr = broker.addr().to_string();
    let admin = Admin::new(ClientConfig::new(&addr)).await.expect("admin");
    within(
        "create topics",
        admin.create_topics(&[
            NewTopic::new("src", PARTITIONS),
            NewTopic::new("dst", PARTITIONS),
        ]),
    )
    .await
    .expect("create topics");
    // The input keeps coming while the transfer is killed and restarted, so the kills
    // land while it works, not once it has caught up.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let input = tokio::spawn(produce_input(addr.clone(), stop.clone()));

    let kills: usize = std::env::var("MINIKAFKA_TRANSFER_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    for kill in 1..=kills {
        let mut child = transfer(&addr).spawn().expect("start the transfer");
        let delay = 200 + rng.next() % 1300;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.start_kill().expect("kill -9");
        let _ = child.wait().await;
        let so_far = read_all(&addr, "dst", IsolationLevel::ReadCommitted).await;
        assert_once(&so_far, seed);
        println!(
            "kill {kill}: after {delay} ms; {} messages committed to dst",
            so_far.len()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let messages = input.await.expect("the input producer");
    println!("{messages} input messages");
    // The last run finishes the job, and is stopped too.
    let mut child = transfer(&addr).spawn().expect("start the transfer");
    within("the transfer to finish", async {
        while read_all(&addr, "dst", IsolationLevel::ReadCommitted)
            .await
            .len()
            < messages
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    child.start_kill().expect("kill");
    let _ = child.wait().await;

    let out = read_all(&addr, "dst", IsolationLevel::ReadCommitted).await;
    let seen = assert_once(&out, seed);
    assert_eq!(out.len(), messages, "seed {seed}: every message once");
    for i in 0..messages {
        assert!(
            seen.contains_key(&format!("m{i}")),
            "seed {seed}: m{i} missing"
        );
    }
    // The sources are distinct too: each input offset was copied once.
    let mut sources: Vec<&String> = out.iter().map(|(_, s)| s).collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), messages);
    // The group's committed offsets are the ends of the input: the last transaction's.
    let snapshot = broker.handle().expect("running").snapshot();
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.group_id == "movers")
        .expect("the group has commits");
    let src = snapshot
        .topics
        .iter()
        .find(|t| t.name == "src")
        .expect("src");
    for p in &src.partitions {
        let committed = group
            .offsets
            .iter()
            .find(|o| o.topic == "src" && o.partition == p.partition)
            .map(|o| o.committed_offset);
        assert_eq!(
            committed,
            Some(p.log_end_offset),
            "seed {seed}: src-{}",
            p.partition
        );
    }
    let dst_end: i64 = snapshot
        .topics
        .iter()
        .filter(|t| t.name == "dst")
        .flat_map(|t| &t.partitions)
        .map(|p| p.log_end_offset)
        .sum();
    println!("dst: {dst_end} offsets in all (records, aborted ones included, and markers)");
    let uncommitted = read_all(&addr, "dst", IsolationLevel::ReadUncommitted).await;
    println!(
        "{kills} kills; {} records in dst, {} of them in aborted transactions",
        uncommitted.len(),
        uncommitted.len() - messages
    );
    broker.stop().await;
}
