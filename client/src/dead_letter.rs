//! The dead-letter queue: a record whose handler keeps failing is set aside in
//! `<topic>.dlq`, with why it failed and where it came from, so one bad record (a "poison
//! pill") cannot stop a consumer group; the group then commits past it.
//!
//! Where it sits: broker → fetch → [`crate::Consumer`] → **[`DeadLetterQueue::handle`]** →
//! the application's handler; on the last failure, → [`crate::Producer`] → `<topic>.dlq`.
//! It is Kafka Connect's `errors.deadletterqueue.*` and Spring Kafka's
//! `DefaultErrorHandler` + `DeadLetterPublishingRecoverer`, as one small type over the
//! public [`Consumer`] and [`Producer`], so it works the same on both backends.
//!
//! # The dead-letter record
//!
//! | part      | what it holds                                                          |
//! |-----------|------------------------------------------------------------------------|
//! | topic     | `<original topic>.dlq` ([`dead_letter_topic`])                         |
//! | key       | the original key, unchanged (so one key lands on one DLQ partition)   |
//! | value     | the original value, unchanged                                          |
//! | headers   | the original headers, then the error headers below                     |
//! | partition | chosen by the partitioner from the key (murmur2; sticky if keyless)    |
//! | timestamp | the time it was dead-lettered; the original one is a header, so the DLQ's retention counts from the failure, not from the original write |
//!
//! The error headers are Kafka Connect's (`errors.deadletterqueue.context.headers.enable`
//! in a sink connector): Connect ships with Apache Kafka, so its DLQ headers are the ones
//! Kafka users and their tools most likely know. Their values are UTF-8 text, as Connect
//! writes them (Spring Kafka's `kafka_dlt-*` are binary), so `kcat -f '%h'` or
//! `kafka-console-consumer --property print.headers=true` shows them as they are:
//!
//! | header                                    | value                                  |
//! |-------------------------------------------|----------------------------------------|
//! | `__connect.errors.topic`                  | original topic                         |
//! | `__connect.errors.partition`              | original partition, decimal            |
//! | `__connect.errors.offset`                 | original offset, decimal               |
//! | `__connect.errors.timestamp` *            | original timestamp, ms since the epoch |
//! | `__connect.errors.exception.class.name`   | the Rust type of the handler's error   |
//! | `__connect.errors.exception.message`      | the handler's last error (`Display`)   |
//! | `__connect.errors.attempts` *             | how many times the handler ran         |
//!
//! \* Connect has no header for these two (for the first, Spring Kafka has
//! `kafka_dlt-original-timestamp`, binary); they follow Connect's naming so one prefix
//! finds every error header. An original header with one of the seven names (a record
//! dead-lettered twice) is replaced, since this client keeps header keys unique
//! (`record.rs`).
//!
//! # Creating the `.dlq` topic
//!
//! The DLQ topic is an ordinary topic, created by the first dead-letter record: the
//! producer asks for it with `allow.auto.create.topics` (on by default), and a broker with
//! `auto.create.topics.enable` (minikafka's default, and Kafka's) creates it with its
//! default partition count (`num.partitions`). On a cluster that does not auto-create,
//! create it beforehand ([`crate::Admin::create_topic`]), as Spring Kafka expects too
//! (Kafka Connect creates its DLQ topic itself, through the admin API).
//!
//! # What must stay true
//! - A record is never committed past before it is handled or its dead-letter record is
//!   acknowledged: [`DeadLetterQueue::handle`] awaits the DLQ producer's delivery report
//!   (acks=1 or all; acks=0 is refused in [`DeadLetterQueue::new`]) and only then calls
//!   [`Consumer::commit`]. A crash between the two re-sends the record to the DLQ after the
//!   restart (at least once), never loses it.
//! - That guarantee needs the consumer's `enable.auto.commit=false`: with auto-commit, a
//!   background commit may cover a record while its handler still runs, as with any Kafka
//!   consumer, so a crash mid-retry may skip it.
//! - [`Consumer::commit`] covers every record `recv` handed out, so call `handle` on each
//!   record before the next `recv` (records of a partition in offset order).
//! - The handler runs at most `max_attempts` times per call, at least once, waiting
//!   `retry_backoff` between attempts; the dead-letter record says how many times it ran.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::config::{Acks, ProducerConfig};
use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::producer::Producer;
use crate::record::{ConsumerRecord, Header, ProducerRecord, RecordMetadata};

/// What a dead-letter topic's name adds to the original's.
pub const DLQ_SUFFIX: &str = ".dlq";

/// Header: the original topic (Kafka Connect's name).
pub const HEADER_TOPIC: &str = "__connect.errors.topic";
/// Header: the original partition, as decimal text (Kafka Connect's name).
pub const HEADER_PARTITION: &str = "__connect.errors.partition";
/// Header: the original offset, as decimal text (Kafka Connect's name).
pub const HEADER_OFFSET: &str = "__connect.errors.offset";
/// Header: the Rust type name of the handler's error (Kafka Connect's name, which holds
/// the Java exception's class there).
pub const HEADER_EXCEPTION_CLASS: &str = "__connect.errors.exception.class.name";
/// Header: the handler's last error, its `Display` (Kafka Connect's name).
pub const HEADER_EXCEPTION_MESSAGE: &str = "__connect.errors.exception.message";
/// Header: the original timestamp, ms since the epoch as decimal text (ours; Connect has
/// none).
pub const HEADER_TIMESTAMP: &str = "__connect.errors.timestamp";
/// Header: how many times the handler ran, as decimal text (ours; Connect has none).
pub const HEADER_ATTEMPTS: &str = "__connect.errors.attempts";

/// Every header the dead-letter record adds, in the order it adds them.
const ERROR_HEADERS: [&str; 7] = [
    HEADER_TOPIC,
    HEADER_PARTITION,
    HEADER_OFFSET,
    HEADER_TIMESTAMP,
    HEADER_EXCEPTION_CLASS,
    HEADER_EXCEPTION_MESSAGE,
    HEADER_ATTEMPTS,
];

/// `topic`'s dead-letter topic: `orders` → `orders.dlq`.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}

/// What [`DeadLetterQueue::handle`] did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler succeeded, on attempt `attempts` (1 = the first time). Nothing was
    /// committed: the consumer's usual commits (auto-commit, or the application's) apply.
    Handled {
        /// How many times the handler ran.
        attempts: u32,
    },
    /// Every attempt failed: the record is stored in the dead-letter topic at
    /// `dead_letter`, and the group's offsets are committed past it.
    DeadLettered {
        /// How many times the handler ran (`max_attempts`).
        attempts: u32,
        /// The handler's last error, as the record's `__connect.errors.exception.message`
        /// says it.
        error: String,
        /// Where the dead-letter record landed.
        dead_letter: RecordMetadata,
    },
}

/// Runs a handler on each record with retries, and sends the records it keeps failing on
/// to `<topic>.dlq` before committing past them.
///
/// ```no_run
/// # async fn demo() -> minikafka_client::Result<()> {
/// use minikafka_client::dead_letter::{DeadLetterQueue, Outcome};
/// use minikafka_client::{Consumer, ConsumerConfig, ConsumerEvent, ProducerConfig};
///
/// let mut config = ConsumerConfig::new("localhost:9092", "orders-app");
/// config.enable_auto_commit = false; // commit only what was handled or dead-lettered
/// let mut consumer = Consumer::new(config).await?;
/// consumer.subscribe(&["orders"]).await?;
/// let dlq = DeadLetterQueue::new(ProducerConfig::new("localhost:9092"), 3).await?;
/// loop {
///     let ConsumerEvent::Record(record) = consumer.recv().await? else { continue };
///     // The handler: here, the value must be UTF-8 text.
///     let outcome = dlq
///         .handle(&consumer, &record, |r| async move {
///             std::str::from_utf8(r.value.as_deref().unwrap_or_default()).map(drop)
///         })
///         .await?;
///     if let Outcome::DeadLettered { dead_letter, .. } = outcome {
///         println!("set aside in {} [{}] @ {}", dead_letter.topic, dead_letter.partition, dead_letter.offset);
///     }
/// #   break;
/// }
/// consumer.commit().await?; // what was handled since the last dead letter
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DeadLetterQueue {
    /// Sends the dead-letter records; its delivery report is awaited before any commit.
    producer: Producer,
    /// How many times the handler runs before the record is dead-lettered (≥ 1).
    max_attempts: u32,
    /// The wait between two attempts.
    retry_backoff: Duration,
}

impl DeadLetterQueue {
    /// A dead-letter queue that runs a handler up to `max_attempts` times (at least 1),
    /// sending through a producer made from `config` (backend, bootstrap, `acks`, ...).
    ///
    /// Refuses `max_attempts` 0 and `acks=0`, under which no delivery report could say the
    /// dead-letter record is stored before the commit.
    pub async fn new(config: ProducerConfig, max_attempts: u32) -> Result<DeadLetterQueue> {
        if max_attempts == 0 {
            return Err(Error::Config {
                key: "max_attempts".into(),
                message: "the handler must run at least once: use 1 or more".into(),
            });
        }
        if config.acks == Acks::None {
            return Err(Error::Config {
                key: "acks".into(),
                message: "a dead-letter queue commits past a record only once its dead-letter \
                          record is acknowledged; use acks=all (the default) or acks=1"
                    .into(),
            });
        }
        Ok(DeadLetterQueue {
            producer: Producer::new(config).await?,
            max_attempts,
            retry_backoff: Duration::ZERO,
        })
    }

    /// Wait `backoff` between two attempts (none by default, like Spring Kafka's
    /// `FixedBackOff(0, ...)`): for handlers that fail on something that may pass.
    pub fn retry_backoff(mut self, backoff: Duration) -> DeadLetterQueue {
        self.retry_backoff = backoff;
        self
    }

    /// How many times the handler runs before a record is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Run `handler` on `record` until it succeeds, at most `max_attempts` times. If every
    /// attempt fails, send the record to `<topic>.dlq` (see the module doc for its
    /// headers), wait for the broker to acknowledge it, and then commit `consumer`'s
    /// position, which covers this record and every one handed out before it.
    ///
    /// `record` must be the last record `consumer.recv()` handed out.
    ///
    /// An error means the record may not be committed past: a failed send (nothing
    /// committed; stop consuming, so that no later commit covers it) or a failed commit
    /// (the record is in the DLQ, and a member that gets it again sends it there again).
    pub async fn handle<'r, F, Fut, E>(
        &self,
        consumer: &Consumer,
        record: &'r ConsumerRecord,
        mut handler: F,
    ) -> Result<Outcome>
    where
        F: FnMut(&'r ConsumerRecord) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: fmt::Display,
    {
        let mut attempts = 1;
        let error = loop {
            match handler(record).await {
                Ok(()) => return Ok(Outcome::Handled { attempts }),
                Err(e) if attempts >= self.max_attempts => break e,
                Err(e) => {
                    tracing::debug!(
                        "{}[{}] @ {}: attempt {attempts} of {} failed: {e}",
                        record.topic,
                        record.partition,
                        record.offset,
                        self.max_attempts
                    );
                    attempts += 1;
                    if !self.retry_backoff.is_zero() {
                        tokio::time::sleep(self.retry_backoff).await;
                    }
                }
            }
        };
        let dead_letter = self.send(record, &error, attempts).await?;
        tracing::warn!(
            "{}[{}] @ {} failed {attempts} times ({error}); sent to {}[{}] @ {}",
            record.topic,
            record.partition,
            record.offset,
            dead_letter.topic,
            dead_letter.partition,
            dead_letter.offset
        );
        consumer.commit().await?;
        Ok(Outcome::DeadLettered {
            attempts,
            error: error.to_string(),
            dead_letter,
        })
    }

    /// Send `record` to its dead-letter topic with `error` and `attempts` in its headers,
    /// and wait for the broker's acknowledgement. Commits nothing: for an application with
    /// retries of its own, which commits after this returns.
    pub async fn send<E: fmt::Display + ?Sized>(
        &self,
        record: &ConsumerRecord,
        error: &E,
        attempts: u32,
    ) -> Result<RecordMetadata> {
        let failure = Failure {
            class: std::any::type_name::<E>(),
            message: error.to_string(),
            attempts,
        };
        self.producer
            .send(dead_letter_record(record, &failure))
            .await
    }

    /// Flush and close the DLQ producer.
    pub async fn close(&self) {
        self.producer.close().await;
    }
}

/// Why a record is dead-lettered, as its error headers say.
struct Failure {
    class: &'static str,
    message: String,
    attempts: u32,
}

/// The dead-letter record for `record` (see the table in the module doc).
fn dead_letter_record(record: &ConsumerRecord, failure: &Failure) -> ProducerRecord {
    let mut out = ProducerRecord::new(dead_letter_topic(&record.topic));
    out.key = record.key.clone();
    out.value = record.value.clone();
    out.headers = record
        .headers
        .iter()
        .filter(|h| !ERROR_HEADERS.contains(&h.key.as_str()))
        .cloned()
        .collect();
    let context = [
        record.topic.clone(),
        record.partition.to_string(),
        record.offset.to_string(),
        record.timestamp.to_string(),
        failure.class.to_owned(),
        failure.message.clone(),
        failure.attempts.to_string(),
    ];
    out.headers.extend(
        ERROR_HEADERS
            .iter()
            .zip(context)
            .map(|(key, value)| Header::new(*key, value)),
    );
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn poison() -> ConsumerRecord {
        ConsumerRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 41,
            timestamp: 1_764_652_800_000,
            key: Some(Bytes::from_static(b"user_1")),
            value: Some(Bytes::from_static(b"{not json")),
            headers: vec![
                Header::new("trace-id", "abc"),
                // Dead-lettered once already: replaced, not repeated.
                Header::new(HEADER_ATTEMPTS, "9"),
            ],
        }
    }

    fn header<'a>(record: &'a ProducerRecord, key: &str) -> Vec<&'a [u8]> {
        record
            .headers
            .iter()
            .filter(|h| h.key == key)
            .map(|h| h.value.as_deref().unwrap_or_default())
            .collect()
    }

    #[test]
    fn the_dead_letter_record_keeps_key_value_and_headers_and_says_why() {
        let failure = Failure {
            class: "serde_json::Error",
            message: "key must be a string at line 1 column 2".into(),
            attempts: 3,
        };
        let out = dead_letter_record(&poison(), &failure);
        assert_eq!(out.topic, "orders.dlq");
        assert_eq!(out.key.as_deref(), Some(&b"user_1"[..]));
        assert_eq!(out.value.as_deref(), Some(&b"{not json"[..]));
        assert_eq!(out.partition, None, "the key chooses the DLQ partition");
        assert_eq!(out.timestamp, None, "stamped when dead-lettered");
        let expect: [(&str, &[u8]); 8] = [
            ("trace-id", b"abc"),
            (HEADER_TOPIC, b"orders"),
            (HEADER_PARTITION, b"2"),
            (HEADER_OFFSET, b"41"),
            (HEADER_TIMESTAMP, b"1764652800000"),
            (HEADER_EXCEPTION_CLASS, b"serde_json::Error"),
            (
                HEADER_EXCEPTION_MESSAGE,
                b"key must be a string at line 1 column 2",
            ),
            (HEADER_ATTEMPTS, b"3"),
        ];
        for (key, value) in expect {
            assert_eq!(header(&out, key), vec![value], "{key}");
        }
        assert_eq!(out.headers.len(), expect.len(), "{:?}", out.headers);
    }

    #[test]
    fn connect_names_for_connects_headers() {
        assert_eq!(dead_letter_topic("demo-topic"), "demo-topic.dlq");
        for h in ERROR_HEADERS {
            assert!(h.starts_with("__connect.errors."), "{h}");
        }
    }

    #[tokio::test]
    async fn zero_attempts_and_acks_0_are_refused_before_connecting() {
        // Nothing listens there: a refusal must come from the checks, not the connect.
        let config = ProducerConfig::new("127.0.0.1:1");
        let err = DeadLetterQueue::new(config.clone(), 0).await.unwrap_err();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "max_attempts"),
            "{err}"
        );
        let mut no_acks = config;
        no_acks.acks = Acks::None;
        let err = DeadLetterQueue::new(no_acks, 3).await.unwrap_err();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "acks"),
            "{err}"
        );
    }
}
