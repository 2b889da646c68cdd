//! `minikafka-broker`: the thin CLI. `serve` (the default) runs the broker;
//! `inspect` looks inside a data directory. All the work is in the library.
//!
//! Flow: operator → **main** → `Broker::start` (server → connection → protocol → …)
//! until Ctrl+C, then `BrokerHandle::shutdown`; `inspect` reads files with no server.
//!
//! What must stay true:
//! - No default is written here: a flag that is not given keeps its value from
//!   `Config::default()`, and `--help` shows the defaults read from there
//!   ([`show_defaults`]).
//! - No broker logic here: flags become a `Config`, and the library does the rest.
//! - A failure exits with status 1 and its whole cause chain on one line.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use minikafka_broker::config::FsyncPolicy;
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

// Parsed once at start-up: the size of the serve variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
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
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print every batch and record of a `.log` (commits decoded in
    /// `__consumer_offsets`), or every entry of an `.index` or a `.timeindex`.
    Dump {
        /// A `<base offset>.log`, `.index` or `.timeindex` file.
        file: PathBuf,
        /// Label every byte of each batch header (offsets, length, CRC, ...).
        #[arg(long)]
        hex: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Consumer groups: committed offsets and lag, from the files of a data dir or
    /// from a running broker (with members and assignments).
    Groups {
        /// The broker's data directory (read-only).
        #[arg(
            required_unless_present = "bootstrap_server",
            conflicts_with = "bootstrap_server"
        )]
        data_dir: Option<PathBuf>,
        /// Ask a running broker instead (HOST:PORT).
        #[arg(long)]
        bootstrap_server: Option<String>,
        /// How long to wait for the broker, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Prints a report as pretty JSON or as its text rendering.
fn print<T: serde::Serialize>(
    report: &T,
    json: bool,
    text: impl FnOnce(&T, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        text(report, &mut out)
    };
    match written {
        // The reader went away (`inspect dump ... | head`): stop quietly, as `cat` does.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("cannot write to standard output"),
    }
}

fn inspect(command: Inspect) -> anyhow::Result<()> {
    use minikafka_broker::inspect;
    match command {
        Inspect::Topics { data_dir, json } => {
            print(&inspect::topics(&data_dir)?, json, |r, o| r.write_text(o))
        }
        Inspect::Dump { file, hex, json } => {
            print(&inspect::dump(&file, hex)?, json, |r, o| r.write_text(o))
        }
        Inspect::Groups {
            data_dir,
            bootstrap_server,
            timeout_ms,
            json,
        } => {
            let report = match (data_dir, bootstrap_server) {
                (_, Some(addr)) => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the tokio runtime")?
                    .block_on(inspect::remote::groups(
                        &addr,
                        Duration::from_millis(timeout_ms),
                    ))?,
                (Some(dir), None) => inspect::groups(&dir)?,
                (None, None) => anyhow::bail!("give a data dir or --bootstrap-server"),
            };
            print(&report, json, |r, o| r.write_text(o))
        }
    }
}

/// The flags of `serve`. Each is optional: what is not given keeps its value from
/// `Config::default()`, the one place the defaults are written (`--help` reads them
/// from there too, see [`show_defaults`]).
#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on (Kafka: listeners).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics on http://ADDR/metrics (for example 127.0.0.1:9644).
    /// Off when not given.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// Host name clients are told to connect to (Kafka: the host of advertised.listeners).
    /// Default: the IP the broker listens on, or 127.0.0.1 if that is 0.0.0.0.
    #[arg(long)]
    advertised_host: Option<String>,
    /// Port clients are told to connect to, when they reach the broker through a proxy,
    /// a tunnel or NAT (Kafka: the port of advertised.listeners). Default: the listen port.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    advertised_port: Option<u16>,
    /// Data directory (Kafka: log.dirs).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Partitions of an auto-created topic (Kafka: num.partitions).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    num_partitions: Option<i32>,
    /// Create unknown topics on first use (Kafka: auto.create.topics.enable).
    #[arg(long, action = clap::ArgAction::Set)]
    auto_create_topics: Option<bool>,
    /// Durability: never, always, or a sync interval in milliseconds.
    #[arg(long)]
    fsync: Option<FsyncPolicy>,
    /// Roll a segment at this many bytes (Kafka: log.segment.bytes).
    #[arg(long)]
    segment_bytes: Option<u64>,
    /// Delete old segments past this many bytes per partition (Kafka: log.retention.bytes).
    #[arg(long)]
    retention_bytes: Option<u64>,
    /// Delete segments older than this many milliseconds (Kafka: log.retention.ms).
    #[arg(long)]
    retention_ms: Option<u64>,
    /// Largest request frame accepted, in bytes (Kafka: socket.request.max.bytes).
    #[arg(long)]
    max_request_bytes: Option<usize>,
    /// Maximum number of open client connections (Kafka: max.connections).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Maximum number of open connections from one client address; one more is closed at
    /// once (Kafka: max.connections.per.ip).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_ip: Option<u64>,
    /// How often to look for segments to delete, in milliseconds (Kafka:
    /// log.retention.check.interval.ms). One check also runs at start-up.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    retention_check_interval_ms: Option<u64>,
    /// How often the log cleaner looks for compacted topics (cleanup.policy=compact) to
    /// clean, in milliseconds (Kafka: log.cleaner.backoff.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    log_cleaner_backoff_ms: Option<u64>,
    /// Segment size of __consumer_offsets, in bytes (Kafka: offsets.topic.segment.bytes).
    /// Smaller segments let the log cleaner compact the commits sooner.
    #[arg(long, value_parser = clap::value_parser!(u64).range(14..))]
    offsets_topic_segment_bytes: Option<u64>,
    /// Smallest session timeout a consumer may ask for, in milliseconds; a JoinGroup
    /// outside the range gets INVALID_SESSION_TIMEOUT (Kafka: group.min.session.timeout.ms).
    #[arg(long)]
    group_min_session_timeout_ms: Option<u64>,
    /// Largest session timeout a consumer may ask for, in milliseconds
    /// (Kafka: group.max.session.timeout.ms).
    #[arg(long)]
    group_max_session_timeout_ms: Option<u64>,
    /// Do not log one line per request.
    #[arg(long, short)]
    quiet: bool,
    /// Explain mode: log each internal step (partition chosen, append, index entry,
    /// fsync, fetch wait, group state, offset commit record, roll, retention) and the
    /// file and function that does it.
    #[arg(long)]
    explain: bool,
    /// Log filter, as for RUST_LOG (for example `debug` or `minikafka_broker=trace`).
    #[arg(long, default_value = "info")]
    log: String,
}

impl ServeArgs {
    /// `Config::default()` with every flag that was given applied over it.
    fn into_config(self) -> Config {
        let mut config = Config::default();
        set(&mut config.listen, self.listen);
        set(&mut config.http, self.http.map(Some));
        set(&mut config.advertised_host, self.advertised_host.map(Some));
        set(&mut config.advertised_port, self.advertised_port.map(Some));
        set(&mut config.data_dir, self.data_dir);
        set(&mut config.num_partitions, self.num_partitions);
        set(&mut config.auto_create_topics, self.auto_create_topics);
        set(&mut config.max_request_bytes, self.max_request_bytes);
        set(&mut config.max_connections, self.max_connections);
        set(
            &mut config.max_connections_per_ip,
            self.max_connections_per_ip
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        );
        config.log_requests = !self.quiet;
        config.explain = self.explain;
        let ms = |ms: Option<u64>| ms.map(Duration::from_millis);
        set(
            &mut config.retention_check_interval,
            ms(self.retention_check_interval_ms),
        );
        set(
            &mut config.log_cleaner_backoff,
            ms(self.log_cleaner_backoff_ms),
        );
        set(
            &mut config.offsets_topic_segment_bytes,
            self.offsets_topic_segment_bytes,
        );
        set(
            &mut config.group_min_session_timeout,
            ms(self.group_min_session_timeout_ms),
        );
        set(
            &mut config.group_max_session_timeout,
            ms(self.group_max_session_timeout_ms),
        );
        set(&mut config.log.fsync, self.fsync);
        set(&mut config.log.segment_bytes, self.segment_bytes);
        set(
            &mut config.log.retention_bytes,
            self.retention_bytes.map(Some),
        );
        set(
            &mut config.log.retention_ms,
            self.retention_ms.map(|ms| Some(Duration::from_millis(ms))),
        );
        config
    }
}

/// Overwrites `slot` when the flag was given.
fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

/// Adds `[default: …]` to the help of each serve flag that has one, read from
/// `Config::default()`, so that `--help` tells the defaults without a second copy.
fn show_defaults(cmd: clap::Command) -> clap::Command {
    let d = Config::default();
    let retention_ms = d
        .log
        .retention_ms
        .map_or_else(|| "none".to_string(), |t| t.as_millis().to_string());
    let defaults = [
        ("listen", d.listen.to_string()),
        ("data_dir", d.data_dir.display().to_string()),
        ("num_partitions", d.num_partitions.to_string()),
        ("auto_create_topics", d.auto_create_topics.to_string()),
        ("fsync", d.log.fsync.to_string()),
        ("segment_bytes", d.log.segment_bytes.to_string()),
        ("retention_ms", retention_ms),
        ("max_request_bytes", d.max_request_bytes.to_string()),
        ("max_connections", d.max_connections.to_string()),
        ("max_connections_per_ip", "no limit".to_string()),
        (
            "retention_check_interval_ms",
            d.retention_check_interval.as_millis().to_string(),
        ),
        (
            "log_cleaner_backoff_ms",
            d.log_cleaner_backoff.as_millis().to_string(),
        ),
        (
            "offsets_topic_segment_bytes",
            d.offsets_topic_segment_bytes.to_string(),
        ),
        (
            "group_min_session_timeout_ms",
            d.group_min_session_timeout.as_millis().to_string(),
        ),
        (
            "group_max_session_timeout_ms",
            d.group_max_session_timeout.as_millis().to_string(),
        ),
    ];
    let annotate = |mut cmd: clap::Command| {
        for (id, value) in &defaults {
            cmd = cmd.mut_arg(*id, |arg| {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [default: {value}]"))
            });
        }
        cmd
    };
    annotate(cmd).mut_subcommand("serve", annotate)
}

fn main() -> std::process::ExitCode {
    let matches = show_defaults(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli) {
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
        Some(Command::Inspect(command)) => inspect(command),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .with_context(|| format!("bad --log filter {:?}", args.log))?;
    if args.explain {
        // `--explain` asks for its lines: show them even under, say, `--log warn`.
        filter = filter.add_directive(
            "minikafka_broker::explain=info"
                .parse()
                .context("the explain log directive")?,
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours for a terminal only: a log redirected to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let config = args.into_config();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let handle = Broker::start(config).await.with_context(|| {
            format!("cannot start the broker (data dir {})", data_dir.display())
        })?;
        // The address first (tools read the word after "listening on"), then who can
        // reach it: a warning when it is more than this machine.
        let reach = handle.reach();
        if reach == minikafka_broker::server::Reach::Loopback {
            tracing::info!(
                "minikafka listening on {} ({reach}; data dir {}); Ctrl+C to stop",
                handle.addr(),
                data_dir.display()
            );
        } else {
            tracing::warn!(
                "minikafka listening on {} ({reach}; data dir {}); Ctrl+C to stop",
                handle.addr(),
                data_dir.display()
            );
        }
        // Ctrl+C (SIGINT) or SIGTERM (`kill`, systemd, docker stop): the same graceful
        // shutdown, so the next start needs no recovery.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot wait for SIGTERM")?;
        let signal = tokio::select! {
            ctrl_c = tokio::signal::ctrl_c() => {
                ctrl_c.context("cannot wait for Ctrl+C")?;
                "Ctrl+C"
            }
            _ = term.recv() => "SIGTERM",
        };
        tracing::info!("{signal}: shutting down");
        handle.shutdown().await;
        Ok(())
    })
}
