//! Producer settings ([`ProducerConfig`]) and the choices they are made of: [`Acks`],
//! [`Compression`] and [`KeylessPartitioning`], each with Kafka's property name.
//!
//! What must stay true: the defaults are Kafka's (`acks=all`; idempotence on unless
//! the other settings rule it out), a transactional producer is always idempotent, and
//! `set` takes Kafka's names.

use std::str::FromStr;
use std::time::Duration;

use super::{parse_bool, parse_ms, parse_num, ClientConfig, COMMON_KEYS};
use crate::error::{Error, Result};

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
