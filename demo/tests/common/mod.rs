//! Shared helpers for the demo binaries' tests: a broker on 127.0.0.1:0 in a temp dir,
//! and running a binary with a time limit.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use tokio::process::Command;

/// Generous bound for one binary run, so a bug fails the test instead of hanging CI.
pub const STEP: Duration = Duration::from_secs(60);

/// A broker on 127.0.0.1:0 with 3 partitions per auto-created topic, and its data dir.
pub async fn start_broker() -> (minikafka_broker::BrokerHandle, tempfile::TempDir) {
    start_broker_with(|_| {}).await
}

/// [`start_broker`] with `tweak` applied to its config first.
pub async fn start_broker_with(
    tweak: impl FnOnce(&mut minikafka_broker::Config),
) -> (minikafka_broker::BrokerHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = minikafka_broker::Config {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        data_dir: dir.path().to_path_buf(),
        num_partitions: 3,
        log_requests: false,
        ..Default::default()
    };
    tweak(&mut config);
    let broker = minikafka_broker::Broker::start(config)
        .await
        .expect("broker");
    (broker, dir)
}

/// Runs `bin` with `args` to completion (within [`STEP`]) and returns its output.
pub async fn run(bin: &str, args: &[&str]) -> std::process::Output {
    let child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(STEP, child)
        .await
        .expect("finishes in time")
        .expect("runs")
}

/// The stdout of a run that must have succeeded; if it did not, the test fails showing
/// both streams.
pub fn stdout_of_success(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every producer delivery line's "topic [partition] @ offset" comes back in the
/// consumer's output.
pub fn assert_all_read_back(produced: &[&str], consumed: &str) {
    for line in produced {
        let at = line.split("  ").next().expect("position");
        assert!(consumed.contains(at), "{at} not read back: {consumed}");
    }
}
