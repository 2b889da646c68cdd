//! minikafka-client: one producer, partition-reader and admin API for minikafka and Kafka,
//! with a pure-Rust backend (`native`) and a librdkafka backend (`rdkafka` feature).
//!
//! # Reading order
//!
//! Follow one record from the application to the broker and back:
//!
//! 1. [`config`]: every knob, with Kafka's property name, and the [`Backend`] switch.
//! 2. [`record`]: what goes in ([`ProducerRecord`]) and what comes out ([`RecordMetadata`],
//!    [`ConsumerRecord`]).
//! 3. [`producer`]: the public [`Producer`]; it forwards to the chosen backend.
//! 4. [`partitioner`]: murmur2, bit for bit Java's, and sticky/round-robin for keyless records.
//! 5. `native/`: the pure-Rust backend. `accumulator` (batches per partition) → `batch`
//!    (v2 record batch encode) → `producer` (sender task, acks, retries; with
//!    `idempotence`, the producer id and the sequence of each batch; one request in
//!    `producer/produce_request.rs`, transactions in `producer/transactional.rs`) →
//!    `metadata` (leaders, connection pool) → `connection` (frames, ApiVersions).
//! 6. [`reader`]: the public [`PartitionReader`], Fetch long-polling one partition
//!    (`native/reader.rs`); `native/completed_fetch.rs` decodes the answer's batches.
//! 7. [`consumer`]: the public group [`Consumer`]: subscribe, rebalance events, commits
//!    (`native/consumer/`).
//! 8. [`dead_letter`]: the [`DeadLetterQueue`] after the consumer: a handler retried up to
//!    N times, then the record sent to `<topic>.dlq` with Kafka Connect's error headers,
//!    acknowledged, and only then committed past.
//! 9. [`assignor`]: partition assignment for consumer groups (roundrobin, range), run by
//!    the group leader on the client side.
//! 10. [`admin`]: create/delete topics, metadata.
//! 11. [`error`]: every error, with what to do about it; Kafka codes by Kafka's names.
//!
//! # Backends
//!
//! Each public type holds an inner enum with one variant per backend. The rdkafka backend
//! (`rdkafka/`: config mapping → error mapping → producer → reader → consumer → admin, on
//! librdkafka through the `rdkafka` crate) is a variant behind the `rdkafka` feature; asking
//! for [`Backend::Rdkafka`] in a build without it returns [`Error::BackendUnavailable`]
//! saying how to rebuild. See docs/real-kafka.md.

pub mod admin;
pub mod assignor;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod error;
mod native;
pub mod partitioner;
pub mod producer;
#[cfg(feature = "rdkafka")]
mod rdkafka;
pub mod reader;
pub mod record;

pub use admin::{Admin, ClusterMetadata, NewTopic, TopicMetadata};
pub use config::{
    Acks, Backend, ClientConfig, Compression, ConsumerConfig, IsolationLevel, KeylessPartitioning,
    OffsetReset, ProducerConfig, ReaderConfig,
};
pub use consumer::{Consumer, ConsumerEvent, ConsumerGroupMetadata, TopicPartition};
pub use dead_letter::DeadLetterQueue;
pub use error::{Error, KafkaCode, Result};
pub use producer::{DeliveryFuture, Producer};
pub use reader::PartitionReader;
pub use record::{ConsumerRecord, Header, Offset, ProducerRecord, RecordMetadata};

/// Check that `backend` can run in this build.
fn require_backend(backend: Backend) -> Result<()> {
    match backend {
        Backend::Native => Ok(()),
        Backend::Rdkafka if cfg!(feature = "rdkafka") => Ok(()),
        Backend::Rdkafka => Err(Error::BackendUnavailable {
            backend: "rdkafka",
            hint: "this build was made without it; rebuild with `--features rdkafka` \
                   (e.g. cargo run -p minikafka-demo --features rdkafka ...)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    /// Compile-time check: the public types can be shared across tasks, and their futures
    /// can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    async fn public_types_and_futures_are_thread_safe(
        p: &Producer,
        r: &mut PartitionReader,
        a: &Admin,
        c: &Consumer,
        d: &DeadLetterQueue,
        rec: &ConsumerRecord,
    ) {
        send_sync::<Producer>();
        send_sync::<PartitionReader>();
        send_sync::<Admin>();
        send_sync::<DeadLetterQueue>();
        send_sync::<DeliveryFuture>();
        send(&p.send(ProducerRecord::new("t")));
        send(&p.enqueue(ProducerRecord::new("t")));
        send(&p.flush());
        send(&p.close());
        send(&r.next());
        send(&a.list_topics());
        send(&a.create_topic("t", 1));
        send(&d.handle(c, rec, |_| async { Ok::<(), String>(()) }));
    }

    #[test]
    fn rdkafka_without_the_feature_says_how_to_rebuild() {
        if cfg!(feature = "rdkafka") {
            assert!(require_backend(Backend::Rdkafka).is_ok());
        } else {
            let err = require_backend(Backend::Rdkafka).unwrap_err().to_string();
            assert!(err.contains("--features rdkafka"), "{err}");
        }
        assert!(require_backend(Backend::Native).is_ok());
    }
}
