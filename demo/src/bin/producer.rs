//! The classroom producer: sends JSON events keyed by user, so the same user always lands on
//! the same partition, and prints where each one was stored. Before sending, it says on
//! stderr which broker it reached, from the cluster metadata.
//!
//! Where it sits: the very start of the flow, application → producer → partitioner → wire.
//!
//! What must stay true:
//! - acks=all always: `--config` cannot weaken it.
//! - Each message is awaited before the next is sent, so the lines printed come in send
//!   order; stdout carries only those lines (the broker line goes to stderr).
//! - The key is the user, so one user's events keep their order on one partition; the
//!   users are [`minikafka_demo::DEMO_KEYS`], which reach every partition of a
//!   3-partition topic.
//!
//! `cargo run -p minikafka-demo --bin producer -- --count 10 --interval-ms 1000`

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use minikafka_client::{
    Acks, Admin, Backend, ClientConfig, Producer, ProducerConfig, ProducerRecord,
};

#[derive(Debug, Parser)]
#[command(about = "Send JSON events keyed by user and print where each one was stored")]
struct Args {
    /// Broker to bootstrap from, host:port (comma-separated for several).
    #[arg(long, default_value = "localhost:9092")]
    bootstrap_server: String,
    /// Topic to send to (created on first use if the broker allows it).
    #[arg(long, default_value = "demo-topic")]
    topic: String,
    /// How many messages to send.
    #[arg(long, default_value_t = 10)]
    count: u64,
    /// Pause between messages, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Client implementation: native (pure Rust) or rdkafka (needs --features rdkafka).
    #[arg(long, default_value = "native")]
    backend: Backend,
    /// Extra producer property, key=value (repeatable), e.g. --config linger.ms=20.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    minikafka_demo::exit_code(run()).await
}

async fn run() -> Result<()> {
    minikafka_demo::init_logging();
    let args = Args::parse();

    let mut config = ProducerConfig::new(&args.bootstrap_server);
    config.client.backend = args.backend;
    config.client.client_id = "minikafka-demo-producer".into();
    config.acks = Acks::All;
    for kv in &args.config {
        let (key, value) = minikafka_demo::config_pair(kv)?;
        config.set(key, value)?;
    }
    // The classroom producer always waits for every replica; --config cannot weaken that.
    config.acks = Acks::All;

    let client = config.client.clone();
    let producer = Producer::new(config)
        .await
        .with_context(|| format!("cannot start the producer for {}", args.bootstrap_server))?;
    eprintln!("{}", reached(client).await);

    for id in 0..args.count {
        let event = minikafka_demo::demo_event(id);
        let (user, value) = (event.key, event.value);
        let record = ProducerRecord::new(&args.topic)
            .key(user.to_string())
            .value(value.clone())
            .timestamp(event.timestamp);
        let meta = producer
            .send(record)
            .await
            .with_context(|| format!("sending message {id} to {}", args.topic))?;
        writeln!(
            std::io::stdout().lock(),
            "{} [{}] @ {}  key={}  value={}",
            meta.topic,
            meta.partition,
            meta.offset,
            user,
            value
        )
        .context("cannot print the delivery report (stdout closed?)")?;
        if id + 1 < args.count && args.interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }
    producer.close().await;
    Ok(())
}

/// Which broker the producer reached: the bootstrap address it was given and the brokers
/// the cluster metadata names. Falls back to the bootstrap address alone if the metadata
/// cannot be read (the producer itself already connected, so sending goes on).
async fn reached(client: ClientConfig) -> String {
    let bootstrap = client.bootstrap_servers.join(",");
    let metadata = match Admin::new(client).await {
        Ok(admin) => admin.list_topics().await,
        Err(e) => Err(e),
    };
    match metadata {
        Ok(cluster) => match cluster.brokers.as_slice() {
            [one] => format!(
                "reached broker {} at {} (bootstrap {bootstrap})",
                one.id,
                one.addr()
            ),
            brokers => {
                let named: Vec<String> = brokers
                    .iter()
                    .map(|b| format!("broker {} at {}", b.id, b.addr()))
                    .collect();
                format!(
                    "reached a cluster of {} brokers through {bootstrap}: {}",
                    brokers.len(),
                    named.join(", ")
                )
            }
        },
        Err(e) => format!("reached {bootstrap} (its cluster metadata is unreadable: {e})"),
    }
}
