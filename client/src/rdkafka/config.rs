//! The config mapping of the rdkafka backend: our [`ProducerConfig`], [`ReaderConfig`] and
//! [`ConsumerConfig`] become librdkafka properties, by librdkafka's names.
//!
//! Where it sits: application config → **here** → `rdkafka::ClientConfig` → librdkafka.
//!
//! Invariants:
//! - `partitioner=murmur2_random` is always set for producers, so a key lands on the partition
//!   the native backend (and Java, and kafka-python) pick; librdkafka's own default
//!   (`consistent_random`, CRC32) would put it elsewhere.
//! - The pass-through properties (`ClientConfig::extra`, from `set(key, value)` or the demo's
//!   `--config key=value`) are applied last, so they win over every mapped value. librdkafka
//!   itself rejects unknown keys and bad values when the client is created.

use std::time::Duration;

use rdkafka::config::ClientConfig as RdConfig;

use crate::assignor::AssignmentStrategy;
use crate::config::{
    Acks, ClientConfig, Compression, ConsumerConfig, IsolationLevel, OffsetReset, ProducerConfig,
    ReaderConfig,
};

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Settings every librdkafka client shares. `extra` is not applied here: see [`finish`].
fn common(c: &ClientConfig) -> RdConfig {
    let mut rd = RdConfig::new();
    rd.set("bootstrap.servers", c.bootstrap_servers.join(","))
        .set("client.id", &c.client_id)
        .set("retry.backoff.ms", ms(c.retry_backoff))
        // librdkafka's minimum is 1 ms; 0 ("always ask again") becomes that.
        .set(
            "metadata.max.age.ms",
            ms(c.metadata_max_age.max(Duration::from_millis(1))),
        )
        // librdkafka logs through the `log` crate; keep its chatter to real problems.
        .set("log_level", "3");
    for (key, value) in c.security.rdkafka_properties() {
        rd.set(key, value);
    }
    rd
}

/// Apply the pass-through properties last, so they override the mapped ones.
fn finish(mut rd: RdConfig, c: &ClientConfig) -> RdConfig {
    for (k, v) in &c.extra {
        rd.set(k, v);
    }
    rd
}

/// librdkafka properties for a producer.
pub(crate) fn producer(p: &ProducerConfig) -> RdConfig {
    let mut rd = common(&p.client);
    let acks = match p.acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    };
    let compression = match p.compression {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    };
    // librdkafka gives up on a record after message.timeout.ms (default 5 minutes); derive
    // it from our retry budget so a dead broker is reported about as soon as natively.
    let budget = p.client.request_timeout.min(Duration::from_secs(10))
        + p.client.retry_backoff * p.client.retries
        + p.linger;
    rd.set("partitioner", "murmur2_random")
        .set("acks", acks)
        // librdkafka caps linger.ms at 900000; a longer linger means "only flush sends".
        .set("linger.ms", ms(p.linger.min(Duration::from_secs(900))))
        .set(
            "batch.size",
            p.batch_size.clamp(1, i32::MAX as usize).to_string(),
        )
        .set("compression.type", compression)
        .set(
            "max.in.flight.requests.per.connection",
            p.max_in_flight.clamp(1, 1_000_000).to_string(),
        )
        .set("retries", p.client.retries.to_string())
        .set(
            "transaction.timeout.ms",
            ms(p.transaction_timeout.max(Duration::from_millis(1000))),
        )
        // Kafka's default (on unless acks or in-flight forbid it), which librdkafka's
        // own default (off) is not: both backends resolve it the same way.
        .set(
            "enable.idempotence",
            if p.idempotent().unwrap_or(false) {
                "true"
            } else {
                "false"
            },
        )
        .set("request.timeout.ms", ms(p.client.request_timeout))
        .set("message.timeout.ms", ms(budget))
        // How long a topic the broker says does not exist may take to appear before its
        // records fail with UNKNOWN_TOPIC; natively that is the retry budget, so here too.
        .set(
            "topic.metadata.propagation.max.ms",
            ms((p.client.retry_backoff * p.client.retries).max(Duration::from_millis(1))),
        )
        .set(
            "queue.buffering.max.kbytes",
            (p.buffer_memory / 1024).clamp(1, 2_147_483_647).to_string(),
        )
        .set(
            "allow.auto.create.topics",
            p.allow_auto_create_topics.to_string(),
        );
    if let Some(id) = &p.transactional_id {
        rd.set("transactional.id", id);
    }
    finish(rd, &p.client)
}

/// librdkafka properties for a partition reader: a consumer without a group that only
/// uses `assign()`, commits nothing and reports out-of-range offsets as errors.
pub(crate) fn reader(r: &ReaderConfig) -> RdConfig {
    let mut rd = common(&r.client);
    // librdkafka's assign() needs a group id even though this consumer never joins a group
    // (no subscribe) and never commits.
    rd.set("group.id", format!("{}-reader", r.client.client_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .set("enable.partition.eof", "false")
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("socket.timeout.ms", ms(r.client.request_timeout))
        .set("fetch.wait.max.ms", ms(r.fetch_max_wait))
        .set("fetch.min.bytes", r.fetch_min_bytes.to_string())
        .set("fetch.max.bytes", r.fetch_max_bytes.to_string())
        .set(
            "max.partition.fetch.bytes",
            r.max_partition_fetch_bytes.to_string(),
        )
        .set("isolation.level", isolation(r.isolation_level));
    finish(rd, &r.client)
}

/// `isolation.level`, always set: librdkafka's own default is read_committed, Kafka's
/// (and ours) read_uncommitted.
fn isolation(level: IsolationLevel) -> &'static str {
    match level {
        IsolationLevel::ReadUncommitted => "read_uncommitted",
        IsolationLevel::ReadCommitted => "read_committed",
    }
}

/// librdkafka's `fetch.queue.backoff.ms` for readers and consumers. Its default, 1,000 ms,
/// makes the fetcher sleep a whole second each time its queue holds `queued.min.messages`,
/// so a reader that keeps up sat idle more than half the time (0.18 → 0.69 M records/s on
/// one partition with 10 ms; docs/benchmarks.md). Java's consumer has no such pause.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// librdkafka properties for a group consumer.
pub(crate) fn consumer(c: &ConsumerConfig) -> RdConfig {
    let mut rd = common(&c.client);
    let strategies: Vec<&str> = c
        .assignment_strategies
        .iter()
        .map(|s| match s {
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::Range => "range",
        })
        .collect();
    let reset = match c.auto_offset_reset {
        OffsetReset::Earliest => "earliest",
        OffsetReset::Latest => "latest",
    };
    rd.set("group.id", &c.group_id)
        .set("auto.offset.reset", reset)
        .set("enable.auto.commit", c.enable_auto_commit.to_string())
        // Offsets of the records handed to the application are stored as they are handed
        // out, so auto-commit and commit() cover exactly what the application received.
        .set("enable.auto.offset.store", "true")
        .set("auto.commit.interval.ms", ms(c.auto_commit_interval))
        .set("session.timeout.ms", ms(c.session_timeout))
        .set("heartbeat.interval.ms", ms(c.heartbeat_interval))
        // librdkafka refuses max.poll.interval.ms below session.timeout.ms (Java does not).
        .set(
            "max.poll.interval.ms",
            ms(c.rebalance_timeout.max(c.session_timeout)),
        )
        .set("partition.assignment.strategy", strategies.join(","))
        .set(
            "allow.auto.create.topics",
            c.allow_auto_create_topics.to_string(),
        )
        .set("socket.timeout.ms", ms(c.client.request_timeout))
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("fetch.wait.max.ms", ms(c.fetch_max_wait))
        .set("fetch.min.bytes", c.fetch_min_bytes.to_string())
        .set("fetch.max.bytes", c.fetch_max_bytes.to_string())
        .set(
            "max.partition.fetch.bytes",
            c.max_partition_fetch_bytes.to_string(),
        )
        .set("isolation.level", isolation(c.isolation_level))
        .set("enable.partition.eof", "false")
        // librdkafka refreshes the subscribed topics' metadata (and so notices new topics
        // and partitions) every topic.metadata.refresh.interval.ms: Java's metadata.max.age.ms.
        .set(
            "topic.metadata.refresh.interval.ms",
            ms(c.client.metadata_max_age.max(Duration::from_millis(1))),
        );
    finish(rd, &c.client)
}

/// librdkafka properties for the admin client (created as a producer handle).
pub(crate) fn admin(c: &ClientConfig) -> RdConfig {
    let mut rd = common(c);
    // Metadata lookups must not create the topics they look at.
    rd.set("allow.auto.create.topics", "false")
        .set("socket.timeout.ms", ms(c.request_timeout));
    finish(rd, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;

    #[test]
    fn producer_maps_kafka_names_and_always_uses_murmur2() {
        let mut p = ProducerConfig::new("a:1,b:2");
        p.acks = Acks::Leader;
        p.linger = Duration::from_millis(20);
        p.batch_size = 1000;
        p.max_in_flight = 2;
        let rd = producer(&p);
        let reader_props = reader(&ReaderConfig::new("a:1"));
        assert_eq!(reader_props.get("fetch.queue.backoff.ms"), Some("10"));
        assert_eq!(rd.get("max.in.flight.requests.per.connection"), Some("2"));
        assert_eq!(rd.get("partitioner"), Some("murmur2_random"));
        assert_eq!(rd.get("acks"), Some("1"));
        assert_eq!(rd.get("linger.ms"), Some("20"));
        assert_eq!(rd.get("batch.size"), Some("1000"));
        assert_eq!(rd.get("bootstrap.servers"), Some("a:1,b:2"));
    }

    #[test]
    fn pass_through_properties_win() {
        let mut c = ConsumerConfig::new("localhost:9092", "g");
        c.client.backend = Backend::Rdkafka;
        c.set("security.protocol", "SASL_SSL").unwrap();
        c.set("sasl.mechanism", "PLAIN").unwrap();
        c.client
            .extra
            .push(("partition.assignment.strategy".into(), "range".into()));
        let rd = consumer(&c);
        assert_eq!(rd.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(rd.get("sasl.mechanisms"), Some("PLAIN"));
        assert_eq!(rd.get("partition.assignment.strategy"), Some("range"));
        assert_eq!(rd.get("group.id"), Some("g"));
        let rd = consumer(&ConsumerConfig::new("localhost:9092", "g"));
        assert_eq!(rd.get("partition.assignment.strategy"), Some("roundrobin"));
    }

    /// docs/real-kafka.md promises SASL/PLAIN, TLS and SCRAM with the `rdkafka` feature
    /// (librdkafka built with a vendored OpenSSL); librdkafka refuses, at creation, a
    /// config its build cannot serve, so creating the client checks the promise.
    #[test]
    fn the_feature_builds_librdkafka_with_sasl_and_tls() {
        use rdkafka::producer::FutureProducer;
        let mut p = ProducerConfig::new("127.0.0.1:9");
        p.client.backend = Backend::Rdkafka;
        p.set("security.protocol", "SASL_PLAINTEXT").unwrap();
        p.set("sasl.mechanism", "PLAIN").unwrap();
        p.set("sasl.username", "alice").unwrap();
        p.set("sasl.password", "secret").unwrap();
        assert!(producer(&p).create::<FutureProducer>().is_ok());
        p.set("security.protocol", "SASL_SSL").unwrap();
        p.set("sasl.mechanism", "SCRAM-SHA-512").unwrap();
        if let Err(e) = producer(&p).create::<FutureProducer>() {
            panic!("SASL_SSL with SCRAM: {e}");
        }
        // Kerberos needs cyrus-sasl, which the feature does not build: a clear refusal.
        p.set("sasl.mechanism", "GSSAPI").unwrap();
        let err = producer(&p)
            .create::<FutureProducer>()
            .err()
            .expect("no GSSAPI");
        assert!(err.to_string().contains("GSSAPI"), "{err}");
    }
}
