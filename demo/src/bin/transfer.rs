//! The exactly-once transfer: consume, transform, produce, with transactions. It reads
//! every message of `--from` as a member of `--group` (`read_committed`, no
//! auto-commit), writes each to `--to` (same key, value and headers, plus a
//! `transfer.source` header saying where it came from) and commits, in one transaction,
//! those writes and the group's position after them. Every `--batch` messages (or once
//! no message came for `--linger-ms`) the transaction commits and a line says what it
//! held.
//!
//! Where it sits: topic → consumer → **transfer** → producer → topic: the classroom's
//! "going further: exactly-once" item.
//!
//! Kill it at any moment (`kill -9`) and start it again with the same
//! `--transactional-id`: the new instance fences the old one, the transaction the old
//! one left open is aborted, and the group's committed offsets are those of the last
//! committed transaction, so each input message appears in the output exactly once, as
//! a `read_committed` consumer sees it.
//!
//! What must stay true:
//! - Nothing is written outside a transaction, and a transaction's offsets are exactly
//!   the positions after the messages it wrote.
//! - A rebalance during an open transaction aborts it: the partitions' new owner starts
//!   from the committed offsets, which do not include it.
//! - Any other error ends the process (exit 1) without committing: a restart resumes
//!   from the last committed transaction.
//!
//! `cargo run -p minikafka-demo --bin transfer -- --from demo-topic --to demo-topic-copy`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use minikafka_client::{
    Backend, Consumer, ConsumerConfig, ConsumerEvent, ConsumerRecord, OffsetReset, Producer,
    ProducerConfig, ProducerRecord,
};

#[derive(Debug, Parser)]
#[command(about = "Copy a topic to another, exactly once, with transactions")]
struct Args {
    /// Broker to bootstrap from, host:port (comma-separated for several).
    #[arg(long, default_value = "localhost:9092")]
    bootstrap_server: String,
    /// Topic to read.
    #[arg(long, default_value = "demo-topic")]
    from: String,
    /// Topic to write.
    #[arg(long, default_value = "demo-topic-copy")]
    to: String,
    /// Consumer group whose committed offsets say how far the transfer got.
    #[arg(long, default_value = "transfer")]
    group: String,
    /// The producer's transactional.id: a restarted transfer with the same id fences
    /// the old one.
    #[arg(long, default_value = "transfer-1")]
    transactional_id: String,
    /// Messages per transaction.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Commit a smaller transaction once no message came for this long.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    linger_ms: u64,
    /// Simulated work per message, done while its transaction is open (after its copy is
    /// sent): the longer, the likelier a kill lands inside an open transaction.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    process_ms: u64,
    /// Exit after this many messages were transferred (committed) by this run.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Client implementation: native (pure Rust) or rdkafka (needs --features rdkafka).
    #[arg(long, default_value = "native")]
    backend: Backend,
    /// Extra consumer property, key=value (repeatable), e.g. --config session.timeout.ms=6000.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    minikafka_demo::exit_code(run()).await
}

/// One transaction's worth of messages, and the position after each partition's last.
#[derive(Debug, Default)]
struct Pending {
    records: Vec<ConsumerRecord>,
    positions: BTreeMap<(String, i32), i64>,
}

async fn run() -> Result<()> {
    minikafka_demo::init_logging();
    let args = Args::parse();

    let mut consumer_config = ConsumerConfig::new(&args.bootstrap_server, &args.group);
    consumer_config.client.backend = args.backend;
    consumer_config.client.client_id = "minikafka-demo-transfer".into();
    consumer_config.auto_offset_reset = OffsetReset::Earliest;
    consumer_config.enable_auto_commit = false;
    consumer_config.set("isolation.level", "read_committed")?;
    for kv in &args.config {
        let (key, value) = minikafka_demo::config_pair(kv)?;
        consumer_config.set(key, value)?;
    }
    let mut producer_config = ProducerConfig::new(&args.bootstrap_server);
    producer_config.client = consumer_config.client.clone();
    producer_config.set("transactional.id", &args.transactional_id)?;
    producer_config.set("linger.ms", "5")?;

    let producer = Producer::new(producer_config)
        .await
        .with_context(|| format!("cannot start the producer for {}", args.bootstrap_server))?;
    producer.init_transactions().await.with_context(|| {
        format!(
            "cannot initialise transactional id `{}`",
            args.transactional_id
        )
    })?;
    let mut consumer = Consumer::new(consumer_config).await?;
    consumer.subscribe(&[&args.from]).await?;
    eprintln!(
        "transfer (pid {}) `{}` → `{}` as group `{}`, transactional id `{}`; Ctrl+C to stop",
        std::process::id(),
        args.from,
        args.to,
        args.group,
        args.transactional_id
    );

    let linger = Duration::from_millis(args.linger_ms);
    let mut moved = 0u64;
    let mut pending = Pending::default();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if args.max_messages.is_some_and(|max| moved >= max) {
            break;
        }
        let full = pending.records.len() as u64 >= args.batch;
        let next = tokio::select! {
            signal = &mut ctrl_c => {
                signal.context("cannot listen for Ctrl+C")?;
                break;
            }
            event = tokio::time::timeout(linger, consumer.recv()), if !full => Some(event),
            () = std::future::ready(()), if full => None,
        };
        match next {
            Some(Ok(event)) => match event? {
                ConsumerEvent::Record(r) => {
                    pending
                        .positions
                        .insert((r.topic.clone(), r.partition), r.offset + 1);
                    pending.records.push(r);
                }
                ConsumerEvent::Assigned(tps) | ConsumerEvent::Revoked(tps) => {
                    // The positions of what is pending may belong to another member now.
                    if !pending.records.is_empty() {
                        eprintln!(
                            "rebalance ({} partitions): dropping the {} messages not yet \
                             committed; the partitions' owner reads them again",
                            tps.len(),
                            pending.records.len()
                        );
                        pending = Pending::default();
                    }
                }
            },
            // Full, or quiet for `linger`: commit what is pending.
            Some(Err(_)) | None => {
                if pending.records.is_empty() {
                    continue;
                }
                let batch = std::mem::take(&mut pending);
                let n = batch.records.len() as u64;
                transfer(&producer, &consumer, &args.to, batch, args.process_ms).await?;
                moved += n;
            }
        }
    }
    if !pending.records.is_empty() {
        eprintln!(
            "stopping: {} messages not committed; the next run transfers them",
            pending.records.len()
        );
    }
    producer.close().await;
    consumer.close().await.ok();
    eprintln!("transferred {moved} messages in this run");
    Ok(())
}

/// One transaction: the messages written to `to`, the group's positions, commit.
async fn transfer(
    producer: &Producer,
    consumer: &Consumer,
    to: &str,
    batch: Pending,
    process_ms: u64,
) -> Result<()> {
    producer.begin_transaction().await?;
    let mut deliveries = Vec::with_capacity(batch.records.len());
    for r in &batch.records {
        let mut out = ProducerRecord::new(to);
        if let Some(k) = &r.key {
            out = out.key(k.clone());
        }
        if let Some(v) = &r.value {
            out = out.value(v.clone());
        }
        for h in &r.headers {
            out.headers.push(h.clone());
        }
        out = out.header(
            "transfer.source",
            format!("{}-{}@{}", r.topic, r.partition, r.offset),
        );
        deliveries.push(producer.enqueue(out).await?);
        if process_ms > 0 {
            tokio::time::sleep(Duration::from_millis(process_ms)).await;
        }
    }
    for d in deliveries {
        d.await
            .context("a message of the transaction was not written")?;
    }
    let offsets: Vec<(String, i32, i64)> = batch
        .positions
        .iter()
        .map(|((t, p), o)| (t.clone(), *p, *o))
        .collect();
    producer
        .send_offsets_to_transaction(&offsets, &consumer.group_metadata())
        .await?;
    producer.commit_transaction().await?;
    let ranges: Vec<String> = batch
        .positions
        .iter()
        .map(|((t, p), o)| format!("{t}[{p}] up to {}", o - 1))
        .collect();
    println!(
        "committed a transaction of {} messages: {}",
        batch.records.len(),
        ranges.join(", ")
    );
    Ok(())
}
