//! Every broker knob, with Kafka's name for it in the doc comment.
//!
//! Where it sits: beside the message path, a leaf every layer may read. `Config::default()`
//! is the one place the defaults are written: the CLI (`main.rs`) applies the flags it
//! was given over it, and `--help` reads the defaults it shows from it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::log::LogConfig;

/// Broker configuration. `Default` gives the defaults of the CLI and of `Broker::start`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `listeners`: where to accept connections. Default `127.0.0.1:9092`;
    /// use port 0 in tests and read the real one from `BrokerHandle::addr`.
    pub listen: SocketAddr,
    /// `log.dirs`: the data directory.
    pub data_dir: PathBuf,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted. Default 100 MiB.
    pub max_request_bytes: usize,
    /// `max.connections`.
    pub max_connections: usize,
    /// `connections.max.idle.ms`: close a connection that sends nothing for this long
    /// (also ends a client that stops in the middle of a frame). Default 10 minutes.
    pub connections_max_idle: Duration,
    /// `advertised.listeners` (host part): the host name Metadata and FindCoordinator
    /// hand to clients. `None` = the listener's real IP (127.0.0.1 when it listens on
    /// an unspecified address such as 0.0.0.0).
    pub advertised_host: Option<String>,
    /// `advertised.listeners` (port part): the port Metadata and FindCoordinator hand to
    /// clients, for when they reach the broker through a proxy, a tunnel or NAT. `None` =
    /// the port the listener really got.
    pub advertised_port: Option<u16>,
    /// Default log settings for every partition (segment size, retention, fsync, ...).
    pub log: LogConfig,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval: Duration,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`: wait this long for more members before
    /// completing the first rebalance of an empty group.
    pub group_initial_rebalance_delay: Duration,
    /// Log one line per request at info level (`--quiet` turns it off).
    pub log_requests: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            data_dir: PathBuf::from("./data"),
            num_partitions: 3,
            auto_create_topics: true,
            max_request_bytes: 100 * 1024 * 1024,
            max_connections: 1024,
            connections_max_idle: Duration::from_secs(600),
            advertised_host: None,
            advertised_port: None,
            log: LogConfig::default(),
            retention_check_interval: Duration::from_secs(300),
            group_min_session_timeout: Duration::from_millis(6000),
            group_max_session_timeout: Duration::from_secs(1800),
            group_initial_rebalance_delay: Duration::from_millis(0),
            log_requests: true,
        }
    }
}
