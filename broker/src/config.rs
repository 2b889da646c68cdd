//! Every broker knob, with Kafka's name for it in the doc comment: the broker's
//! [`Config`], and the per-partition [`LogConfig`] with its [`FsyncPolicy`] (a topic's
//! own configs override these, see `topics/config.rs`).
//!
//! Where it sits: beside the message path, a leaf every layer may read. `Config::default()`
//! is the one place the defaults are written: the CLI (`src/bin/minikafka-broker/serve.rs`)
//! applies the flags it was given over it, and `--help` reads the defaults it shows from
//! it.
//!
//! What must stay true:
//! - This file imports nothing from the crate: every layer may read it, it reads none.
//! - Defaults are written only in `Config::default()` and `LogConfig::default()`.
//! - [`FsyncPolicy`]'s `Display` and `FromStr` agree (`never`, `always`, milliseconds),
//!   so the default `--help` shows is one `--fsync` accepts.

pub mod listeners;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use listeners::{
    ClientAuth, ListenerConfig, SaslConfig, SaslMechanism, SecurityProtocol, TlsConfig,
};

/// Broker configuration. `Default` gives the defaults of the CLI and of `Broker::start`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `listeners` (with `listener.security.protocol.map` and `advertised.listeners`):
    /// where to accept connections and how each is secured (`config/listeners.rs`).
    /// Default: one PLAINTEXT listener on `127.0.0.1:9092`. Use port 0 in tests and read
    /// the real ports from `BrokerHandle::addr` (the first) and `BrokerHandle::listeners`.
    pub listeners: Vec<ListenerConfig>,
    /// `ssl.*`: the certificate, key and client-certificate policy of the SSL and
    /// SASL_SSL listeners. Needed when one of those is configured.
    pub tls: Option<TlsConfig>,
    /// `sasl.*`: mechanisms, the user file and the failed-login limits of the
    /// SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: SaslConfig,
    /// `--http`: serve `/metrics` (Prometheus text format) over HTTP on this address.
    /// `None` (the default) = off. Not a Kafka setting; use port 0 in tests and read
    /// the real one from `BrokerHandle::http_addr`.
    pub http: Option<SocketAddr>,
    /// `log.dirs`: the data directory.
    pub data_dir: PathBuf,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted. Default 100 MiB.
    pub max_request_bytes: usize,
    /// `fetch.max.bytes` (the broker's): the most a Fetch answer carries, whatever the
    /// client's `max_bytes` asks (its first batch still goes out whole, KIP-74). Default
    /// 55 MiB, as in Kafka.
    pub fetch_max_bytes: usize,
    /// `max.connections`.
    pub max_connections: usize,
    /// `max.connections.per.ip`: open connections from one client address; one more is
    /// closed at once. Default: no limit below `max_connections`, as in Kafka.
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`: close a connection that sends nothing for this long
    /// (also ends a client that stops in the middle of a frame). Default 10 minutes.
    pub connections_max_idle: Duration,
    /// Default log settings for every partition (segment size, retention, fsync, ...).
    pub log: LogConfig,
    /// `log.retention.check.interval.ms` (`--retention-check-interval-ms`): how often
    /// retention runs. It also runs once at start-up, in `Broker::start`. Default 5 minutes.
    pub retention_check_interval: Duration,
    /// `log.cleaner.backoff.ms` (`--log-cleaner-backoff-ms`): how often the log cleaner
    /// looks for compacted topics to clean (`log/cleaner.rs`). Default 15 s.
    pub log_cleaner_backoff: Duration,
    /// `producer.id.expiration.ms` (`--producer-id-expiration-ms`): a partition forgets
    /// an idempotent producer whose last batch is this old and that has no open
    /// transaction (`log/producer_state.rs`); its next batch is accepted at any
    /// sequence. Default 1 day.
    pub producer_id_expiration: Duration,
    /// `producer.id.expiration.check.interval.ms`
    /// (`--producer-id-expiration-check-interval-ms`): how often that is checked.
    /// Default 10 minutes.
    pub producer_id_expiration_check_interval: Duration,
    /// `transaction.max.timeout.ms` (`--transaction-max-timeout-ms`): the longest
    /// `transaction.timeout.ms` a transactional producer may ask for; more is
    /// INVALID_TRANSACTION_TIMEOUT. Default 15 minutes.
    pub transaction_max_timeout: Duration,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    /// (`--transaction-abort-interval-ms`): how often transactions open longer than
    /// their timeout are aborted. Default 10 s.
    pub transaction_abort_interval: Duration,
    /// `transactional.id.expiration.ms` (`--transactional-id-expiration-ms`): a
    /// transactional id with no transaction, unused this long, is forgotten. Default 7
    /// days.
    pub transactional_id_expiration: Duration,
    /// `group.min.session.timeout.ms` (`--group-min-session-timeout-ms`): a JoinGroup
    /// asking for a shorter session gets INVALID_SESSION_TIMEOUT. Default 6 s.
    pub group_min_session_timeout: Duration,
    /// `group.max.session.timeout.ms` (`--group-max-session-timeout-ms`): the same for a
    /// longer one. Default 30 minutes.
    pub group_max_session_timeout: Duration,
    /// `offsets.topic.segment.bytes` (`--offsets-topic-segment-bytes`): the segment size
    /// of `__consumer_offsets` when it is created or opened. Smaller segments roll
    /// sooner, so the log cleaner compacts the commits sooner. Default 100 MiB.
    pub offsets_topic_segment_bytes: u64,
    /// `group.initial.rebalance.delay.ms`: wait this long for more members before
    /// completing the first rebalance of an empty group.
    pub group_initial_rebalance_delay: Duration,
    /// Log one line per request at info level (`--quiet` turns it off).
    pub log_requests: bool,
    /// Explain mode (`--explain`): log each internal step (the partition a producer
    /// chose, each append with its segment, position and index entry, each fsync, each
    /// fetch wait and wake-up, each group state change, each offset commit record,
    /// each segment roll and retention deletion) at info level, naming the file and
    /// function that does it. Not a Kafka setting. `Broker::start` hands it down as
    /// [`LogConfig::explain`] (see `explain.rs`).
    pub explain: bool,
}

impl Config {
    /// One PLAINTEXT listener on `addr`, in place of every listener: what `--listen`
    /// does (use `127.0.0.1:0` in tests).
    pub fn listen(&mut self, addr: SocketAddr) {
        self.listeners = vec![ListenerConfig::plaintext(addr)];
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listeners: vec![ListenerConfig::plaintext(SocketAddr::from((
                [127, 0, 0, 1],
                9092,
            )))],
            tls: None,
            sasl: SaslConfig::default(),
            http: None,
            data_dir: PathBuf::from("./data"),
            num_partitions: 3,
            auto_create_topics: true,
            max_request_bytes: 100 * 1024 * 1024,
            fetch_max_bytes: 57_671_680,
            max_connections: 1024,
            max_connections_per_ip: usize::MAX,
            connections_max_idle: Duration::from_secs(600),
            log: LogConfig::default(),
            retention_check_interval: Duration::from_secs(300),
            log_cleaner_backoff: Duration::from_secs(15),
            producer_id_expiration: Duration::from_secs(86_400),
            producer_id_expiration_check_interval: Duration::from_secs(600),
            transaction_max_timeout: Duration::from_secs(900),
            transaction_abort_interval: Duration::from_secs(10),
            transactional_id_expiration: Duration::from_secs(7 * 86_400),
            group_min_session_timeout: Duration::from_millis(6000),
            group_max_session_timeout: Duration::from_secs(1800),
            group_initial_rebalance_delay: Duration::from_millis(0),
            offsets_topic_segment_bytes: 104_857_600,
            log_requests: true,
            explain: false,
        }
    }
}

/// Per-partition log settings, with Kafka's topic-config names.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment once it reaches this size. Default 1 GiB.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment once it is this old. Default 7 days.
    pub segment_ms: Option<Duration>,
    /// `retention.bytes`: delete old segments while the log is larger. `None` = unlimited.
    pub retention_bytes: Option<u64>,
    /// `retention.ms`: delete segments whose newest record is older. Default 7 days.
    pub retention_ms: Option<Duration>,
    /// `index.interval.bytes`: bytes between two index entries. Default 4096.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: preallocated size of the active index. Default 10 MiB.
    pub max_index_bytes: u32,
    /// `max.message.bytes`: the largest batch accepted. Default 1 MiB + overhead.
    pub max_message_bytes: u32,
    /// Durability policy (Kafka: `flush.messages` / `flush.ms`).
    pub fsync: FsyncPolicy,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps each batch with the
    /// time it appends it (`false`: CreateTime, the producer's timestamps, the default).
    pub log_append_time: bool,
    /// `cleanup.policy` has `delete` (the default): retention deletes old segments. A
    /// compact-only topic (`cleanup.policy=compact`) keeps every segment whatever
    /// `retention.ms` and `retention.bytes` say, as Kafka does.
    pub retention_deletes: bool,
    /// `cleanup.policy` has `compact`: the log cleaner keeps the latest record per key
    /// (`log/cleaner.rs`), and a record without a key is refused on produce.
    pub compact: bool,
    /// `delete.retention.ms`: how long a tombstone (a record with a key and a null
    /// value) stays after the cleaner first saw it. Default 1 day.
    pub delete_retention: Duration,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long (a
    /// segment whose newest record is younger is not cleaned). Default 0.
    pub min_compaction_lag: Duration,
    /// `min.cleanable.dirty.ratio`: clean a compacted log only once the share of its
    /// bytes not yet cleaned reaches this. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `compression.type`: `None` is `producer` (the default: batches are stored as
    /// they came); `Some(codec)` recompresses every batch in another codec to it
    /// (`uncompressed` is `Some(Compression::None)`), see `record::recompress`.
    pub compression: Option<crate::log::record_batch::Compression>,
    /// Explain mode for this log (not a topic config: no topic can set it).
    /// `Broker::start` copies [`Config::explain`] here, and every partition inherits it
    /// from the broker defaults.
    pub explain: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            retention_bytes: None,
            retention_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            index_interval_bytes: 4096,
            max_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1024 * 1024 + 12,
            fsync: FsyncPolicy::Never,
            log_append_time: false,
            retention_deletes: true,
            compact: false,
            delete_retention: Duration::from_millis(86_400_000),
            min_compaction_lag: Duration::ZERO,
            min_cleanable_dirty_ratio: 0.5,
            compression: None,
            explain: false,
        }
    }
}

/// When the partition log calls `sync_data` (Kafka: `flush.messages` / `flush.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Leave it to the OS page cache (Kafka's default).
    #[default]
    Never,
    /// Sync at most this often, from a background flusher (the server's timer calling
    /// `Topics::sync_all`).
    Interval(Duration),
    /// Sync before `append` returns; concurrent appends share one sync.
    Always,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "always" => Ok(FsyncPolicy::Always),
            ms => ms
                .parse::<u64>()
                .map(|ms| FsyncPolicy::Interval(Duration::from_millis(ms)))
                .map_err(|_| {
                    format!("expected never, always or a number of milliseconds, got {s:?}")
                }),
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Interval(d) => write!(f, "{}", d.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_policy() {
        assert_eq!("never".parse(), Ok(FsyncPolicy::Never));
        assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
        assert_eq!(
            "250".parse(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(250)))
        );
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
        assert_eq!(
            FsyncPolicy::Interval(Duration::from_millis(5)).to_string(),
            "5"
        );
    }
}
