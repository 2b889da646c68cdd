//! Client configuration: every knob of the producer and the partition reader, with Kafka's
//! property name for it, plus the choice of backend.
//!
//! Where it sits: the application builds a [`ProducerConfig`] or [`ReaderConfig`] and hands it
//! to [`crate::Producer`] / [`crate::PartitionReader`]; the chosen [`Backend`] decides which
//! implementation runs behind those public types.
//!
//! Here: the settings every client shares ([`ClientConfig`]) and the parsing helpers. The
//! producer's are in `config/producer.rs`, the reader's and group consumer's in
//! `config/consumer.rs`, and TLS and SASL in `config/security.rs`.
//!
//! Invariants:
//! - `bootstrap_servers` is never empty once parsed (an empty list is a config error).
//! - `set(key, value)` accepts Kafka property names. The native backend rejects keys it does not
//!   understand, with an error that says so; the rdkafka backend keeps them in `extra` and hands
//!   them to librdkafka unchanged.

mod consumer;
mod producer;
pub mod security;

use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
pub use consumer::{ConsumerConfig, IsolationLevel, OffsetReset, ReaderConfig};
pub use producer::{Acks, Compression, KeylessPartitioning, ProducerConfig};
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
    use crate::assignor::AssignmentStrategy;

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
