//! The records an application sends and receives, independent of the backend.
//!
//! Where it sits: the first and the last stop of a message. A [`ProducerRecord`] goes into
//! [`crate::Producer::send`] and comes back as [`RecordMetadata`] (topic, partition, offset);
//! a [`ConsumerRecord`] comes out of [`crate::PartitionReader`] after the fetch.
//!
//! Invariant: header keys are unique within one record. Kafka allows repeated keys, but the
//! codec this client uses (kafka-protocol) keeps headers in a map, so the producer rejects a
//! repeat instead of silently dropping one.

use bytes::Bytes;

/// One record header: a string key and an optional byte value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name.
    pub key: String,
    /// The header value; `None` is Kafka's null value.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// A record to send: `(topic, key, value, headers)`, plus an optional fixed partition and
/// timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Where it goes.
    pub topic: String,
    /// A fixed partition; `None` lets the partitioner choose (murmur2 of the key, or sticky).
    pub partition: Option<i32>,
    /// The key; records with equal keys land on the same partition.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, with unique keys.
    pub headers: Vec<Header>,
    /// Creation time in ms since the epoch; `None` means now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value or headers yet.
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Set the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Set the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Add a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Send to this partition instead of letting the partitioner choose.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Set the creation timestamp (ms since the epoch).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Bytes this record adds to a batch, roughly as Kafka counts them for `batch.size`.
    pub fn estimated_size(&self) -> usize {
        let kv =
            self.key.as_ref().map_or(0, Bytes::len) + self.value.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len) + 4)
            .sum();
        kv + headers + 16
    }
}

/// Where a record was stored: the delivery report of `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition the record landed on.
    pub partition: i32,
    /// Its offset in the partition; -1 with acks=0, where the broker does not answer.
    pub offset: i64,
    /// The record's timestamp (the broker's, if the topic uses LogAppendTime).
    pub timestamp: i64,
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp, ms since the epoch.
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value, if any.
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
}

/// Where a partition reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The first offset still in the log (ListOffsets with timestamp -2).
    Earliest,
    /// The next offset to be written, so only new records are read (ListOffsets -1).
    Latest,
    /// This exact offset.
    At(i64),
}
