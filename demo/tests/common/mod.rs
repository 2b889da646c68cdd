//! The demo tests' own helpers (the broker, the bounds and process runs come from
//! `minikafka-testkit`): running a demo binary, and reading its delivery lines back.
#![allow(dead_code)] // each test binary uses a different subset

use minikafka_testkit::TestBroker;
use tokio::process::Command;

/// A broker on 127.0.0.1:0 with 3 partitions per auto-created topic, the classroom's.
pub async fn broker() -> TestBroker {
    TestBroker::builder()
        .partitions(3)
        .start()
        .await
        .expect("broker starts")
}

/// Runs demo binary `bin` with `args` to completion (within the kit's bound) and returns
/// its output.
pub async fn run(bin: &str, args: &[&str]) -> std::process::Output {
    minikafka_testkit::external::output(Command::new(bin).args(args).env("RUST_LOG", "warn")).await
}

/// The stdout of a run that must have succeeded; if it did not, the test fails showing
/// both streams.
pub fn stdout_of_success(out: &std::process::Output) -> String {
    minikafka_testkit::external::stdout_of_success("the demo binary", out)
}

/// Every producer delivery line's "topic [partition] @ offset" comes back in the
/// consumer's output.
pub fn assert_all_read_back(produced: &[&str], consumed: &str) {
    for line in produced {
        let at = line.split("  ").next().expect("position");
        assert!(consumed.contains(at), "{at} not read back: {consumed}");
    }
}
