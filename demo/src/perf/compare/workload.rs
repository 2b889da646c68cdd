//! The workloads of `perf compare`, the rows of its table: a baseline, then the baseline
//! with one dimension changed, each measured by `perf produce` or `perf consume`'s own
//! functions (`produce::run`, `consume::run`) called as library code.
//!
//! What must stay true:
//! - Every workload starts from a new, empty server, and creates its topic with the
//!   partition count it names before any client sends to it.
//! - Broker CPU is read just before and just after the measured part: the log the consume
//!   workload reads is written first, outside it, and idle connections are opened first.
//! - Records/s is the figure of the measured part only, as `perf produce`/`consume` print it.

use anyhow::{Context, Result};
use clap::ValueEnum;
use minikafka_client::Acks;
use serde::Serialize;

use super::super::cli::{
    Common, CompareArgs, CompressionArg, ConsumeArgs, Mode, Output, ProduceArgs,
};
use super::super::summary::Summary;
use super::super::{consume, produce};
use super::idle;
use super::server::{Kind, Server};
use super::target::TargetId;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadId {
    /// 100 B records, 1 partition, 1 producer, acks=1, no compression.
    Baseline,
    /// The baseline with 1 KiB records.
    #[value(name = "1kib")]
    #[serde(rename = "1kib")]
    Kib,
    /// The baseline on 16 partitions.
    #[value(name = "16-partitions")]
    #[serde(rename = "16-partitions")]
    Partitions16,
    /// The baseline on 256 partitions.
    #[value(name = "256-partitions")]
    #[serde(rename = "256-partitions")]
    Partitions256,
    /// The baseline with 4 producers sharing the records.
    #[value(name = "4-producers")]
    #[serde(rename = "4-producers")]
    Producers4,
    /// The baseline with acks=all.
    AcksAll,
    /// The baseline with lz4 batches.
    Lz4,
    /// Read a log from the beginning (written first, 1 KiB records, 1 partition).
    Consume,
    /// The baseline while many other connections sit open and idle.
    IdleConnections,
}

impl WorkloadId {
    /// Every workload, baseline first.
    pub const ALL: [WorkloadId; 9] = [
        WorkloadId::Baseline,
        WorkloadId::Kib,
        WorkloadId::Partitions16,
        WorkloadId::Partitions256,
        WorkloadId::Producers4,
        WorkloadId::AcksAll,
        WorkloadId::Lz4,
        WorkloadId::Consume,
        WorkloadId::IdleConnections,
    ];

    /// The name `--workloads` takes.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    }

    /// The row heading; `sizes` fills in the consume and idle figures.
    pub fn label(self, sizes: &Sizes) -> String {
        match self {
            WorkloadId::Baseline => "baseline: 100 B, 1 partition, 1 producer, acks=1".into(),
            WorkloadId::Kib => "1 KiB records".into(),
            WorkloadId::Partitions16 => "16 partitions".into(),
            WorkloadId::Partitions256 => "256 partitions".into(),
            WorkloadId::Producers4 => "4 producers".into(),
            WorkloadId::AcksAll => "acks=all".into(),
            WorkloadId::Lz4 => "lz4".into(),
            WorkloadId::Consume => format!("consume {} from the start", bytes(sizes.consume_bytes)),
            WorkloadId::IdleConnections => {
                format!("{} idle connections + 1 producer", sizes.idle_connections)
            }
        }
    }

    fn partitions(self) -> i32 {
        match self {
            WorkloadId::Partitions16 => 16,
            WorkloadId::Partitions256 => 256,
            _ => 1,
        }
    }
}

/// How big each workload is.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Records per produce workload.
    pub records: u64,
    /// Records per produce workload on fsync=always, which is much slower: a quarter.
    pub records_fsync_always: u64,
    /// Bytes of log the consume workload writes and then reads.
    pub consume_bytes: u64,
    /// Records the consume workload writes to and reads from the mock cluster, which keeps
    /// only the last 5 MiB (or 100,000 records) of a partition and fetches slowly.
    pub mock_consume_records: u64,
    /// Connections held open in the idle-connections workload.
    pub idle_connections: u32,
}

/// Record size of the log the consume workload reads.
pub const CONSUME_RECORD_SIZE: usize = 1024;

impl Sizes {
    /// The flags' sizes, or the full (or `--quick`) defaults.
    pub fn from_args(args: &CompareArgs) -> Sizes {
        let quick = args.quick;
        let records = args.records.unwrap_or(if quick { 2_000 } else { 200_000 });
        Sizes {
            records,
            records_fsync_always: (records / 4).max(1),
            consume_bytes: args
                .consume_bytes
                .unwrap_or(if quick { 1 << 20 } else { 1 << 30 }),
            mock_consume_records: if quick { 200 } else { 4_000 },
            idle_connections: args
                .idle_connections
                .unwrap_or(if quick { 20 } else { 1_000 }),
        }
    }
}

/// What one cell measured.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Measure {
    /// Records produced or read in the measured part.
    pub records: u64,
    pub records_per_s: f64,
    /// Server CPU milliseconds per million records (None without `/proc`).
    pub server_cpu_ms_per_million: Option<f64>,
}

/// Runs `workload` once against a new `target` server.
pub async fn run(
    workload: WorkloadId,
    target: TargetId,
    sizes: &Sizes,
    broker_bin: &std::path::Path,
) -> Result<Measure> {
    let max_connections = sizes.idle_connections + 64;
    let mut server = Server::start(target.server(), broker_bin, max_connections).await?;
    let topic = format!("compare-{}", workload.name());
    server.create_topic(&topic, workload.partitions()).await?;
    let result = measure(workload, target, sizes, &server, &topic).await;
    server.stop().await;
    result
}

async fn measure(
    workload: WorkloadId,
    target: TargetId,
    sizes: &Sizes,
    server: &Server,
    topic: &str,
) -> Result<Measure> {
    let records = match target.server() {
        Kind::Broker { fsync_always: true } => sizes.records_fsync_always,
        _ => sizes.records,
    };
    let mut args = produce_args(server.bootstrap(), topic, records, target);
    match workload {
        WorkloadId::Baseline | WorkloadId::Partitions16 | WorkloadId::Partitions256 => {}
        WorkloadId::Kib => args.record_size = 1024,
        WorkloadId::Producers4 => args.producers = 4,
        WorkloadId::AcksAll => args.acks = Acks::All,
        WorkloadId::Lz4 => args.compression = CompressionArg::Lz4,
        WorkloadId::Consume => return consume_log(target, sizes, server, topic).await,
        WorkloadId::IdleConnections => {
            let idle = idle::open(server.bootstrap(), sizes.idle_connections).await?;
            let measure = timed(server, produce::run(args)).await;
            drop(idle);
            return measure;
        }
    }
    timed(server, produce::run(args)).await
}

/// Writes the log (unmeasured, in large batches), then times reading it from the start.
async fn consume_log(
    target: TargetId,
    sizes: &Sizes,
    server: &Server,
    topic: &str,
) -> Result<Measure> {
    let mut records = (sizes.consume_bytes / CONSUME_RECORD_SIZE as u64).max(1);
    if target.server() == Kind::Mock {
        records = records.min(sizes.mock_consume_records);
    }
    let mut write = produce_args(server.bootstrap(), topic, records, target);
    write.record_size = CONSUME_RECORD_SIZE;
    write.batch_size = 512 * 1024; // below librdkafka's message.max.bytes (1000000)
    write.linger_ms = 20;
    produce::run(write)
        .await
        .context("writing the log to read")?;
    let read = ConsumeArgs {
        common: common(server.bootstrap(), topic, records),
        mode: Mode::Reader,
        partition: None,
        group: None,
        timeout_ms: 30_000,
        backend: target.backend(),
        output: no_output(),
    };
    timed(server, consume::run(read)).await
}

/// Runs `work`, reading the server's CPU just before and after it.
async fn timed(
    server: &Server,
    work: impl std::future::Future<Output = Result<Summary>>,
) -> Result<Measure> {
    let before = server.cpu_ms();
    let summary = work.await?;
    let after = server.cpu_ms();
    let per_million = |b: f64, a: f64| (a - b) / (summary.records as f64 / 1e6);
    Ok(Measure {
        records: summary.records,
        records_per_s: summary.records_per_s,
        server_cpu_ms_per_million: before.zip(after).map(|(b, a)| per_million(b, a)),
    })
}

/// The baseline: `perf produce`'s defaults, with no rate limit.
fn produce_args(bootstrap: &str, topic: &str, records: u64, target: TargetId) -> ProduceArgs {
    ProduceArgs {
        common: common(bootstrap, topic, records),
        record_size: 100,
        throughput: -1.0,
        acks: Acks::Leader,
        linger_ms: 5,
        batch_size: 16 * 1024,
        compression: CompressionArg::None,
        max_in_flight: 5,
        backend: target.backend(),
        producers: 1,
        output: no_output(),
    }
}

fn common(bootstrap: &str, topic: &str, records: u64) -> Common {
    Common {
        bootstrap_server: bootstrap.to_string(),
        topic: topic.to_string(),
        num_records: records,
    }
}

fn no_output() -> Output {
    Output {
        json: false,
        broker_metrics: None,
    }
}

/// `1 GiB`, `64 MiB`, `1000 B`: a size as the issue writes it.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n.is_multiple_of(1 << 30) => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n.is_multiple_of(1 << 10) => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}
