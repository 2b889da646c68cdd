//! Client configuration: every knob of the producer and the partition reader, with Kafka's
//! property name for it, plus the choice of backend.
//!
//! Where it sits: the application builds a [`ProducerConfig`] or [`ReaderConfig`] and hands it
//! to [`crate::Producer`] / [`crate::PartitionReader`]; the chosen [`Backend`] decides which
//! implementation runs behind those public types.
//!
//! Invariants:
//! - `bootstrap_servers` is never empty once parsed (an empty list is a config error).
//! - `set(key, value)` accepts Kafka property names. The native backend rejects keys it does not
//!   understand, with an error that says so; the rdkafka backend keeps them in `extra` and hands
//!   them to librdkafka unchanged.

pub mod security;

use std::str::FromStr;
use std::time::Duration;

use crate::assignor::AssignmentStrategy;
use crate::error::{Error, Result};
pub use security::{SaslMechanism, SecurityConfig, SecurityProtocol};

/// Which implementation runs behind the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The pure-Rust client in `src/native/`, speaking the Kafka protocol over tokio.
    #[default]
    Native,
    /// librdkafka through the `rdkafka` crate; needs the crate's `rdkafka` feature.
    Rdkafka,
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(Backend::Native),
            "rdkafka" => Ok(Backend::Rdkafka),
            other => Err(Error::Config {
                key: "backend".into(),
                message: format!("unknown backend `{other}`; use `native` or `rdkafka`"),
            }),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Native => "native",
            Backend::Rdkafka => "rdkafka",
        })
    }
}

/// How many acknowledgements the producer waits for (Kafka's `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// `acks=0`: fire and forget. The broker sends no response, so offsets are reported as -1.
    None,
    /// `acks=1`: the leader has appended the batch.
    Leader,
    /// `acks=all` (-1): every in-sync replica has it. On a one-node broker this equals `Leader`.
    #[default]
    All,
}

impl Acks {
    /// The value of the `acks` field in a ProduceRequest.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

impl FromStr for Acks {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            other => Err(Error::Config {
                key: "acks".into(),
                message: format!("`{other}` is not valid; use 0, 1 or all"),
            }),
        }
    }
}

/// Codec for the records of a batch (Kafka's `compression.type`). The batch header stays
/// uncompressed; the broker stores and serves the batch as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as Kafka writes it).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl FromStr for Compression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            other => Err(Error::Config {
                key: "compression.type".into(),
                message: format!("`{other}` is not valid; use none, gzip, snappy, lz4 or zstd"),
            }),
        }
    }
}

/// How a record without a key picks its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeylessPartitioning {
    /// Java's sticky partitioner: fill about one batch (`batch_size` bytes) on one partition,
    /// then move to another, so keyless records still form big batches.
    #[default]
    Sticky,
    /// One partition after the other.
    RoundRobin,
}

/// Settings every client shares.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `bootstrap.servers`: where to ask for metadata first, as `host:port`.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`: shows up in the broker's request log.
    pub client_id: String,
    /// `request.timeout.ms`: how long to wait for one response (also bounds connecting).
    pub request_timeout: Duration,
    /// `retries`: how many times a retriable failure is retried before it is reported.
    pub retries: u32,
    /// `retry.backoff.ms`: pause before each retry, so a recovering broker is not hammered.
    pub retry_backoff: Duration,
    /// `metadata.max.age.ms`: cached topic metadata is asked for again after this long, so
    /// added partitions are picked up even when no request fails.
    pub metadata_max_age: Duration,
    /// Which implementation runs behind the public types.
    pub backend: Backend,
    /// `security.protocol`, `sasl.*` and `ssl.*`: how to reach a secured cluster.
    pub security: SecurityConfig,
    /// Properties only the rdkafka backend understands, passed to librdkafka unchanged.
    pub extra: Vec<(String, String)>,
}

impl ClientConfig {
    /// A config for `bootstrap` (a comma-separated `host:port` list) with Kafka's defaults.
    pub fn new(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap_servers: split_servers(bootstrap),
            client_id: "minikafka-client".into(),
            request_timeout: Duration::from_secs(30),
            retries: 10,
            retry_backoff: Duration::from_millis(100),
            metadata_max_age: Duration::from_secs(300),
            backend: Backend::Native,
            security: SecurityConfig::new(),
            extra: Vec::new(),
        }
    }

    /// Check what every backend needs.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.is_empty() {
            return Err(Error::Config {
                key: "bootstrap.servers".into(),
                message: "no bootstrap server given; pass host:port, e.g. localhost:9092".into(),
            });
        }
        // librdkafka checks its own (it knows mechanisms that need no password).
        if self.backend == Backend::Native {
            self.security.validate()?;
        }
        Ok(())
    }

    /// Set one shared property by its Kafka name. Returns `Ok(false)` if the key is not a
    /// shared one, so the caller can try its own keys.
    fn set_common(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "bootstrap.servers" => self.bootstrap_servers = split_servers(value),
            "client.id" => self.client_id = value.to_string(),
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "retries" => self.retries = parse_num(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            _ => match self.security.set(key, value) {
                Ok(known) => return Ok(known),
                // A value only librdkafka knows (`sasl.mechanism=GSSAPI`): its call, under
                // the key the mapping writes (librdkafka's), so it overrides that one.
                Err(_) if self.backend == Backend::Rdkafka => {
                    let key = if key == "sasl.mechanism" {
                        "sasl.mechanisms"
                    } else {
                        key
                    };
                    self.extra.push((key.to_string(), value.to_string()));
                }
                Err(e) => return Err(e),
            },
        }
        Ok(true)
    }

    /// A key this backend does not know: kept for librdkafka, or an error for native.
    fn unknown_key(&mut self, key: &str, value: &str, known: &[&str]) -> Result<()> {
        match self.backend {
            Backend::Rdkafka => {
                self.extra.push((key.to_string(), value.to_string()));
                Ok(())
            }
            Backend::Native => Err(Error::Config {
                key: key.to_string(),
                message: format!(
                    "the native backend does not support `{key}`; it knows {}. \
                     librdkafka properties need --backend rdkafka",
                    known.join(", ")
                ),
            }),
        }
    }
}

const COMMON_KEYS: [&str; 15] = [
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "retries",
    "retry.backoff.ms",
    "metadata.max.age.ms",
    security::KEYS[0],
    security::KEYS[1],
    security::KEYS[2],
    security::KEYS[3],
    security::KEYS[4],
    security::KEYS[5],
    security::KEYS[6],
    security::KEYS[7],
    security::KEYS[8],
];

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Connection, retry and backend settings.
    pub client: ClientConfig,
    /// `acks`: see [`Acks`].
    pub acks: Acks,
    /// `linger.ms`: how long a batch may wait for more records before it is sent.
    pub linger: Duration,
    /// `batch.size`: a batch is sent as soon as it holds this many bytes of records.
    pub batch_size: usize,
    /// `allow.auto.create.topics`: ask the broker to create an unknown topic on first use.
    pub allow_auto_create_topics: bool,
    /// How keyless records are spread.
    pub keyless: KeylessPartitioning,
    /// `compression.type`: codec for each batch's records.
    pub compression: Compression,
    /// `buffer.memory`: bytes of records waiting to be sent; `send` waits while it is full.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` waits for buffer space before it fails.
    pub max_block: Duration,
    /// `max.in.flight.requests.per.connection`: Produce requests sent to one broker and not
    /// yet answered. Above 1, a batch that is retried can land after a later batch of its
    /// partition, as in Kafka without idempotence; 1 keeps the order through retries.
    pub max_in_flight: usize,
    /// `enable.idempotence`: number each batch per partition so the broker stores a
    /// retried batch once, in order. `None` (Kafka's default since 3.0): on, unless
    /// `acks` is not `all` or more than 5 requests may be in flight, where it is off.
    /// `Some(true)` with either of those is a configuration error, as in Kafka.
    pub idempotence: Option<bool>,
    /// `transactional.id`: makes the producer transactional
    /// ([`crate::Producer::init_transactions`]); it is then idempotent too. A restarted
    /// instance with the same id fences the old one.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: the broker aborts a transaction open longer (default
    /// 60 s, as Java's).
    pub transaction_timeout: Duration,
}

impl ProducerConfig {
    /// Kafka's producer defaults (acks=all, linger 5 ms, batch.size 16 KiB).
    pub fn new(bootstrap: &str) -> Self {
        ProducerConfig {
            client: ClientConfig::new(bootstrap),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            allow_auto_create_topics: true,
            keyless: KeylessPartitioning::Sticky,
            compression: Compression::None,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            max_in_flight: 5,
            idempotence: None,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }

    /// Whether the producer is idempotent, by Kafka's rules (see
    /// [`idempotence`](Self::idempotence)); an error when it was asked for together with
    /// settings it cannot keep.
    pub fn idempotent(&self) -> Result<bool> {
        let fits = self.acks == Acks::All && self.max_in_flight <= 5;
        if self.transactional_id.is_some() {
            return match (self.idempotence, fits) {
                (Some(false), _) | (_, false) => Err(Error::Config {
                    key: "transactional.id".into(),
                    message: "a transactional producer is idempotent: it needs acks=all, \
                              max.in.flight.requests.per.connection ≤ 5 and \
                              enable.idempotence not false"
                        .into(),
                }),
                _ => Ok(true),
            };
        }
        match self.idempotence {
            None => Ok(fits),
            Some(false) => Ok(false),
            Some(true) if fits => Ok(true),
            Some(true) => Err(Error::Config {
                key: "enable.idempotence".into(),
                message: format!(
                    "needs acks=all and max.in.flight.requests.per.connection ≤ 5 (here acks={} and {}); \
                     set enable.idempotence=false to use these",
                    self.acks.as_i16(),
                    self.max_in_flight
                ),
            }),
        }
    }

    /// Set a property by its Kafka name, e.g. `set("linger.ms", "20")`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self> {
        if self.client.set_common(key, value)? {
            return Ok(self);
        }
        match key {
            "acks" => self.acks = value.parse()?,
            "linger.ms" => self.linger = parse_ms(key, value)?,
            "batch.size" => self.batch_size = parse_num(key, value)?,
            "allow.auto.create.topics" => self.allow_auto_create_topics = parse_bool(key, value)?,
            "compression.type" => self.compression = value.parse()?,
            "buffer.memory" => self.buffer_memory = parse_num(key, value)?,
            "max.block.ms" => self.max_block = parse_ms(key, value)?,
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight = parse_num::<usize>(key, value)?.max(1)
            }
            "enable.idempotence" => self.idempotence = Some(parse_bool(key, value)?),
            "transactional.id" => self.transactional_id = Some(value.to_string()),
            "transaction.timeout.ms" => self.transaction_timeout = parse_ms(key, value)?,
            _ => {
                let mut known = COMMON_KEYS.to_vec();
                known.extend([
                    "acks",
                    "linger.ms",
                    "batch.size",
                    "allow.auto.create.topics",
                    "compression.type",
                    "buffer.memory",
                    "max.block.ms",
                    "max.in.flight.requests.per.connection",
                    "enable.idempotence",
                    "transactional.id",
                    "transaction.timeout.ms",
                ]);
                self.client.unknown_key(key, value, &known)?;
            }
        }
        Ok(self)
    }
}

/// Partition-reader settings (Kafka's consumer fetch properties).
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Connection, retry and backend settings.
    pub client: ClientConfig,
    /// `fetch.max.wait.ms`: how long the broker may hold a Fetch open waiting for data.
    pub fetch_max_wait: Duration,
    /// `fetch.min.bytes`: the broker answers as soon as it has this much.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: upper bound for one Fetch response.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`: upper bound per partition in one Fetch response.
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`: see [`IsolationLevel`].
    pub isolation_level: IsolationLevel,
}

impl ReaderConfig {
    /// Kafka's consumer defaults (500 ms wait, 1 byte, 50 MiB, 1 MiB per partition).
    pub fn new(bootstrap: &str) -> Self {
        ReaderConfig {
            client: ClientConfig::new(bootstrap),
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }

    /// Set a property by its Kafka name, e.g. `set("fetch.max.wait.ms", "100")`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self> {
        if self.client.set_common(key, value)? {
            return Ok(self);
        }
        match key {
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, value)?,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_num(key, value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = parse_num(key, value)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = parse_num(key, value)?,
            "isolation.level" => self.isolation_level = value.parse()?,
            _ => {
                let mut known = COMMON_KEYS.to_vec();
                known.extend([
                    "fetch.max.wait.ms",
                    "fetch.min.bytes",
                    "fetch.max.bytes",
                    "max.partition.fetch.bytes",
                    "isolation.level",
                ]);
                self.client.unknown_key(key, value, &known)?;
            }
        }
        Ok(self)
    }
}

/// What a reader or consumer sees of transactions (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// `read_uncommitted` (Kafka's default): every record up to the high watermark,
    /// those of open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// `read_committed`: only up to the last stable offset, without the records of
    /// aborted transactions; a group consumer also waits for committed offsets that an
    /// open transaction holds (`require_stable`).
    ReadCommitted,
}

impl IsolationLevel {
    /// The value of the `isolation_level` field in Fetch and ListOffsets.
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

impl FromStr for IsolationLevel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            other => Err(Error::Config {
                key: "isolation.level".into(),
                message: format!("`{other}` is not read_uncommitted or read_committed"),
            }),
        }
    }
}

/// Where a group consumer starts in a partition its group has no committed offset for
/// (Kafka's `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The first offset still in the log.
    #[default]
    Earliest,
    /// The end of the log: only records produced from now on.
    Latest,
}

impl FromStr for OffsetReset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "earliest" | "smallest" | "beginning" => Ok(OffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(OffsetReset::Latest),
            other => Err(Error::Config {
                key: "auto.offset.reset".into(),
                message: format!("`{other}` is not valid; use earliest or latest"),
            }),
        }
    }
}

/// Group consumer settings (Kafka's consumer properties).
///
/// Kafka's rule holds: `heartbeat.interval.ms` should be at most a third of
/// `session.timeout.ms`, which must lie within the broker's
/// `group.min.session.timeout.ms` / `group.max.session.timeout.ms` (6 s to 30 min by default).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Connection, retry and backend settings.
    pub client: ClientConfig,
    /// `group.id`: the group to join; members of one group share the partitions.
    pub group_id: String,
    /// `auto.offset.reset`: where to start without a committed offset.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`: commit the consumed positions every `auto_commit_interval`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `session.timeout.ms`: the coordinator drops a member it has not heard from for this long.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`: how often the member tells the coordinator it is alive.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: sent as the rebalance timeout, how long the coordinator waits
    /// for every member to rejoin.
    pub rebalance_timeout: Duration,
    /// `partition.assignment.strategy`: the assignors this member offers, preferred first.
    /// The group uses the first one every member supports; names on the wire are Kafka's.
    pub assignment_strategies: Vec<AssignmentStrategy>,
    /// `allow.auto.create.topics`: ask the broker to create subscribed topics that do not exist.
    pub allow_auto_create_topics: bool,
    /// `fetch.max.wait.ms`: how long the broker may hold a Fetch open waiting for data.
    pub fetch_max_wait: Duration,
    /// `fetch.min.bytes`: the broker answers as soon as it has this much.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: upper bound for one Fetch response.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`: upper bound per partition in one Fetch response, so one
    /// busy partition cannot crowd the others out of a response.
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`: see [`IsolationLevel`].
    pub isolation_level: IsolationLevel,
}

impl ConsumerConfig {
    /// Kafka's consumer defaults for `group_id` (earliest reset as the classroom wants;
    /// auto-commit every 5 s; session 45 s; heartbeat 3 s; round-robin assignment).
    pub fn new(bootstrap: &str, group_id: &str) -> Self {
        ConsumerConfig {
            client: ClientConfig::new(bootstrap),
            group_id: group_id.to_string(),
            auto_offset_reset: OffsetReset::Earliest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(300),
            assignment_strategies: vec![AssignmentStrategy::RoundRobin],
            allow_auto_create_topics: true,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }

    /// Set a property by its Kafka name, e.g. `set("session.timeout.ms", "6000")`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self> {
        if self.client.set_common(key, value)? {
            return Ok(self);
        }
        match key {
            "group.id" => self.group_id = value.to_string(),
            "auto.offset.reset" => self.auto_offset_reset = value.parse()?,
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, value)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = parse_ms(key, value)?,
            "session.timeout.ms" => self.session_timeout = parse_ms(key, value)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = parse_ms(key, value)?,
            "max.poll.interval.ms" => self.rebalance_timeout = parse_ms(key, value)?,
            "partition.assignment.strategy" => {
                self.assignment_strategies = parse_strategies(key, value)?
            }
            "allow.auto.create.topics" => self.allow_auto_create_topics = parse_bool(key, value)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, value)?,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_num(key, value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = parse_num(key, value)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = parse_num(key, value)?,
            "isolation.level" => self.isolation_level = value.parse()?,
            _ => {
                let mut known = COMMON_KEYS.to_vec();
                known.extend(CONSUMER_KEYS);
                self.client.unknown_key(key, value, &known)?;
            }
        }
        Ok(self)
    }

    /// Check what the group protocol needs.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        let problem = |key: &str, message: &str| {
            Err(Error::Config {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.group_id.is_empty() {
            return problem("group.id", "a group consumer needs a group id");
        }
        if self.assignment_strategies.is_empty() {
            return problem(
                "partition.assignment.strategy",
                "name at least one assignor: roundrobin or range",
            );
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return problem(
                "heartbeat.interval.ms",
                "must be above 0 and below session.timeout.ms (a third of it is usual)",
            );
        }
        if self.auto_commit_interval.is_zero() && self.enable_auto_commit {
            return problem("auto.commit.interval.ms", "must be above 0");
        }
        Ok(())
    }
}

const CONSUMER_KEYS: [&str; 14] = [
    "group.id",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "allow.auto.create.topics",
    "fetch.max.wait.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "isolation.level",
];

/// A comma-separated assignor list; Java's class names are accepted for Kafka's two.
fn parse_strategies(key: &str, value: &str) -> Result<Vec<AssignmentStrategy>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            let short = match name {
                "org.apache.kafka.clients.consumer.RoundRobinAssignor" => "roundrobin",
                "org.apache.kafka.clients.consumer.RangeAssignor" => "range",
                other => other,
            };
            AssignmentStrategy::from_name(short).ok_or_else(|| Error::Config {
                key: key.to_string(),
                message: format!("unknown assignor `{name}`; use roundrobin or range"),
            })
        })
        .collect()
}

fn split_servers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_num<T: FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| Error::Config {
        key: key.to_string(),
        message: format!("`{value}` is not a valid non-negative number"),
    })
}

fn parse_ms(key: &str, value: &str) -> Result<Duration> {
    parse_num::<u64>(key, value).map(Duration::from_millis)
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Config {
            key: key.to_string(),
            message: format!("`{value}` is not valid; use true or false"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_list_is_split_and_trimmed() {
        let c = ClientConfig::new(" a:1, b:2 ,,");
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert!(ClientConfig::new("").validate().is_err());
    }

    #[test]
    fn kafka_property_names_set_fields() {
        let mut p = ProducerConfig::new("localhost:9092");
        p.set("acks", "1").unwrap();
        p.set("linger.ms", "20").unwrap();
        p.set("batch.size", "100").unwrap();
        p.set("retries", "3").unwrap();
        p.set("compression.type", "zstd").unwrap();
        assert_eq!(p.max_in_flight, 5, "Kafka's default");
        p.set("max.in.flight.requests.per.connection", "1").unwrap();
        assert_eq!(p.max_in_flight, 1);
        assert!(p
            .set("max.in.flight.requests.per.connection", "-1")
            .is_err());
        assert_eq!(p.compression, Compression::Zstd);
        assert!(p.set("compression.type", "brotli").is_err());
        assert_eq!(p.acks, Acks::Leader);
        assert_eq!(p.linger, Duration::from_millis(20));
        assert_eq!(p.batch_size, 100);
        assert_eq!(p.client.retries, 3);
        assert_eq!("all".parse::<Acks>().unwrap(), Acks::All);
        assert!("2".parse::<Acks>().is_err());
    }

    #[test]
    fn native_rejects_unknown_keys_and_rdkafka_keeps_them() {
        let mut p = ProducerConfig::new("localhost:9092");
        let err = p
            .set("socket.keepalive.enable", "true")
            .unwrap_err()
            .to_string();
        assert!(err.contains("socket.keepalive.enable"), "{err}");
        assert!(err.contains("--backend rdkafka"), "{err}");
        assert!(p.set("sasl.mechanism", "GSSAPI").is_err());
        p.client.backend = Backend::Rdkafka;
        p.set("socket.keepalive.enable", "true").unwrap();
        p.set("sasl.mechanism", "GSSAPI").unwrap();
        assert_eq!(
            p.client.extra,
            vec![
                ("socket.keepalive.enable".to_string(), "true".to_string()),
                ("sasl.mechanisms".to_string(), "GSSAPI".to_string())
            ]
        );
    }

    #[test]
    fn consumer_properties_by_kafka_name() {
        let mut c = ConsumerConfig::new("localhost:9092", "g");
        c.set("auto.offset.reset", "latest").unwrap();
        c.set("session.timeout.ms", "6000").unwrap();
        c.set("heartbeat.interval.ms", "500").unwrap();
        c.set("partition.assignment.strategy", "range, roundrobin")
            .unwrap();
        c.set("enable.auto.commit", "false").unwrap();
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert_eq!(c.session_timeout, Duration::from_secs(6));
        assert_eq!(
            c.assignment_strategies,
            vec![AssignmentStrategy::Range, AssignmentStrategy::RoundRobin]
        );
        assert!(!c.enable_auto_commit);
        c.validate().unwrap();
        let err = c
            .set("partition.assignment.strategy", "sticky")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sticky"), "{err}");
        c.set("isolation.level", "read_committed").unwrap();
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        let err = c.set("isolation.level", "serializable").unwrap_err();
        assert!(err.to_string().contains("read_committed"), "{err}");
        c.heartbeat_interval = Duration::from_secs(10);
        assert!(c.validate().is_err(), "heartbeat above the session timeout");
        assert!(ConsumerConfig::new("localhost:9092", "")
            .validate()
            .is_err());
    }

    #[test]
    fn a_transactional_producer_is_idempotent() {
        let mut p = ProducerConfig::new("localhost:9092");
        p.set("transactional.id", "t").unwrap();
        p.set("transaction.timeout.ms", "5000").unwrap();
        assert!(p.idempotent().unwrap());
        assert_eq!(p.transaction_timeout, Duration::from_secs(5));
        p.set("enable.idempotence", "false").unwrap();
        assert!(p
            .idempotent()
            .unwrap_err()
            .to_string()
            .contains("transactional.id"));
        let mut p = ProducerConfig::new("localhost:9092");
        p.set("transactional.id", "t").unwrap();
        p.set("acks", "1").unwrap();
        assert!(p.idempotent().is_err());
    }

    #[test]
    fn bad_numbers_name_the_key() {
        let mut r = ReaderConfig::new("localhost:9092");
        let err = r.set("fetch.max.wait.ms", "soon").unwrap_err().to_string();
        assert!(
            err.contains("fetch.max.wait.ms") && err.contains("soon"),
            "{err}"
        );
        assert!("kafka".parse::<Backend>().is_err());
    }
}
