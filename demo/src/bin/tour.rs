//! `tour`: the guided tour of Kafka's internals, on a broker embedded in this process.
//! All the work is in the library (`minikafka_demo::tour`); this parses the arguments.
//!
//! Where it sits: around the whole flow, producer → broker → consumer, in one process.
//!
//! `cargo run --release -p minikafka-demo --bin tour` (`--step`, `--chapter N`,
//! `--keep-data DIR`).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    minikafka_demo::init_logging();
    let args = minikafka_demo::tour::Args::parse();
    minikafka_demo::exit_code(minikafka_demo::tour::run(args)).await
}
