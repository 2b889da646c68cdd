//! The native partition reader: read one partition from a start offset with long-polling
//! Fetch requests, and hand out records one by one.
//!
//! Where it sits: broker → fetch on the wire → batch decode → **reader** → application.
//!
//! Invariants:
//! - Records come out in offset order, each exactly once, starting at the requested offset:
//!   records before it (the broker sends whole batches) are skipped, and a partial batch at
//!   the end of a response is dropped and fetched again.
//! - The position only moves past records that were decoded from a batch whose CRC-32C
//!   checks out. A Fetch answer is decoded one batch at a time, one batch ahead of the
//!   application (so `position()` is always exact): the buffer holds at most one batch's
//!   records, and nothing is copied out of the answer.
//! - A batch that does not decode is reported once the records before it are handed out;
//!   the next call fetches again from the position.
//! - Stale leaders and dropped connections are retried (with metadata refresh and backoff);
//!   OFFSET_OUT_OF_RANGE is reported, not silently reset.

use std::collections::VecDeque;
use std::mem;
use std::sync::Arc;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest};

use crate::config::ReaderConfig;
use crate::error::{Error, KafkaCode, Result};
use crate::native::completed_fetch::CompletedFetch;
use crate::native::metadata::{topic_name, Cluster};
use crate::record::{ConsumerRecord, Offset};

/// The pure-Rust partition reader behind [`crate::PartitionReader`].
#[derive(Debug)]
pub(crate) struct NativeReader {
    config: ReaderConfig,
    cluster: Arc<Cluster>,
    topic: String,
    partition: i32,
    /// The offset of the next record to hand out once `buffer` is empty.
    position: i64,
    /// The records of the batch being handed out.
    buffer: VecDeque<ConsumerRecord>,
    /// What is left of the last Fetch answer, and the broker it came from.
    fetched: CompletedFetch,
    fetched_from: String,
    /// A batch that did not decode, reported once `buffer` is empty.
    broken: Option<Error>,
    /// Grows when one batch is larger than `max.partition.fetch.bytes`.
    partition_max_bytes: i32,
    high_watermark: Option<i64>,
}

impl NativeReader {
    /// Connect, resolve `start` (earliest/latest through ListOffsets) and get ready to read.
    pub(crate) async fn assign(
        config: ReaderConfig,
        topic: &str,
        partition: i32,
        start: Offset,
    ) -> Result<NativeReader> {
        let cluster = Cluster::new(config.client.clone())?;
        cluster.bootstrap().await?;
        let meta = cluster.topic(topic, false).await?;
        if !meta.partitions.iter().any(|p| p.id == partition) {
            return Err(Error::InvalidPartition {
                topic: topic.to_string(),
                partition,
                count: meta.partitions.len() as i32,
            });
        }
        let mut reader = NativeReader {
            partition_max_bytes: config.max_partition_fetch_bytes.max(1),
            config,
            cluster,
            topic: topic.to_string(),
            partition,
            position: 0,
            buffer: VecDeque::new(),
            fetched: CompletedFetch::default(),
            fetched_from: String::new(),
            broken: None,
            high_watermark: None,
        };
        reader.position = match start {
            Offset::At(o) => o,
            Offset::Earliest => reader.list_offset(-2).await?,
            Offset::Latest => reader.list_offset(-1).await?,
        };
        Ok(reader)
    }

    /// The offset of the next record `next()` returns.
    pub(crate) fn position(&self) -> i64 {
        self.buffer.front().map_or(self.position, |r| r.offset)
    }

    /// The partition's high watermark from the last Fetch, if one was made.
    pub(crate) fn high_watermark(&self) -> Option<i64> {
        self.high_watermark
    }

    /// The next record; waits (long-polls) until one is there.
    pub(crate) async fn next(&mut self) -> Result<ConsumerRecord> {
        loop {
            if let Some(r) = self.buffer.pop_front() {
                if self.buffer.is_empty() {
                    self.decode_next_batch();
                }
                return Ok(r);
            }
            if let Some(e) = self.broken.take() {
                self.fetched = CompletedFetch::default();
                return Err(e);
            }
            self.fetch_with_retries().await?;
            self.decode_next_batch();
        }
    }

    /// Decode batches of the last answer until one holds records at or after the position
    /// (into `buffer`), or the answer is used up; control batches only move the position.
    fn decode_next_batch(&mut self) {
        loop {
            let batch = match self.fetched.next_batch() {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    // Data came back but not one whole batch: it is larger than we allowed.
                    if self.fetched.partial_tail() && self.fetched.next_offset().is_none() {
                        self.partition_max_bytes = self.partition_max_bytes.saturating_mul(2);
                        tracing::debug!(
                            max = self.partition_max_bytes,
                            "batch larger than max.partition.fetch.bytes, asking for more"
                        );
                    }
                    self.fetched = CompletedFetch::default();
                    return;
                }
                Err(message) => return self.broke(message),
            };
            if !batch.is_skipped() {
                for r in batch.records() {
                    let r = match r {
                        Ok(r) => r,
                        Err(message) => {
                            self.buffer.clear();
                            return self.broke(message);
                        }
                    };
                    if r.offset < self.position {
                        continue; // whole batches come back; skip what precedes our offset
                    }
                    self.buffer.push_back(ConsumerRecord {
                        topic: self.topic.clone(),
                        partition: self.partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                    });
                }
            }
            // Batches of only control records (or compacted ones) still move us forward.
            self.position = self.position.max(batch.next_offset());
            if !self.buffer.is_empty() {
                return;
            }
        }
    }

    fn broke(&mut self, message: String) {
        self.fetched = CompletedFetch::default();
        self.broken = Some(Error::Protocol {
            addr: mem::take(&mut self.fetched_from),
            api: "Fetch",
            message: format!("{}[{}]: {message}", self.topic, self.partition),
        });
    }

    async fn fetch_with_retries(&mut self) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.fetch_once().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() && attempt < self.config.client.retries => {
                    attempt += 1;
                    tracing::debug!(topic = %self.topic, partition = self.partition, attempt, error = %e, "fetch failed, retrying");
                    if e.needs_metadata_refresh() {
                        self.cluster.invalidate(&self.topic);
                    }
                    tokio::time::sleep(self.config.client.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One Fetch from `position`; its records are decoded by `decode_next_batch`.
    async fn fetch_once(&mut self) -> Result<()> {
        let conn = self
            .cluster
            .leader_connection(&self.topic, self.partition, false)
            .await?;
        let mut req = FetchRequest::default();
        req.max_wait_ms = i32::try_from(self.config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX);
        req.min_bytes = self.config.fetch_min_bytes;
        req.max_bytes = self.config.fetch_max_bytes;
        req.isolation_level = self.config.isolation_level.as_i8();
        req.session_id = 0;
        req.session_epoch = -1;
        let mut ft = FetchTopic::default();
        ft.topic = topic_name(&self.topic);
        ft.partitions = vec![FetchPartition::default()
            .with_partition(self.partition)
            .with_fetch_offset(self.position)
            .with_partition_max_bytes(self.partition_max_bytes)];
        req.topics = vec![ft];

        let resp = match conn.request(&req).await {
            Ok(r) => r,
            Err(e) => {
                self.cluster.forget_connection(conn.addr());
                return Err(e);
            }
        };
        let context = || {
            format!(
                "fetch {}[{}] at offset {}",
                self.topic, self.partition, self.position
            )
        };
        if resp.error_code != 0 {
            return Err(Error::kafka(resp.error_code, context()));
        }
        let data = resp
            .responses
            .into_iter()
            .filter(|t| t.topic.as_str() == self.topic.as_str())
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == self.partition)
            .ok_or_else(|| Error::Protocol {
                addr: conn.addr().to_string(),
                api: "Fetch",
                message: format!(
                    "the response has no answer for {}[{}]",
                    self.topic, self.partition
                ),
            })?;
        match KafkaCode::from_code(data.error_code) {
            _ if data.error_code == 0 => {}
            KafkaCode::OffsetOutOfRange => {
                return Err(Error::OffsetOutOfRange {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    offset: self.position,
                })
            }
            _ => return Err(Error::kafka(data.error_code, context())),
        }
        self.high_watermark = Some(data.high_watermark);
        let aborted = aborted_list(&data);
        self.fetched = CompletedFetch::new(data.records.unwrap_or_default()).with_aborted(aborted);
        self.fetched_from = conn.addr().to_string();
        Ok(())
    }

    /// ListOffsets for `timestamp` (-2 earliest, -1 latest).
    async fn list_offset(&self, timestamp: i64) -> Result<i64> {
        let context = format!(
            "list {} offset of {}[{}]",
            if timestamp == -2 {
                "earliest"
            } else {
                "latest"
            },
            self.topic,
            self.partition
        );
        let conn = self
            .cluster
            .leader_connection(&self.topic, self.partition, false)
            .await?;
        let mut req = ListOffsetsRequest::default();
        req.replica_id = (-1).into();
        // read_committed: "latest" is the last stable offset.
        req.isolation_level = self.config.isolation_level.as_i8();
        let mut t = ListOffsetsTopic::default();
        t.name = topic_name(&self.topic);
        t.partitions = vec![ListOffsetsPartition::default()
            .with_partition_index(self.partition)
            .with_timestamp(timestamp)];
        req.topics = vec![t];
        let resp = conn.request(&req).await?;
        let p = resp
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == self.partition)
            .ok_or_else(|| Error::Protocol {
                addr: conn.addr().to_string(),
                api: "ListOffsets",
                message: format!("no answer for {}[{}]", self.topic, self.partition),
            })?;
        if p.error_code != 0 {
            return Err(Error::kafka(p.error_code, context));
        }
        Ok(p.offset)
    }
}

/// A Fetch answer's `aborted_transactions` as (producer id, first offset): empty for
/// read_uncommitted (null on the wire).
pub(crate) fn aborted_list(
    data: &kafka_protocol::messages::fetch_response::PartitionData,
) -> Vec<(i64, i64)> {
    data.aborted_transactions
        .iter()
        .flatten()
        .map(|t| (t.producer_id.0, t.first_offset))
        .collect()
}
