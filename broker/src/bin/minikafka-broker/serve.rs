//! `minikafka-broker serve` (the default command): its flags, the `Config` they make,
//! and running the broker until Ctrl+C or SIGTERM.
//!
//! What must stay true:
//! - No default is written here: a flag that is not given keeps its value from
//!   `Config::default()` (`help.rs` shows those defaults in `--help`).
//! - One log line per listener, with its address first (tools read the word after
//!   "listening on"); a warning when other machines can reach a listener that does not
//!   authenticate them.
//! - Ctrl+C and SIGTERM both shut down gracefully, so the next start needs no recovery.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use minikafka_broker::config::FsyncPolicy;
use minikafka_broker::{Broker, Config};

/// The flags of `serve`. Each is optional: what is not given keeps its value from
/// `Config::default()`, the one place the defaults are written (`--help` reads them
/// from there too, see [`show_defaults`]).
#[derive(Args, Debug, Clone)]
pub(crate) struct ServeArgs {
    /// Address of the one PLAINTEXT listener. For several listeners, or secured ones,
    /// use --listeners instead.
    #[arg(long, conflicts_with = "listeners")]
    listen: Option<std::net::SocketAddr>,
    /// Listeners, as Kafka's `listeners`: for example
    /// PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093. A name that is not a
    /// security protocol needs --listener-security-protocol-map.
    #[arg(long, value_name = "LIST")]
    listeners: Option<String>,
    /// Security protocol of each listener name, as Kafka's
    /// `listener.security.protocol.map` (for example CLIENT:SASL_SSL,INTERNAL:PLAINTEXT).
    #[arg(long, value_name = "MAP", default_value = "")]
    listener_security_protocol_map: String,
    /// What clients are told per listener, as Kafka's `advertised.listeners`
    /// (for example SASL_SSL://kafka.example:9093).
    #[arg(long, value_name = "LIST")]
    advertised_listeners: Option<String>,
    /// The broker's TLS certificate chain, PEM (Kafka: ssl.keystore.location with
    /// ssl.keystore.type=PEM). Needed by SSL and SASL_SSL listeners.
    #[arg(long, value_name = "PEM")]
    ssl_certificate: Option<PathBuf>,
    /// The private key of that certificate, PEM.
    #[arg(long, value_name = "PEM")]
    ssl_key: Option<PathBuf>,
    /// CA certificates that client certificates must chain to, PEM (Kafka:
    /// ssl.truststore.location). Needed by --ssl-client-auth requested or required.
    #[arg(long, value_name = "PEM")]
    ssl_truststore: Option<PathBuf>,
    /// Whether TLS clients must show a certificate: none, requested or required (Kafka:
    /// ssl.client.auth).
    #[arg(long, value_name = "POLICY", default_value = "none")]
    ssl_client_auth: minikafka_broker::config::ClientAuth,
    /// SASL mechanisms offered, comma-separated (Kafka: sasl.enabled.mechanisms).
    #[arg(long, value_name = "LIST")]
    sasl_enabled_mechanisms: Option<String>,
    /// The user file of the SASL listeners (make it with `minikafka-broker users add`).
    #[arg(long, value_name = "FILE")]
    sasl_users: Option<PathBuf>,
    /// How long a failed authentication waits before its answer, in milliseconds
    /// (Kafka: connection.failed.authentication.delay.ms).
    #[arg(long)]
    connection_failed_authentication_delay_ms: Option<u64>,
    /// Failed authentications allowed from one address per minute; past it, its next
    /// attempts are refused until the minute slides.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_failed_authentications: Option<u32>,
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
    /// The most one Fetch answer carries, in bytes, whatever the client asks (Kafka:
    /// fetch.max.bytes); its first batch still goes out whole.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    fetch_max_bytes: Option<u64>,
    /// How long a connection may stay without sending a complete request, or without
    /// reading its response, before it is closed, in milliseconds (Kafka:
    /// connections.max.idle.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    connections_max_idle_ms: Option<u64>,
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
    /// Forget an idempotent producer whose last batch is this old, in milliseconds
    /// (Kafka: producer.id.expiration.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    producer_id_expiration_ms: Option<u64>,
    /// How often to look for such producers, in milliseconds (Kafka:
    /// producer.id.expiration.check.interval.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    producer_id_expiration_check_interval_ms: Option<u64>,
    /// The longest transaction.timeout.ms a transactional producer may ask for, in
    /// milliseconds (Kafka: transaction.max.timeout.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=2_147_483_647))]
    transaction_max_timeout_ms: Option<u64>,
    /// How often transactions open longer than their timeout are aborted, in
    /// milliseconds (Kafka: transaction.abort.timed.out.transaction.cleanup.interval.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    transaction_abort_interval_ms: Option<u64>,
    /// Forget a transactional id unused this long, in milliseconds (Kafka:
    /// transactional.id.expiration.ms).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    transactional_id_expiration_ms: Option<u64>,
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
    fn into_config(self) -> anyhow::Result<Config> {
        use minikafka_broker::config::listeners;
        let mut config = Config::default();
        if let Some(addr) = self.listen {
            config.listen(addr);
        }
        if let Some(list) = &self.listeners {
            config.listeners =
                listeners::parse_listeners(list, &self.listener_security_protocol_map)
                    .map_err(|e| anyhow::anyhow!("--listeners: {e}"))?;
        }
        if let Some(advertised) = &self.advertised_listeners {
            listeners::apply_advertised(&mut config.listeners, advertised)
                .map_err(|e| anyhow::anyhow!("--advertised-listeners: {e}"))?;
        }
        if let Some(first) = config.listeners.first_mut() {
            set(&mut first.advertised_host, self.advertised_host.map(Some));
            set(&mut first.advertised_port, self.advertised_port.map(Some));
        }
        match (self.ssl_certificate, self.ssl_key) {
            (Some(certificate), Some(key)) => {
                config.tls = Some(minikafka_broker::config::TlsConfig {
                    certificate,
                    key,
                    truststore: self.ssl_truststore,
                    client_auth: self.ssl_client_auth,
                })
            }
            (None, None) => {}
            _ => anyhow::bail!("--ssl-certificate and --ssl-key go together"),
        }
        if let Some(list) = &self.sasl_enabled_mechanisms {
            config.sasl.mechanisms = listeners::parse_mechanisms(list)
                .map_err(|e| anyhow::anyhow!("--sasl-enabled-mechanisms: {e}"))?;
        }
        set(&mut config.sasl.users, self.sasl_users.map(Some));
        set(
            &mut config.sasl.failed_authentication_delay,
            self.connection_failed_authentication_delay_ms
                .map(Duration::from_millis),
        );
        set(
            &mut config.sasl.max_failed_authentications,
            self.max_failed_authentications,
        );
        set(&mut config.http, self.http.map(Some));
        set(&mut config.data_dir, self.data_dir);
        set(&mut config.num_partitions, self.num_partitions);
        set(&mut config.auto_create_topics, self.auto_create_topics);
        set(&mut config.max_request_bytes, self.max_request_bytes);
        set(&mut config.max_connections, self.max_connections);
        set(
            &mut config.fetch_max_bytes,
            self.fetch_max_bytes
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        );
        set(
            &mut config.connections_max_idle,
            self.connections_max_idle_ms.map(Duration::from_millis),
        );
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
            &mut config.producer_id_expiration,
            ms(self.producer_id_expiration_ms),
        );
        set(
            &mut config.producer_id_expiration_check_interval,
            ms(self.producer_id_expiration_check_interval_ms),
        );
        set(
            &mut config.transaction_max_timeout,
            ms(self.transaction_max_timeout_ms),
        );
        set(
            &mut config.transaction_abort_interval,
            ms(self.transaction_abort_interval_ms),
        );
        set(
            &mut config.transactional_id_expiration,
            ms(self.transactional_id_expiration_ms),
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
        Ok(config)
    }
}

/// Overwrites `slot` when the flag was given.
fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    let config = args.into_config()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let handle = Broker::start(config.clone()).await.with_context(|| {
            format!("cannot start the broker (data dir {})", data_dir.display())
        })?;
        // One line per listener: the address first (tools read the word after
        // "listening on"), then who can reach it and how it is protected; a warning when
        // other machines can reach a listener that does not authenticate them.
        for listener in handle.listeners() {
            let reach = minikafka_broker::server::Reach::of(listener.bound.ip());
            let (protection, authenticates) =
                minikafka_broker::security::protection(&listener.config, &config);
            let line = format!(
                "minikafka listening on {} ({reach}; {protection}; data dir {}); Ctrl+C to stop",
                listener.bound,
                data_dir.display()
            );
            if reach == minikafka_broker::server::Reach::Loopback || authenticates {
                tracing::info!("{line}");
            } else {
                tracing::warn!("{line}");
            }
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
