//! The classroom consumer: joins a consumer group, prints every message it receives
//! (topic, partition, offset, key, and the value as pretty-printed JSON), says at each
//! rebalance which member it is and which partitions it got or gave up, and on Ctrl+C
//! commits, leaves the group and prints how many messages came from each partition.
//!
//! Where it sits: the very end of the flow, broker → fetch → consumer → **your screen**.
//! Start two or three of these with the same `--group` to watch the partitions being
//! shared out; start one with another `--group` to see every message a second time.
//! `--session-timeout-ms 6000` (the broker's default minimum) makes a killed member's
//! partitions move in seconds instead of after Kafka's default 45.
//!
//! What must stay true:
//! - stdout carries only records and the final summary; status lines (the member id and
//!   assignment at each rebalance) go to stderr.
//! - `--session-timeout-ms` / `--heartbeat-interval-ms` set `session.timeout.ms` /
//!   `heartbeat.interval.ms`; `--config` is applied after them, so a `--config` of the
//!   same key wins.
//! - Each planned stop (Ctrl+C, `--max-messages`, stdout closed) commits, with the wait
//!   bounded by `COMMIT_WAIT`, and then leaves the group even if the commit failed.
//! - A failed commit or leave exits 1, saying messages may be seen again.
//! - With `--dlq`, a value that is not JSON is not printed: after `--dlq-attempts` tries
//!   it goes to `<topic>.dlq` through `minikafka_client::DeadLetterQueue` (original key,
//!   value and headers, plus Kafka Connect's `__connect.errors.*` headers), and a line
//!   says where. Auto-commit is off then (a `--config enable.auto.commit=true` wins) and
//!   each record is committed once it was printed or its dead-letter record acknowledged,
//!   so a crash makes a record come again, never skips it. Without `--dlq`, nothing of
//!   this runs: a value that is not JSON is printed as text.
//!
//! `cargo run -p minikafka-demo --bin consumer -- --topic demo-topic --group demo-group`

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use minikafka_client::dead_letter::{dead_letter_topic, Outcome};
use minikafka_client::{
    Backend, Consumer, ConsumerConfig, ConsumerEvent, ConsumerRecord, DeadLetterQueue, OffsetReset,
    ProducerConfig, TopicPartition,
};

#[derive(Debug, Parser)]
#[command(about = "Join a consumer group and print every message it receives")]
struct Args {
    /// Broker to bootstrap from, host:port (comma-separated for several).
    #[arg(long, default_value = "localhost:9092")]
    bootstrap_server: String,
    /// Topic to subscribe to.
    #[arg(long, default_value = "demo-topic")]
    topic: String,
    /// Consumer group: members of one group share the partitions.
    #[arg(long, default_value = "demo-group")]
    group: String,
    /// Where to start when the group has no committed offset: earliest or latest.
    #[arg(long, default_value = "earliest")]
    offset_reset: OffsetReset,
    /// Exit (after committing and leaving the group) once this many messages arrived.
    #[arg(long)]
    max_messages: Option<u64>,
    /// How long the group waits for a silent member before giving its partitions to the
    /// others (session.timeout.ms; the broker allows 6000 to 1800000 by default).
    #[arg(long, value_name = "MS", help = session_help())]
    session_timeout_ms: Option<u64>,
    /// How often the member tells the group it is alive (heartbeat.interval.ms).
    #[arg(long, value_name = "MS", help = heartbeat_help())]
    heartbeat_interval_ms: Option<u64>,
    /// Client implementation: native (pure Rust) or rdkafka (needs --features rdkafka).
    #[arg(long, default_value = "native")]
    backend: Backend,
    /// Extra consumer property, key=value (repeatable), e.g. --config session.timeout.ms=10000.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Send values that are not JSON to the dead-letter topic `<topic>.dlq` (with the error
    /// and where they came from in its headers) instead of printing them, and commit past
    /// them; each record is committed once handled.
    #[arg(long)]
    dlq: bool,
    /// With --dlq: how many times a value is tried before it goes to the dead-letter topic
    /// (parsing JSON fails the same way each time, so 1 is enough here).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        requires = "dlq",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    dlq_attempts: u32,
}

/// `--help` for `--session-timeout-ms`, with the client's default (written once, in
/// `ConsumerConfig::new`).
fn session_help() -> String {
    let default = ConsumerConfig::new("", "").session_timeout.as_millis();
    format!(
        "How long the group waits for a silent member before giving its partitions to the \
         others (session.timeout.ms; the broker allows 6000 to 1800000 by default) \
         [default: {default}]"
    )
}

/// `--help` for `--heartbeat-interval-ms`, with the client's default.
fn heartbeat_help() -> String {
    let default = ConsumerConfig::new("", "").heartbeat_interval.as_millis();
    format!(
        "How often the member tells the group it is alive (heartbeat.interval.ms) \
         [default: {default}, or a third of --session-timeout-ms if that is smaller]"
    )
}

/// How long Ctrl+C waits for the final commit.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    minikafka_demo::exit_code(run()).await
}

async fn run() -> Result<()> {
    minikafka_demo::init_logging();
    let args = Args::parse();

    let mut config = ConsumerConfig::new(&args.bootstrap_server, &args.group);
    config.client.backend = args.backend;
    config.client.client_id = "minikafka-demo-consumer".into();
    config.auto_offset_reset = args.offset_reset;
    if let Some(ms) = args.session_timeout_ms {
        config.session_timeout = Duration::from_millis(ms);
        // Kafka's rule of thumb: beat at least three times per session timeout.
        config.heartbeat_interval = config.heartbeat_interval.min(config.session_timeout / 3);
    }
    if let Some(ms) = args.heartbeat_interval_ms {
        config.heartbeat_interval = Duration::from_millis(ms);
    }
    if args.dlq {
        // Commit each record once it is handled (below), never one still being handled.
        config.enable_auto_commit = false;
    }
    for kv in &args.config {
        let (key, value) = minikafka_demo::config_pair(kv)?;
        config.set(key, value)?;
    }

    let session_timeout_ms = config.session_timeout.as_millis();
    let auto_commit = config.enable_auto_commit;
    let dlq = if args.dlq {
        // The same cluster, backend and connection settings as the consumer.
        let mut producer = ProducerConfig::new(&args.bootstrap_server);
        producer.client = config.client.clone();
        producer.client.client_id = "minikafka-demo-consumer-dlq".into();
        let dlq = DeadLetterQueue::new(producer, args.dlq_attempts)
            .await
            .context("cannot start the dead-letter queue's producer")?;
        eprintln!(
            "--dlq: values that are not JSON go to `{}` after {} attempt(s)",
            dead_letter_topic(&args.topic),
            dlq.max_attempts()
        );
        Some(dlq)
    } else {
        None
    };
    let mut consumer = Consumer::new(config)
        .await
        .with_context(|| format!("cannot start the consumer for {}", args.bootstrap_server))?;
    consumer.subscribe(&[&args.topic]).await?;
    // The pid is for the experiment that kills a member without letting it leave.
    eprintln!(
        "consumer (pid {}) in group `{}` subscribed to `{}` (session timeout {} ms); \
         waiting for partitions (Ctrl+C to stop)",
        std::process::id(),
        args.group,
        args.topic,
        session_timeout_ms
    );

    let mut per_partition: BTreeMap<TopicPartition, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut dead_lettered = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let stopped_by = loop {
        if args.max_messages.is_some_and(|max| total >= max) {
            break "--max-messages reached";
        }
        let event = tokio::select! {
            signal = &mut ctrl_c => {
                signal.context("cannot listen for Ctrl+C")?;
                break "Ctrl+C";
            }
            event = consumer.recv() => event?,
        };
        match event {
            ConsumerEvent::Record(record) => {
                let printed = match &dlq {
                    None => print_record(&record),
                    Some(dlq) => {
                        let outcome = handle(dlq, &consumer, &record, auto_commit).await?;
                        if let Outcome::DeadLettered { .. } = outcome {
                            dead_lettered += 1;
                        }
                        print_outcome(&record, &outcome)
                    }
                };
                if printed.is_err() {
                    // `consumer | head`: the reader went away. Stop as cleanly as on Ctrl+C.
                    break "stdout closed";
                }
                total += 1;
                *per_partition
                    .entry(TopicPartition::new(record.topic, record.partition))
                    .or_default() += 1;
            }
            ConsumerEvent::Assigned(tps) => {
                eprintln!("member {}: assigned: {}", member(&consumer), list(&tps));
            }
            ConsumerEvent::Revoked(tps) => {
                eprintln!("member {}: revoked: {}", member(&consumer), list(&tps));
            }
        }
    };

    eprintln!("{stopped_by}: committing and leaving the group");
    // Commit explicitly, so Ctrl+C commits even with --config enable.auto.commit=false;
    // bounded, since a commit waits while the group is rebalancing.
    let committed = match tokio::time::timeout(COMMIT_WAIT, consumer.commit()).await {
        Ok(result) => result.context("the final commit failed"),
        Err(_) => Err(anyhow::anyhow!(
            "the final commit did not finish within {COMMIT_WAIT:?}"
        )),
    };
    let closed = consumer.close().await;
    if let Some(dlq) = &dlq {
        dlq.close().await;
    }
    let mut summary = format!("summary: {total} messages\n");
    if args.dlq {
        let topic = dead_letter_topic(&args.topic);
        summary += &format!("  sent to {topic}: {dead_lettered}\n");
    }
    for (tp, n) in &per_partition {
        summary += &format!("  {} [{}]: {n}\n", tp.topic, tp.partition);
    }
    // Ignore a closed stdout here: the commit and the leave matter more.
    let _ = std::io::stdout().lock().write_all(summary.as_bytes());
    committed
        .and(closed.map_err(anyhow::Error::from))
        .context("the next member of the group may see some of these messages again")
}

/// `--dlq`: parse the value as JSON, up to `--dlq-attempts` times, and send it to the
/// dead-letter topic if it never parses (which commits past it); commit a record that
/// parsed unless auto-commit does it.
async fn handle(
    dlq: &DeadLetterQueue,
    consumer: &Consumer,
    record: &ConsumerRecord,
    auto_commit: bool,
) -> Result<Outcome> {
    let at = format!(
        "{} [{}] @ {}",
        record.topic, record.partition, record.offset
    );
    let outcome = dlq
        .handle(consumer, record, |r| async move {
            match &r.value {
                Some(v) => serde_json::from_slice::<serde_json::Value>(v).map(drop),
                None => Ok(()), // a tombstone: nothing to parse
            }
        })
        .await
        .with_context(|| {
            format!("{at}: not JSON and not stored in the dead-letter topic; not committed")
        })?;
    if let Outcome::Handled { .. } = outcome {
        if !auto_commit {
            consumer
                .commit()
                .await
                .with_context(|| format!("cannot commit past {at}"))?;
        }
    }
    Ok(outcome)
}

/// Prints a record `--dlq` handled: as [`print_record`] does, or where it was sent.
fn print_outcome(record: &ConsumerRecord, outcome: &Outcome) -> std::io::Result<()> {
    let Outcome::DeadLettered {
        attempts,
        error,
        dead_letter: at,
    } = outcome
    else {
        return print_record(record);
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} [{}] @ {}  key={}\nnot JSON ({error}): sent to {} [{}] @ {} after {attempts} attempt(s)",
        record.topic,
        record.partition,
        record.offset,
        key(record),
        at.topic,
        at.partition,
        at.offset
    )?;
    out.flush()
}

fn key(record: &ConsumerRecord) -> String {
    match &record.key {
        Some(k) => String::from_utf8_lossy(k).into_owned(),
        None => "(none)".into(),
    }
}

/// Prints one record; fails only when stdout is closed (a broken pipe).
fn print_record(record: &ConsumerRecord) -> std::io::Result<()> {
    let key = key(record);
    let value = match &record.value {
        None => "(no value)".to_owned(),
        Some(v) => match serde_json::from_slice::<serde_json::Value>(v) {
            Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string()),
            Err(_) => format!("{}  (not JSON, shown as text)", String::from_utf8_lossy(v)),
        },
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} [{}] @ {}  key={key}\n{value}",
        record.topic, record.partition, record.offset
    )?;
    out.flush()
}

/// The member id the coordinator gave this consumer, as the broker's log names it.
fn member(consumer: &Consumer) -> String {
    consumer
        .member_id()
        .unwrap_or_else(|| "(id not known to this backend)".into())
}

fn list(tps: &[TopicPartition]) -> String {
    if tps.is_empty() {
        return "(none)".into();
    }
    tps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
