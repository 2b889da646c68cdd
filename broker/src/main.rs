//! `minikafka-broker`: the thin CLI. `serve` (the default) runs the broker;
//! `inspect` looks inside a data directory. All the work is in the library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use minikafka_broker::log::FsyncPolicy;
use minikafka_broker::{Broker, Config};

#[derive(Parser, Debug)]
#[command(
    name = "minikafka-broker",
    version,
    about = "A small Kafka-compatible broker you can read end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the broker (the default when no command is given).
    Serve(ServeArgs),
    /// Look inside a data directory or a segment file.
    #[command(subcommand)]
    Inspect(Inspect),
}

#[derive(Subcommand, Debug)]
enum Inspect {
    /// List topics, partitions, offsets and segments of a data directory.
    Topics {
        /// The broker's data directory.
        data_dir: PathBuf,
    },
    /// Print every batch and record of a `.log`, or every entry of an `.index`.
    Dump {
        /// A `<base offset>.log` or `<base offset>.index` file.
        file: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on (Kafka: listeners).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: std::net::SocketAddr,
    /// Host name clients are told to connect to (Kafka: the host of advertised.listeners).
    /// Default: the IP the broker listens on, or 127.0.0.1 if that is 0.0.0.0.
    #[arg(long)]
    advertised_host: Option<String>,
    /// Port clients are told to connect to, when they reach the broker through a proxy,
    /// a tunnel or NAT (Kafka: the port of advertised.listeners). Default: the listen port.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    advertised_port: Option<u16>,
    /// Data directory (Kafka: log.dirs).
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Partitions of an auto-created topic (Kafka: num.partitions).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    num_partitions: i32,
    /// Create unknown topics on first use (Kafka: auto.create.topics.enable).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    auto_create_topics: bool,
    /// Durability: never, always, or a sync interval in milliseconds.
    #[arg(long, default_value = "never")]
    fsync: FsyncPolicy,
    /// Roll a segment at this many bytes (Kafka: log.segment.bytes).
    #[arg(long, default_value_t = 1 << 30)]
    segment_bytes: u64,
    /// Delete old segments past this many bytes per partition (Kafka: log.retention.bytes).
    #[arg(long)]
    retention_bytes: Option<u64>,
    /// Delete segments older than this many milliseconds (Kafka: log.retention.ms).
    #[arg(long, default_value_t = 7 * 24 * 3600 * 1000)]
    retention_ms: u64,
    /// Largest request frame accepted, in bytes (Kafka: socket.request.max.bytes).
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    max_request_bytes: usize,
    /// Maximum number of open client connections (Kafka: max.connections).
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Do not log one line per request.
    #[arg(long, short)]
    quiet: bool,
    /// Log filter, as for RUST_LOG (for example `debug` or `minikafka_broker=trace`).
    #[arg(long, default_value = "info")]
    log: String,
}

impl ServeArgs {
    fn into_config(self) -> Config {
        let mut config = Config {
            listen: self.listen,
            advertised_host: self.advertised_host,
            advertised_port: self.advertised_port,
            data_dir: self.data_dir,
            num_partitions: self.num_partitions,
            auto_create_topics: self.auto_create_topics,
            max_request_bytes: self.max_request_bytes,
            max_connections: self.max_connections,
            log_requests: !self.quiet,
            ..Config::default()
        };
        config.log.fsync = self.fsync;
        config.log.segment_bytes = self.segment_bytes;
        config.log.retention_bytes = self.retention_bytes;
        config.log.retention_ms = Some(Duration::from_millis(self.retention_ms));
        config
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain of causes on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Inspect(Inspect::Topics { data_dir })) => {
            minikafka_broker::inspect::topics(&data_dir, &mut std::io::stdout().lock())?;
            Ok(())
        }
        Some(Command::Inspect(Inspect::Dump { file })) => {
            minikafka_broker::inspect::dump(&file, &mut std::io::stdout().lock())?;
            Ok(())
        }
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log)
                .with_context(|| format!("bad --log filter {:?}", args.log))?,
        )
        .with_target(false)
        .init();
    let config = args.into_config();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let handle = Broker::start(config).await.with_context(|| {
            format!("cannot start the broker (data dir {})", data_dir.display())
        })?;
        tracing::info!(
            "minikafka listening on {} (data dir {}); Ctrl+C to stop",
            handle.addr(),
            data_dir.display()
        );
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl+C")?;
        tracing::info!("Ctrl+C: shutting down");
        handle.shutdown().await;
        Ok(())
    })
}
