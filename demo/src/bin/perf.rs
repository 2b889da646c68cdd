//! `perf`: throughput and latency of a Kafka-protocol broker, measured with our client, in
//! the spirit of kafka-producer-perf-test and kafka-consumer-perf-test. The logic is in
//! `minikafka_demo::perf`; the figures are explained in docs/benchmarks.md.
//!
//! What must stay true: stdout holds only the summary (and the progress bar on a terminal);
//! a failure prints `error:` on stderr and exits 1.
//!
//! `cargo run --release -p minikafka-demo --bin perf -- produce --num-records 100000`

use std::process::ExitCode;

use clap::Parser;
use minikafka_demo::perf::{self, cli::Cli};

#[tokio::main]
async fn main() -> ExitCode {
    minikafka_demo::exit_code(async {
        minikafka_demo::init_logging();
        perf::run(Cli::parse()).await
    })
    .await
}
