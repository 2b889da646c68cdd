//! The command line of `perf`: `perf produce`, `perf consume` and `perf end-to-end`, with the flags of Kafka's
//! perf-test tools where they have one, and `perf compare`, which runs them side by side.
//!
//! What must stay true:
//! - Values Kafka writes with a minus sign (`--acks -1`, `--throughput -1`) parse.
//! - Bad values are rejected here, by clap, before any connection is made.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use minikafka_client::{Acks, Backend, Compression};

use super::compare::{TargetId, WorkloadId};

/// `perf`: measure minikafka (or any Kafka-protocol broker) with our client.
#[derive(Debug, Parser)]
#[command(
    name = "perf",
    about = "Throughput and latency of producing to and consuming from a Kafka-protocol broker"
)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub command: Command,
}

/// The perf commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send records as fast as allowed and report records/s, MB/s and latency percentiles.
    Produce(ProduceArgs),
    /// Read records from the beginning of a topic and report records/s and MB/s.
    Consume(ConsumeArgs),
    /// Produce at a fixed rate while reading the same records, and report produce-to-consume
    /// latency percentiles.
    EndToEnd(EndToEndArgs),
    /// Run the same workloads on minikafka (fsync never and always; native and rdkafka
    /// clients) and on librdkafka's mock cluster, one after another, and print one table
    /// with ratios (docs/benchmarks.md, "Side by side").
    Compare(CompareArgs),
    /// librdkafka's mock cluster in this process, for `perf compare` (which measures its
    /// CPU): prints its bootstrap address, then answers `create TOPIC PARTITIONS` lines on
    /// stdin, and stops when stdin closes.
    #[cfg(feature = "rdkafka")]
    #[command(hide = true)]
    MockCluster,
}

/// Flags every command shares.
#[derive(Debug, Args)]
pub struct Common {
    /// Broker to bootstrap from, host:port (comma-separated for several).
    #[arg(long, default_value = "localhost:9092")]
    pub bootstrap_server: String,
    /// The topic to write to or read from.
    #[arg(long, default_value = "perf-test")]
    pub topic: String,
    /// How many records to send or read.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub num_records: u64,
}

/// Output and broker-side measurement flags.
#[derive(Debug, Args)]
pub struct Output {
    /// Print the summary as one JSON object instead of one line.
    #[arg(long)]
    pub json: bool,
    /// The broker's Prometheus endpoint, e.g. http://127.0.0.1:9093/metrics (the broker's
    /// `--http`); its `process_cpu_seconds_total` is read before and after the run.
    #[arg(long, value_name = "URL")]
    pub broker_metrics: Option<String>,
}

/// `perf produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Bytes in each record's value (records have no key).
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// At most this many records per second over all producers; -1 means no limit.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true, value_parser = parse_rate)]
    pub throughput: f64,
    /// Acknowledgements to wait for: 0, 1, or all (-1).
    #[arg(long, default_value = "1", allow_hyphen_values = true, value_parser = parse_acks)]
    pub acks: Acks,
    /// How long a batch may wait for more records (linger.ms).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Bytes of records per batch before it is sent (batch.size).
    #[arg(long, default_value_t = 16 * 1024)]
    pub batch_size: usize,
    /// Codec for each batch.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Produce requests each producer keeps unanswered per broker
    /// (max.in.flight.requests.per.connection).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_in_flight: u32,
    /// Client implementation: native (pure Rust) or rdkafka (needs --features rdkafka).
    #[arg(long, default_value = "native")]
    pub backend: Backend,
    /// Concurrent producers, each its own client; they share --num-records and --throughput.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub producers: u32,
    #[command(flatten)]
    pub output: Output,
}

/// `perf consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// reader: one partition reader per partition; group: one member of a consumer group.
    #[arg(long, value_enum, default_value_t = Mode::Reader)]
    pub mode: Mode,
    /// Read only this partition (reader mode).
    #[arg(long)]
    pub partition: Option<i32>,
    /// The group to join (group mode); by default a new one per run, so it starts from the
    /// beginning.
    #[arg(long)]
    pub group: Option<String>,
    /// Fail when no record arrives for this long.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Client implementation: native (pure Rust) or rdkafka (needs --features rdkafka).
    #[arg(long, default_value = "native")]
    pub backend: Backend,
    #[command(flatten)]
    pub output: Output,
}

/// `perf end-to-end`.
#[derive(Debug, Args)]
pub struct EndToEndArgs {
    #[command(flatten)]
    pub common: Common,
    /// Bytes in each record's value, at least 8 (the first 8 carry the send time).
    #[arg(long, default_value_t = 100, value_parser = parse_e2e_size)]
    pub record_size: usize,
    /// Records per second to send (a fixed rate; latency is only meaningful below the
    /// broker's limit).
    #[arg(long, default_value_t = 1000.0, value_parser = parse_fixed_rate)]
    pub throughput: f64,
    /// Acknowledgements to wait for: 0, 1, or all (-1).
    #[arg(long, default_value = "1", allow_hyphen_values = true, value_parser = parse_acks)]
    pub acks: Acks,
    /// How long a batch may wait for more records (linger.ms).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Partitions to create the topic with, if it does not exist.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// Fail when no record arrives for this long.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Client implementation: native (pure Rust) or rdkafka (needs --features rdkafka).
    #[arg(long, default_value = "native")]
    pub backend: Backend,
    #[command(flatten)]
    pub output: Output,
}

/// `perf compare`. Sizes left out take their full value, or their `--quick` one.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Measured runs of each workload on each target; the table shows their median.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: Option<u32>,
    /// Records sent in each produce workload (fsync=always sends a quarter of them).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub records: Option<u64>,
    /// Bytes of log written and then read from the beginning in the consume workload.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1024..))]
    pub consume_bytes: Option<u64>,
    /// Open connections that sit idle during the idle-connections workload.
    #[arg(long)]
    pub idle_connections: Option<u32>,
    /// Which targets (columns) to run, comma-separated; all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub targets: Vec<TargetId>,
    /// Which workloads (rows) to run, comma-separated; all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub workloads: Vec<WorkloadId>,
    /// Tiny sizes and one run, so the whole table takes seconds (for CI).
    #[arg(long)]
    pub quick: bool,
    /// The minikafka-broker binary to run; by default the one beside this `perf`.
    #[arg(long, value_name = "PATH")]
    pub broker_bin: Option<PathBuf>,
    /// Print the results as one JSON object instead of the markdown table.
    #[arg(long)]
    pub json: bool,
}

/// How `perf consume` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `PartitionReader`s, one per partition, all reading at once.
    Reader,
    /// A group consumer (`Consumer`), which joins `--group` and reads what it is assigned.
    Group,
}

/// `--compression`, mirrored for clap's list of possible values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// A record size with room for the 8-byte send time.
fn parse_e2e_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 8 => Ok(n),
        _ => Err(format!(
            "`{s}` is too small; the first 8 bytes carry the send time"
        )),
    }
}

/// A rate above 0 (end-to-end needs one).
fn parse_fixed_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate; give records per second above 0"
        )),
    }
}

fn parse_acks(s: &str) -> Result<Acks, String> {
    s.parse()
        .map_err(|e: minikafka_client::Error| e.to_string())
}

/// A rate above 0, or -1 for none.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r == -1.0 || (r > 0.0 && r.is_finite()) => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate; give records per second above 0, or -1"
        )),
    }
}
