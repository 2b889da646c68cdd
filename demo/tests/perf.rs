//! The `perf` binary against a real broker: `produce` then `consume` of the same records,
//! `--json`, a rate-limited run, `--producers 2`, `--acks 0`, `end-to-end`, bad arguments,
//! and (feature `rdkafka`) the rdkafka backend. Each run checks the summary line's counts and that the records really
//! are in the topic; nothing here asserts on speed.
#![allow(clippy::unwrap_used)]

mod common;

use minikafka_client::{Offset, PartitionReader, ReaderConfig};
use minikafka_testkit::TestBroker;

const PERF: &str = env!("CARGO_BIN_EXE_perf");

async fn broker_with_http() -> TestBroker {
    TestBroker::builder()
        .partitions(3)
        .config(|c| c.http = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .expect("broker starts")
}

/// Runs `perf ARGS --bootstrap-server <broker>` and returns its stdout, which must be one line.
async fn perf(broker: &TestBroker, args: &[&str]) -> String {
    let addr = broker.addr().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--bootstrap-server", &addr]);
    let out = common::run(PERF, &all).await;
    let stdout = common::stdout_of_success(&out);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    stdout.trim_end().to_string()
}

/// The figure before `unit` in a summary line, e.g. `figure(line, "records/s")`.
fn figure(line: &str, unit: &str) -> f64 {
    let part = line
        .split(", ")
        .map(|p| p.split_once(": ").map_or(p, |(_, rest)| rest))
        .find(|p| p.ends_with(unit) && p.split(' ').count() == 2)
        .unwrap_or_else(|| panic!("no `{unit}` in {line}"));
    part.split(' ').next().unwrap().parse().unwrap()
}

/// A labelled figure, e.g. `labelled(line, "p99")` for `p99 1.20 ms`.
fn labelled(line: &str, label: &str) -> f64 {
    let part = line
        .split(", ")
        .find_map(|p| p.strip_prefix(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no `{label}` in {line}"));
    part.split(' ').next().unwrap().parse().unwrap()
}

/// The log end offset of `topic[partition]`.
async fn log_end(broker: &TestBroker, topic: &str, partition: i32) -> i64 {
    let config = ReaderConfig::new(&broker.addr().to_string());
    PartitionReader::assign(config, topic, partition, Offset::Latest)
        .await
        .unwrap()
        .position()
}

/// The sum of the log end offsets of `topic`'s partitions 0..3.
async fn log_end_sum(broker: &TestBroker, topic: &str) -> i64 {
    let mut sum = 0;
    for p in 0..3 {
        sum += log_end(broker, topic, p).await;
    }
    sum
}

#[tokio::test]
async fn produce_then_consume_with_both_modes_and_broker_cpu() {
    let broker = broker_with_http().await;
    let http = broker.handle().unwrap().http_addr().expect("http is on");
    let metrics = format!("http://{http}/metrics");
    let line = perf(
        &broker,
        &[
            "produce",
            "--topic",
            "t",
            "--num-records",
            "3000",
            "--record-size",
            "50",
            "--acks",
            "all",
            "--broker-metrics",
            &metrics,
        ],
    )
    .await;
    assert!(line.starts_with("produce: 3000 records, "), "{line}");
    assert!(figure(&line, "records/s") > 0.0, "{line}");
    assert!(figure(&line, "MB/s") > 0.0, "{line}");
    for p in ["p50", "p95", "p99", "p99.9", "max"] {
        assert!(labelled(&line, p) >= 0.0, "{line}");
    }
    assert!(labelled(&line, "p50") <= labelled(&line, "max"), "{line}");
    assert!(labelled(&line, "broker cpu") >= 0.0, "{line}");
    assert!(line.contains("latency from send"), "{line}");
    assert!(
        line.contains(", broker cpu ") && line.ends_with(" ms/M"),
        "{line}"
    );
    assert_eq!(log_end_sum(&broker, "t").await, 3000);

    let line = perf(
        &broker,
        &["consume", "--topic", "t", "--num-records", "3000"],
    )
    .await;
    assert!(line.starts_with("consume: 3000 records, "), "{line}");
    assert!(figure(&line, "MB/s") > 0.0, "{line}");
    assert!(!line.contains("p50"), "no latency for consume: {line}");

    // Partition 0 alone: all of it (the sticky partitioner decides how much that is).
    let in_0 = log_end(&broker, "t", 0).await.to_string();
    let line = perf(
        &broker,
        &[
            "consume",
            "--topic",
            "t",
            "--num-records",
            &in_0,
            "--partition",
            "0",
        ],
    )
    .await;
    assert!(
        line.starts_with(&format!("consume: {in_0} records, ")),
        "{line}"
    );

    let line = perf(
        &broker,
        &[
            "consume",
            "--topic",
            "t",
            "--num-records",
            "3000",
            "--mode",
            "group",
        ],
    )
    .await;
    assert!(line.starts_with("consume: 3000 records, "), "{line}");

    // Asking for more than the topic holds fails at once, with the count it holds.
    let addr = broker.addr().to_string();
    let out = common::run(
        PERF,
        &[
            "consume",
            "--topic",
            "t",
            "--num-records",
            "5000",
            "--bootstrap-server",
            &addr,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("holds 3000 records"),
        "{stderr}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn json_rate_limited_and_two_producers() {
    let broker = common::broker().await;
    // 400 records at 2000/s: about 0.2 s, latency from the intended send times.
    let json = perf(
        &broker,
        &[
            "produce",
            "--topic",
            "r",
            "--num-records",
            "400",
            "--throughput",
            "2000",
            "--json",
        ],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(v["command"], "produce", "{json}");
    assert_eq!(v["records"], 400, "{json}");
    assert_eq!(v["bytes"], 400 * 100, "{json}");
    assert_eq!(v["latency"]["from"], "intended", "{json}");
    assert!(v["latency"]["p999_ms"].as_f64().unwrap() >= 0.0, "{json}");
    assert!(
        v["elapsed_s"].as_f64().unwrap() >= 0.1,
        "the rate limit paced the run: {json}"
    );
    assert!(v.get("broker_cpu_ms_per_million").is_none(), "{json}");
    assert_eq!(log_end_sum(&broker, "r").await, 400);

    let line = perf(
        &broker,
        &[
            "produce",
            "--topic",
            "two",
            "--num-records",
            "2001",
            "--producers",
            "2",
            "--compression",
            "lz4",
            "--linger-ms",
            "1",
            "--batch-size",
            "4096",
            "--acks",
            "-1",
            "--throughput",
            "-1",
        ],
    )
    .await;
    assert!(line.starts_with("produce: 2001 records, "), "{line}");
    assert_eq!(log_end_sum(&broker, "two").await, 2001);

    let json = perf(
        &broker,
        &[
            "consume",
            "--topic",
            "two",
            "--num-records",
            "2001",
            "--json",
        ],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(v["records"], 2001, "{json}");
    assert_eq!(v["bytes"], 2001 * 100, "{json}");
    broker.stop().await;
}

#[tokio::test]
async fn produce_with_acks_0_still_writes_every_record() {
    let broker = common::broker().await;
    let line = perf(
        &broker,
        &[
            "produce",
            "--topic",
            "a0",
            "--num-records",
            "1000",
            "--acks",
            "0",
        ],
    )
    .await;
    assert!(line.starts_with("produce: 1000 records, "), "{line}");
    // Nothing acknowledges them, so wait (bounded) for the broker to have appended them all.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sum = log_end_sum(&broker, "a0").await;
        if sum == 1000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {sum} of 1000 records arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn end_to_end_counts_every_record_and_reports_latency() {
    let broker = broker_with_http().await;
    let http = broker.handle().unwrap().http_addr().expect("http is on");
    let metrics = format!("http://{http}/metrics");
    // Records already in the topic are not read: readers start at the end.
    perf(&broker, &["produce", "--topic", "e", "--num-records", "50"]).await;
    // 300 records at 1000/s: about 0.3 s.
    let line = perf(
        &broker,
        &[
            "end-to-end",
            "--topic",
            "e",
            "--num-records",
            "300",
            "--throughput",
            "1000",
            "--record-size",
            "64",
            "--acks",
            "all",
            "--broker-metrics",
            &metrics,
        ],
    )
    .await;
    assert!(line.starts_with("end-to-end: 300 records, "), "{line}");
    for p in ["p50", "p95", "p99", "p99.9", "max"] {
        assert!(labelled(&line, p) > 0.0, "{line}");
    }
    assert!(labelled(&line, "p50") <= labelled(&line, "p99"), "{line}");
    assert!(labelled(&line, "p99") <= labelled(&line, "max"), "{line}");
    assert!(
        line.contains(", latency from intended, broker cpu "),
        "{line}"
    );
    assert!(
        figure(&line, " s") >= 0.25,
        "the rate paced the run: {line}"
    );
    assert_eq!(log_end_sum(&broker, "e").await, 350);

    // A topic that does not exist yet is created (here with 2 partitions); --json.
    let json = perf(
        &broker,
        &[
            "end-to-end",
            "--topic",
            "fresh",
            "--partitions",
            "2",
            "--num-records",
            "200",
            "--throughput",
            "2000",
            "--acks",
            "0",
            "--json",
        ],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(v["command"], "end-to-end", "{json}");
    assert_eq!(v["records"], 200, "{json}");
    assert_eq!(v["bytes"], 200 * 100, "{json}");
    assert_eq!(v["latency"]["from"], "intended", "{json}");
    for p in ["p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(v["latency"][p].as_f64().unwrap() > 0.0, "{json}");
    }
    assert!(v.get("broker_cpu_ms_per_million").is_none(), "{json}");
    let ends = log_end(&broker, "fresh", 0).await + log_end(&broker, "fresh", 1).await;
    assert_eq!(ends, 200);

    // Too small a record for the send time is refused before connecting.
    let out = common::run(PERF, &["end-to-end", "--record-size", "7"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("send time"),
        "{stderr}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn end_to_end_fails_rather_than_hangs_when_the_broker_goes_away() {
    let mut broker = common::broker().await;
    let addr = broker.addr().to_string();
    let args = [
        "end-to-end",
        "--topic",
        "gone",
        "--num-records",
        "5000",
        "--throughput",
        "1000",
        "--timeout-ms",
        "2000",
        "--bootstrap-server",
        &addr,
    ];
    let run = common::run(PERF, &args);
    // Take the broker away once records flow, i.e. during the measured part.
    let pause = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let mut flowing = false;
            for p in 0..3 {
                let config = ReaderConfig::new(&addr);
                let end = PartitionReader::assign(config, "gone", p, Offset::Latest).await;
                flowing |= end.is_ok_and(|r| r.position() > 0);
            }
            if flowing {
                break;
            }
        }
        broker.pause().await;
    };
    let (out, ()) = tokio::join!(run, pause);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: end-to-end on gone"), "{stderr}");
    assert!(out.stdout.is_empty(), "no summary on failure");
    broker.stop().await;
}

#[tokio::test]
async fn bad_arguments_and_a_broker_that_is_down_fail_clearly() {
    let out = common::run(PERF, &["produce", "--acks", "2"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--acks"),
        "{stderr}"
    );
    let out = common::run(PERF, &["produce", "--compression", "brotli"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("brotli"),
        "{stderr}"
    );
    let out = common::run(PERF, &["produce", "--throughput", "0"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not a rate"),
        "{stderr}"
    );
    let out = common::run(PERF, &["consume", "--mode", "stream"]).await;
    assert!(!out.status.success());

    // Nothing listens on a port we just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = common::run(
        PERF,
        &[
            "produce",
            "--num-records",
            "10",
            "--bootstrap-server",
            &port.to_string(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot start producer 0"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no summary on failure");
}

#[cfg(feature = "rdkafka")]
#[tokio::test]
async fn the_rdkafka_backend_produces() {
    let broker = common::broker().await;
    let line = perf(
        &broker,
        &[
            "produce",
            "--topic",
            "rd",
            "--num-records",
            "2000",
            "--backend",
            "rdkafka",
        ],
    )
    .await;
    assert!(line.starts_with("produce: 2000 records, "), "{line}");
    assert_eq!(log_end_sum(&broker, "rd").await, 2000);
    broker.stop().await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test]
async fn the_rdkafka_backend_consumes_and_runs_end_to_end() {
    let broker = common::broker().await;
    perf(
        &broker,
        &["produce", "--topic", "rdc", "--num-records", "1500"],
    )
    .await;
    let line = perf(
        &broker,
        &[
            "consume",
            "--topic",
            "rdc",
            "--num-records",
            "1500",
            "--backend",
            "rdkafka",
        ],
    )
    .await;
    assert!(line.starts_with("consume: 1500 records, "), "{line}");
    assert!(figure(&line, "MB/s") > 0.0, "{line}");

    let line = perf(
        &broker,
        &[
            "end-to-end",
            "--topic",
            "rdc",
            "--num-records",
            "200",
            "--throughput",
            "1000",
            "--backend",
            "rdkafka",
        ],
    )
    .await;
    assert!(line.starts_with("end-to-end: 200 records, "), "{line}");
    assert_eq!(log_end_sum(&broker, "rdc").await, 1700);
    broker.stop().await;
}

#[cfg(not(feature = "rdkafka"))]
#[tokio::test]
async fn the_rdkafka_backend_needs_its_feature() {
    let out = common::run(
        PERF,
        &["produce", "--backend", "rdkafka", "--num-records", "1"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--features rdkafka"),
        "{stderr}"
    );
}
