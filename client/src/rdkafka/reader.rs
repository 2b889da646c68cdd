//! The partition reader of the rdkafka backend: a librdkafka consumer without a group that
//! `assign()`s one partition at a resolved offset.
//!
//! Where it sits: broker → fetch (librdkafka's fetcher thread) → poll thread → **RdReader**
//! → application.
//!
//! Why a poll thread: waiting for each message on the async side (`StreamConsumer::recv`,
//! a waker and a wake-up per message) capped this reader near 0.3 M records/s. A thread of
//! its own polls the `BaseConsumer` instead, takes every message already queued in
//! librdkafka (up to [`CHUNK`]) without waiting, and sends them over as one chunk, so the
//! async side pays one wake-up per chunk.
//!
//! Invariants:
//! - `next` is cancel-safe: records taken from librdkafka stay in `chunk` until a call
//!   returns them, and `position()` counts them as not yet returned.
//! - Records and errors reach `next` in the order librdkafka gave them (one bounded
//!   channel), so a slow application slows the polling, and librdkafka's own queue limits
//!   hold.
//! - The poll thread owns the last handle to the consumer once the reader is dropped: it
//!   notices within [`POLL_WAIT`], ends, and librdkafka's close runs there, off the async
//!   workers.
//! - Earliest and latest are resolved to numbers at `assign`, so `position()` is exact
//!   from the start, as natively.
//! - Nothing is committed (`enable.auto.commit=false`, no group); an offset outside the log
//!   is an error (`auto.offset.reset=error`), never a silent jump.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset as RdOffset, TopicPartitionList};
use tokio::sync::mpsc;

use super::blocking;
use super::error::{map, map_code, ErrorContext};
use crate::config::ReaderConfig;
use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, Offset};

/// The most messages the poll thread sends over at once.
const CHUNK: usize = 1024;
/// How long one poll waits for a first message; also how soon the thread sees the reader
/// is gone.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// Chunks in flight between the poll thread and the reader.
const CHUNKS_QUEUED: usize = 4;

type Chunk = std::result::Result<Vec<ConsumerRecord>, KafkaError>;

/// A librdkafka consumer reading one partition.
pub(crate) struct RdReader {
    consumer: Arc<BaseConsumer>,
    topic: String,
    partition: i32,
    position: i64,
    /// The high watermark from the last ListOffsets; asked again once `position` passes it.
    high_watermark: Option<i64>,
    timeout: Duration,
    bootstrap: String,
    /// Chunks of records, or an error, from the poll thread.
    chunks: mpsc::Receiver<Chunk>,
    /// Records received but not yet returned, at or after `position`: `next` keeps the
    /// front one here while it refreshes the high watermark, so a `next` future dropped
    /// during that wait loses nothing.
    chunk: VecDeque<ConsumerRecord>,
}

impl std::fmt::Debug for RdReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdReader")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl RdReader {
    /// Check the partition exists, resolve `start`, and assign it.
    pub(crate) async fn assign(
        config: ReaderConfig,
        topic: &str,
        partition: i32,
        start: Offset,
    ) -> Result<RdReader> {
        config.client.validate()?;
        let bootstrap = config.client.bootstrap_servers.join(",");
        let consumer: BaseConsumer =
            super::config::reader(&config)
                .create()
                .map_err(|e| Error::Librdkafka {
                    context: "create the partition reader".into(),
                    message: e.to_string(),
                })?;
        let consumer = Arc::new(consumer);
        let timeout = config.client.request_timeout.min(Duration::from_secs(10));
        let ctx = ErrorContext::new(format!("read {topic}[{partition}]"), &bootstrap)
            .topic(topic, Some(partition))
            .timeout(timeout);

        let (c, t) = (consumer.clone(), topic.to_string());
        let count = blocking(
            move || -> std::result::Result<usize, (Option<RDKafkaErrorCode>, String)> {
                let meta = c
                    .client()
                    .fetch_metadata(Some(&t), timeout)
                    .map_err(|e| (None, e.to_string()))?;
                match meta.topics().first() {
                    Some(mt) => match mt.error() {
                        Some(e) => Err((Some(e.into()), format!("{e:?}"))),
                        None => Ok(mt.partitions().len()),
                    },
                    None => Err((
                        Some(RDKafkaErrorCode::UnknownTopicOrPartition),
                        "no such topic".into(),
                    )),
                }
            },
        )
        .await?
        .map_err(|(code, message)| match code {
            Some(code) => map_code(code, &message, &ctx),
            // The metadata request itself failed: nobody answered.
            None => Error::Connect {
                addr: bootstrap.clone(),
                cause: Arc::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("librdkafka: {message}"),
                )),
            },
        })?;
        if partition < 0 || partition as usize >= count {
            return Err(Error::InvalidPartition {
                topic: topic.to_string(),
                partition,
                count: count as i32,
            });
        }

        let (c, t) = (consumer.clone(), topic.to_string());
        let (low, high) = blocking(move || c.fetch_watermarks(&t, partition, timeout))
            .await?
            .map_err(|e| map(&e, &ctx))?;
        let position = match start {
            Offset::At(n) => n,
            Offset::Earliest => low,
            Offset::Latest => high,
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, RdOffset::Offset(position))
            .map_err(|e| map(&e, &ctx))?;
        consumer.assign(&tpl).map_err(|e| map(&e, &ctx))?;
        let (tx, chunks) = mpsc::channel(CHUNKS_QUEUED);
        let polled = consumer.clone();
        std::thread::Builder::new()
            .name(format!("rdkafka-reader-{topic}-{partition}"))
            .spawn(move || poll_thread(&polled, &tx))
            .map_err(|e| Error::Librdkafka {
                context: "start the partition reader's poll thread".into(),
                message: e.to_string(),
            })?;
        Ok(RdReader {
            consumer,
            topic: topic.to_string(),
            partition,
            position,
            high_watermark: Some(high),
            timeout,
            bootstrap,
            chunks,
            chunk: VecDeque::new(),
        })
    }

    /// The next record; waits until there is one. Cancel-safe: a record is either still
    /// queued (in librdkafka or the channel) or held in `chunk` until a call returns it.
    pub(crate) async fn next(&mut self) -> Result<ConsumerRecord> {
        while self.chunk.is_empty() {
            let failed = match self.chunks.recv().await {
                Some(Ok(records)) => {
                    self.chunk = records.into();
                    // Records before our start, from the batch it sits in.
                    let position = self.position;
                    self.chunk.retain(|r| r.offset >= position);
                    continue;
                }
                Some(Err(e)) => e,
                None => KafkaError::Canceled, // the poll thread ended: it cannot fail otherwise
            };
            let ctx = ErrorContext::new(
                format!("read {}[{}]", self.topic, self.partition),
                &self.bootstrap,
            )
            .topic(&self.topic, Some(self.partition))
            .offset(self.position);
            return Err(map(&failed, &ctx));
        }
        let after = self.chunk.front().map_or(self.position, |r| r.offset + 1);
        if self.high_watermark.is_none_or(|h| after > h) {
            self.refresh_high_watermark().await;
        }
        let record = self.chunk.pop_front().expect("the loop above filled it");
        self.position = record.offset + 1;
        Ok(record)
    }

    /// The offset of the record `next()` returns next.
    pub(crate) fn position(&self) -> i64 {
        self.chunk.front().map_or(self.position, |r| r.offset)
    }

    /// The high watermark as last asked (at assign, and whenever the reader passed it).
    pub(crate) fn high_watermark(&self) -> Option<i64> {
        self.high_watermark
    }

    async fn refresh_high_watermark(&mut self) {
        let (c, t, p, timeout) = (
            self.consumer.clone(),
            self.topic.clone(),
            self.partition,
            self.timeout,
        );
        match blocking(move || c.fetch_watermarks(&t, p, timeout)).await {
            Ok(Ok((_, high))) => {
                let seen = self.chunk.front().map_or(self.position, |r| r.offset + 1);
                self.high_watermark = Some(high.max(seen));
            }
            // Not worth failing a record over: the next pass asks again.
            _ => self.high_watermark = None,
        }
    }
}

/// The poll thread: wait up to [`POLL_WAIT`] for a message, then take every message already
/// queued (up to [`CHUNK`]) and send them as one chunk; an error goes after the records
/// before it. Ends when the reader is gone.
fn poll_thread(consumer: &BaseConsumer, tx: &mpsc::Sender<Chunk>) {
    while !tx.is_closed() {
        let mut records = Vec::new();
        let mut failed = None;
        let mut wait = POLL_WAIT;
        while failed.is_none() && records.len() < CHUNK {
            match consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => records.push(super::consumer::to_record(&m)),
                Some(Err(e)) => failed = Some(e),
            }
            wait = Duration::ZERO;
        }
        if !records.is_empty() && tx.blocking_send(Ok(records)).is_err() {
            return;
        }
        if let Some(e) = failed {
            if tx.blocking_send(Err(e)).is_err() {
                return;
            }
        }
    }
}
