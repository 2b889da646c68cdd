//! Reader and group-consumer settings ([`ReaderConfig`], [`ConsumerConfig`]) and the
//! choices they are made of: [`IsolationLevel`] and [`OffsetReset`], each with Kafka's
//! property name.
//!
//! What must stay true: the defaults are Kafka's, except where the classroom asks
//! otherwise (`auto.offset.reset=earliest`, round-robin assignment; see
//! [`ConsumerConfig::new`]), and `set` takes Kafka's names, Java's assignor class names
//! included.

use std::str::FromStr;
use std::time::Duration;

use super::{parse_bool, parse_ms, parse_num, ClientConfig, COMMON_KEYS};
use crate::assignor::AssignmentStrategy;
use crate::error::{Error, Result};

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
