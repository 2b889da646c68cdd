//! `perf mock-cluster` (hidden, feature `rdkafka`): librdkafka's in-process mock cluster
//! (`rdkafka::mocking::MockCluster`, one broker) running alone in this process, so that
//! `perf compare` can measure its CPU from `/proc` exactly as it measures our broker's.
//!
//! The conversation on stdin and stdout, one line each:
//!
//! | who     | line                          | meaning                                   |
//! |---------|-------------------------------|-------------------------------------------|
//! | us      | `listening on HOST:PORT`      | first line: the bootstrap address         |
//! | caller  | `create TOPIC PARTITIONS`     | create a topic (the mock has no CreateTopics API) |
//! | us      | `created TOPIC` / `error: …`  | the answer                                |
//! | caller  | (closes stdin)                | stop                                      |
//!
//! What must stay true: the mock lives until stdin closes (or the process is killed), and
//! nothing else is written to stdout. The mock keeps its log in memory only.

use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use rdkafka::mocking::MockCluster;

/// Runs the mock cluster until stdin closes.
pub fn run() -> Result<()> {
    let mock = MockCluster::new(1).context("cannot start librdkafka's mock cluster")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", mock.bootstrap_servers())?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let answer = match create(&mock, &line) {
            Ok(topic) => format!("created {topic}"),
            Err(e) => format!("error: {e:#}"),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

/// Handles one `create TOPIC PARTITIONS` line, returning the topic.
fn create<'a>(
    mock: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    line: &'a str,
) -> Result<&'a str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let ["create", topic, partitions] = words[..] else {
        bail!("expected `create TOPIC PARTITIONS`, got `{line}`");
    };
    let partitions: i32 = partitions
        .parse()
        .with_context(|| format!("`{partitions}` is not a partition count"))?;
    mock.create_topic(topic, partitions, 1)
        .with_context(|| format!("creating {topic} with {partitions} partitions"))?;
    Ok(topic)
}
