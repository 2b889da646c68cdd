//! The native backend: a pure-Rust Kafka client on tokio, speaking the wire protocol through
//! the `kafka-protocol` codecs.
//!
//! Reading order, following a record out and back:
//! 1. [`connection`]: frames, correlation ids, ApiVersions negotiation.
//! 2. [`metadata`]: brokers, topics, leaders, the connection pool.
//! 3. [`accumulator`]: per-partition batches, `linger.ms` and `batch.size`.
//! 4. [`batch`]: v2 record batches, encoded for Produce and decoded from Fetch.
//! 5. [`producer`]: `send`, the sender task, acks and retries.
//! 6. [`reader`]: Fetch long-polling for one partition.
//! 7. [`consumer`]: the group consumer: membership, heartbeats, offsets, pipelined fetch.
//! 8. [`admin`]: CreateTopics, DeleteTopics, Metadata.

pub(crate) mod accumulator;
pub(crate) mod admin;
pub(crate) mod batch;
pub(crate) mod connection;
pub(crate) mod consumer;
pub(crate) mod metadata;
pub(crate) mod producer;
pub(crate) mod reader;
