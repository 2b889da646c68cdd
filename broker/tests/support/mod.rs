//! Shared helpers for the real-client compatibility tests: start a broker on
//! 127.0.0.1:0 in a temp dir, and find the external clients (kcat, a Python venv).
//!
//! External clients are installed by `.ci/run`. When one is missing, a test fails if
//! `MINIKAFKA_REQUIRE_EXTERNAL=1` (CI sets it) and is skipped with a message otherwise.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use minikafka_broker::{Broker, BrokerHandle, Config};

/// A broker on 127.0.0.1:0 with its own temp data dir (removed on drop).
pub struct TestBroker {
    pub handle: BrokerHandle,
    pub dir: tempfile::TempDir,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let handle = Self::start_in(&dir, tweak).await;
        TestBroker { handle, dir }
    }

    /// Starts a broker on an existing data dir (to test restarts).
    pub async fn start_in(
        dir: &tempfile::TempDir,
        tweak: impl FnOnce(&mut Config),
    ) -> BrokerHandle {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("loopback"),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.log_requests = false;
        tweak(&mut config);
        Broker::start(config).await.expect("broker starts")
    }

    pub fn bootstrap(&self) -> String {
        self.handle.addr().to_string()
    }
}

/// Path of an external tool, or `None` (after printing why) when the test should skip.
fn require(what: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    if std::env::var("MINIKAFKA_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{what} is required (MINIKAFKA_REQUIRE_EXTERNAL=1) but was not found; run .ci/run");
    }
    eprintln!("SKIPPED: {what} not found; .ci/run installs it");
    None
}

/// `kcat` on PATH.
pub fn kcat() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kcat"))
            .find(|p| p.is_file())
    });
    require("kcat", found)
}

/// The Python with kafka-python and confluent-kafka: `$MINIKAFKA_PYTHON`, else the
/// repo's `.venv/bin/python`.
pub fn python() -> Option<PathBuf> {
    let found = std::env::var_os("MINIKAFKA_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")))
        .filter(|p| p.is_file());
    require("a Python venv with kafka-python (MINIKAFKA_PYTHON)", found)
}

/// Runs a command with a time limit and returns its stdout; panics with stderr on failure.
pub async fn run(cmd: &mut tokio::process::Command, limit: Duration) -> String {
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}
