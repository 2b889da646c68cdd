//! The external clients the compatibility tests run (kcat, a Python with kafka-python and
//! confluent-kafka, Node.js with kafkajs) and the dashboard tests' headless [`chromium`],
//! with one rule for when one is missing, and bounded process runs.
//!
//! Flow: a test asks for a client ([`kcat`], [`python`], [`kafkajs`], [`chromium`]) →
//! found: the test runs it
//! against a [`crate::TestBroker`]; missing: the test fails or is skipped.
//!
//! What must stay true:
//! - missing + `MINIKAFKA_REQUIRE_EXTERNAL=1` (CI sets it; `.ci/run` installs the
//!   clients) → the test fails;
//! - missing otherwise → the test is skipped, and the skip is visible in `cargo test`'s
//!   output: a `SKIPPED <test>: <why>` line written straight to the process's stderr,
//!   which libtest does not capture (it captures only the `print!` family);
//! - every process run is bounded by [`WAIT`] and killed when the test ends.

use std::io::Write;
use std::path::PathBuf;
use std::process::Output;

use tokio::process::Command;

use crate::WAIT;

/// The variable that turns a missing client into a failure.
pub const REQUIRE_EXTERNAL: &str = "MINIKAFKA_REQUIRE_EXTERNAL";

/// `kcat` on PATH; `None` when the test should skip (see the module docs).
pub fn kcat() -> Option<PathBuf> {
    require("kcat is not on PATH", on_path("kcat"))
}

/// The first `program` on PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// Debian's `chromium` on PATH (the dashboard's browser tests); `None` when the test
/// should skip.
pub fn chromium() -> Option<PathBuf> {
    require("chromium is not on PATH", on_path("chromium"))
}

/// The Python with kafka-python and confluent-kafka: `$MINIKAFKA_PYTHON`, else the
/// repository's `.venv/bin/python`; `None` when the test should skip.
pub fn python() -> Option<PathBuf> {
    let found = std::env::var_os("MINIKAFKA_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")))
        .filter(|p| p.is_file());
    require(
        "no Python venv with kafka-python (set MINIKAFKA_PYTHON or create .venv)",
        found,
    )
}

/// Node.js with kafkajs: `node` on PATH, and the `node_modules` directory holding
/// kafkajs in `$MINIKAFKA_NODE_MODULES`, else the repository's `.ci/node/node_modules`
/// (where `.ci/run` installs it). Returns `(node, node_modules)`; `None` when the test
/// should skip.
pub fn kafkajs() -> Option<(PathBuf, PathBuf)> {
    let modules = std::env::var_os("MINIKAFKA_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/node/node_modules")
        });
    let node = require("node is not on PATH", on_path("node"))?;
    let modules = require(
        "kafkajs is not installed (set MINIKAFKA_NODE_MODULES or run `npm install --prefix .ci/node kafkajs`)",
        Some(modules).filter(|m| m.join("kafkajs").is_dir()),
    )?;
    Some((node, modules))
}

/// A script of `broker/tests/node/`, the Node.js side of the kafkajs tests.
pub fn node_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/node")
        .join(name)
}

/// A script of `broker/tests/python/`, the Python side of the compatibility tests.
pub fn python_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/python")
        .join(name)
}

/// The one rule: found → run; missing → fail under [`REQUIRE_EXTERNAL`], else skip.
fn require(why: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    if std::env::var(REQUIRE_EXTERNAL).as_deref() == Ok("1") {
        panic!("{test}: {why}, and {REQUIRE_EXTERNAL}=1 requires it; .ci/run installs it");
    }
    // Not eprintln!: libtest would capture it and show only `ok`.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why}; .ci/run installs it ({REQUIRE_EXTERNAL}=1 makes this a failure)"
    );
    None
}

/// Runs `cmd` to completion within [`WAIT`] and returns its output, whatever its status.
pub async fn output(cmd: &mut Command) -> Output {
    cmd.kill_on_drop(true);
    tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd` (see [`output`]) and returns its stdout; fails the test, showing both
/// streams, when it did not succeed.
pub async fn run(cmd: &mut Command) -> String {
    let out = output(cmd).await;
    let what = format!("{cmd:?}");
    stdout_of_success(&what, &out)
}

/// The stdout of a run that must have succeeded; if it did not, the test fails showing
/// `what` ran, its status and both streams.
pub fn stdout_of_success(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
