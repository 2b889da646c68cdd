//! Runs the classroom consumer binary against a broker started in this process: what it
//! prints per message, `--max-messages`, Ctrl+C (SIGINT) committing and leaving the group,
//! and the errors for a missing backend or an unknown property.

use std::collections::BTreeMap;
use std::process::Stdio;

use minikafka_client::{Producer, ProducerConfig, ProducerRecord};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

mod common;

use minikafka_testkit::WAIT;

/// Send `values` keyed by user; returns (partition, offset) → value.
async fn produce(addr: &str, topic: &str, values: &[String]) -> BTreeMap<(i32, i64), String> {
    let producer = Producer::new(ProducerConfig::new(addr))
        .await
        .expect("producer");
    let mut out = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        let record = ProducerRecord::new(topic)
            .key(format!("user_{}", i % 3 + 1))
            .value(v.clone());
        let meta = producer.send(record).await.expect("send");
        out.insert((meta.partition, meta.offset), v.clone());
    }
    producer.close().await;
    out
}

fn json_values(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| serde_json::json!({"id": i, "user": format!("user_{}", i % 3 + 1)}).to_string())
        .collect()
}

fn consumer(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consumer"));
    cmd.args(args).env("RUST_LOG", "warn").kill_on_drop(true);
    cmd
}

async fn run_to_end(args: &[&str]) -> std::process::Output {
    tokio::time::timeout(WAIT, consumer(args).output())
        .await
        .expect("consumer finishes in time")
        .expect("consumer runs")
}

/// `(partition, offset)` of each `topic [p] @ o  key=…` header line.
fn headers(stdout: &str, topic: &str) -> Vec<(i32, i64)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{topic} [")))
        .map(|rest| {
            let (p, rest) = rest.split_once("] @ ").expect("header layout");
            let (o, _) = rest.split_once("  key=").expect("key part");
            (p.parse().expect("partition"), o.parse().expect("offset"))
        })
        .collect()
}

/// `partition → count` from the summary lines `  topic [p]: n`.
fn summary(stdout: &str, topic: &str) -> BTreeMap<i32, usize> {
    let tail = stdout.split_once("summary: ").expect("a summary").1;
    tail.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{topic} [")))
        .map(|rest| {
            let (p, n) = rest.split_once("]: ").expect("summary layout");
            (p.parse().expect("partition"), n.parse().expect("count"))
        })
        .collect()
}

fn counts(at: impl IntoIterator<Item = (i32, i64)>) -> BTreeMap<i32, usize> {
    let mut out = BTreeMap::new();
    for (p, _) in at {
        *out.entry(p).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_each_message_pretty_and_stops_at_max_messages() {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();
    let mut values = json_values(0, 6);
    values.push("plain words".to_string());
    let sent = produce(&addr, "classroom", &values).await;

    let out = run_to_end(&[
        "--bootstrap-server",
        &addr,
        "--topic",
        "classroom",
        "--group",
        "printers",
        "--max-messages",
        "7",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let got = headers(&stdout, "classroom");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, sent.keys().copied().collect::<Vec<_>>(), "{stdout}");
    // Pretty-printed JSON: one field per indented line.
    assert!(stdout.contains("\n  \"id\": 0,\n"), "{stdout}");
    assert!(stdout.contains("\n  \"user\": \"user_1\"\n"), "{stdout}");
    assert!(
        stdout.contains("plain words  (not JSON, shown as text)"),
        "{stdout}"
    );
    assert!(stdout.contains("key=user_1"), "{stdout}");
    assert!(stdout.contains("summary: 7 messages"), "{stdout}");
    assert_eq!(summary(&stdout, "classroom"), counts(got));
    assert!(
        stderr.contains("assigned: classroom-0, classroom-1, classroom-2"),
        "{stderr}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_commits_leaves_and_prints_the_summary() {
    ctrl_c_scenario(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_commits_even_without_auto_commit() {
    ctrl_c_scenario(&["--config", "enable.auto.commit=false"]).await;
}

async fn ctrl_c_scenario(extra: &[&str]) {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();
    let first = produce(&addr, "signals", &json_values(0, 5)).await;

    let mut args = vec![
        "--bootstrap-server",
        &addr,
        "--topic",
        "signals",
        "--group",
        "sig-group",
    ];
    args.extend_from_slice(extra);
    let mut child = consumer(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn consumer");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stdout = String::new();
    tokio::time::timeout(WAIT, async {
        while headers(&stdout, "signals").len() < first.len() {
            let line = lines.next_line().await.expect("read").expect("more output");
            stdout.push_str(&line);
            stdout.push('\n');
        }
    })
    .await
    .expect("every message printed in time");

    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after SIGINT")
        .expect("wait");
    while let Some(line) = lines.next_line().await.expect("read") {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).await.expect("stderr");
    }
    assert!(
        status.success(),
        "{status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("Ctrl+C: committing and leaving the group"),
        "{stderr}"
    );
    assert!(stdout.contains("summary: 5 messages"), "{stdout}");
    assert_eq!(summary(&stdout, "signals"), counts(first.keys().copied()));

    // The offsets were committed: the same group now gets exactly the new messages (and
    // at once, since the first member left instead of timing out).
    let second = produce(&addr, "signals", &json_values(5, 4)).await;
    let mut args = vec![
        "--bootstrap-server",
        &addr,
        "--topic",
        "signals",
        "--group",
        "sig-group",
        "--max-messages",
        "4",
    ];
    args.extend_from_slice(extra);
    let out = run_to_end(&args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let mut got = headers(&stdout, "signals");
    got.sort();
    assert_eq!(got, second.keys().copied().collect::<Vec<_>>());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_the_backend_and_unknown_properties() {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();
    let out = run_to_end(&[
        "--bootstrap-server",
        &addr,
        "--config",
        "fetch.wait.forever=1",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("fetch.wait.forever") && stderr.contains("native backend does not support"),
        "{stderr}"
    );

    if !cfg!(feature = "rdkafka") {
        let out = run_to_end(&["--bootstrap-server", &addr, "--backend", "rdkafka"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("--features rdkafka"), "{stderr}");
    }
    broker.stop().await;
}
