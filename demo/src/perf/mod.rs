//! The `perf` tool: load generators in the spirit of Kafka's kafka-producer-perf-test and
//! kafka-consumer-perf-test, driven through our own client crate.
//!
//! Where it sits: `demo/src/bin/perf.rs` parses [`cli::Cli`] and calls [`run`]; `produce`,
//! `consume` and `end_to_end` do the work, `broker_cpu` reads the broker's CPU from `/metrics`,
//! `progress` draws the bar, `summary` formats the one line every run ends with.
//! `compare` runs those same functions against several brokers, each a child process (our
//! broker binary, or `mock_cluster` in a second `perf`), and prints one table.
//!
//! What must stay true:
//! - stdout carries only the summary (one line, or one JSON object with `--json`; for
//!   `compare` one table or one JSON object), plus the progress bar when stdout is a
//!   terminal; logs, progress lines and errors go to stderr.
//! - A failed run (broker down, a record not delivered, fewer records than asked for)
//!   returns an error; it never prints a summary that looks like success.

pub mod broker_cpu;
pub mod cli;
pub mod compare;
pub mod consume;
pub mod end_to_end;
#[cfg(feature = "rdkafka")]
pub mod mock_cluster;
pub mod produce;
pub mod progress;
pub mod summary;

use anyhow::Result;

use cli::{Cli, Command};

/// Runs one perf command and prints its summary on stdout.
pub async fn run(cli: Cli) -> Result<()> {
    let (summary, json) = match cli.command {
        Command::Produce(args) => {
            let json = args.output.json;
            (produce::run(args).await?, json)
        }
        Command::Consume(args) => {
            let json = args.output.json;
            (consume::run(args).await?, json)
        }
        Command::EndToEnd(args) => {
            let json = args.output.json;
            (end_to_end::run(args).await?, json)
        }
        Command::Compare(args) => return compare::run(args).await,
        #[cfg(feature = "rdkafka")]
        Command::MockCluster => return mock_cluster::run(),
    };
    summary.print(json)
}
