//! Error mapping of the rdkafka backend: a librdkafka error becomes the crate's [`Error`],
//! the same variant the native backend returns for the same failure, and librdkafka's own
//! message is kept in the text.
//!
//! Where it sits: every rdkafka call → **here** → the application's `Result`.
//!
//! Invariant: codes ≥ 0 are Kafka broker codes (librdkafka reuses Kafka's numbers), so they
//! become [`Error::Kafka`] with Kafka's name; negative codes are librdkafka-local errors.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::error::{Error, KafkaCode};

/// What was being done when librdkafka failed, for the error's context.
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext<'a> {
    /// e.g. `produce to demo-topic[1]`.
    pub what: String,
    /// The bootstrap servers, for connection errors.
    pub addr: &'a str,
    /// The topic, if the call was about one.
    pub topic: Option<&'a str>,
    /// The partition, if the call was about one.
    pub partition: Option<i32>,
    /// The offset, if the call was about one.
    pub offset: Option<i64>,
    /// How long librdkafka was given, for time-outs.
    pub timeout: Duration,
}

impl<'a> ErrorContext<'a> {
    pub(crate) fn new(what: impl Into<String>, addr: &'a str) -> Self {
        ErrorContext {
            what: what.into(),
            addr,
            topic: None,
            partition: None,
            offset: None,
            timeout: Duration::ZERO,
        }
    }

    pub(crate) fn topic(mut self, topic: &'a str, partition: Option<i32>) -> Self {
        self.topic = Some(topic);
        self.partition = partition;
        self
    }

    pub(crate) fn offset(mut self, offset: i64) -> Self {
        self.offset = Some(offset);
        self
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Map a librdkafka error.
pub(crate) fn map(err: &KafkaError, ctx: &ErrorContext<'_>) -> Error {
    let message = err.to_string();
    match err.rdkafka_error_code() {
        Some(code) => map_code(code, &message, ctx),
        None => Error::Librdkafka {
            context: ctx.what.clone(),
            message,
        },
    }
}

/// Map a bare librdkafka error code (e.g. a per-topic admin result).
pub(crate) fn map_code(code: RDKafkaErrorCode, message: &str, ctx: &ErrorContext<'_>) -> Error {
    use RDKafkaErrorCode as C;
    let topic = ctx.topic.unwrap_or_default().to_string();
    match code {
        C::UnknownTopic | C::UnknownTopicOrPartition if ctx.topic.is_some() => {
            Error::UnknownTopic { topic }
        }
        C::UnknownPartition if ctx.topic.is_some() => Error::InvalidPartition {
            topic,
            partition: ctx.partition.unwrap_or(-1),
            count: -1,
        },
        C::AutoOffsetReset | C::OffsetOutOfRange if ctx.topic.is_some() => {
            Error::OffsetOutOfRange {
                topic,
                partition: ctx.partition.unwrap_or(-1),
                offset: ctx.offset.unwrap_or(-1),
            }
        }
        C::AllBrokersDown | C::BrokerTransportFailure | C::Resolve => Error::Connect {
            addr: ctx.addr.to_string(),
            cause: Arc::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("librdkafka: {message}"),
            )),
        },
        C::MessageTimedOut | C::OperationTimedOut | C::TimedOutQueue => Error::Timeout {
            what: format!("{} via {} (librdkafka: {message})", ctx.what, ctx.addr),
            after: ctx.timeout,
        },
        other => {
            let n = other as i32;
            if (0..=i16::MAX as i32).contains(&n) && n != 0 {
                Error::Kafka {
                    code: KafkaCode::from_code(n as i16),
                    context: format!("{} (librdkafka: {message})", ctx.what),
                }
            } else {
                Error::Librdkafka {
                    context: ctx.what.clone(),
                    message: message.to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_codes_keep_kafka_names_and_librdkafkas_message() {
        let ctx = ErrorContext::new("produce to big[0]", "127.0.0.1:9092").topic("big", Some(0));
        let err = map(
            &KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
            &ctx,
        );
        assert!(
            matches!(
                err,
                Error::Kafka {
                    code: KafkaCode::MessageTooLarge,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("big[0]") && text.contains("librdkafka"),
            "{text}"
        );
    }

    #[test]
    fn local_codes_become_the_native_variants() {
        let ctx = ErrorContext::new("fetch", "h:1")
            .topic("t", Some(2))
            .offset(9);
        let err = map(
            &KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset),
            &ctx,
        );
        assert!(
            matches!(
                err,
                Error::OffsetOutOfRange {
                    partition: 2,
                    offset: 9,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = map(
            &KafkaError::MetadataFetch(RDKafkaErrorCode::AllBrokersDown),
            &ctx,
        );
        assert!(
            err.to_string().starts_with("cannot connect to h:1"),
            "{err}"
        );
        let err = map(&KafkaError::Canceled, &ctx);
        assert!(matches!(err, Error::Librdkafka { .. }), "{err:?}");
    }
}
