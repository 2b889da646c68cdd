//! The partition reader of the rdkafka backend: a librdkafka consumer without a group that
//! `assign()`s one partition at a resolved offset.
//!
//! Where it sits: broker → fetch (librdkafka's fetcher thread) → **RdReader** → application.
//!
//! Invariants:
//! - `next` is cancel-safe: a record taken from librdkafka is kept in `pending` until a
//!   call returns it, and `position()` counts it as not yet returned.
//! - Earliest and latest are resolved to numbers at `assign`, so `position()` is exact
//!   from the start, as natively.
//! - Nothing is committed (`enable.auto.commit=false`, no group); an offset outside the log
//!   is an error (`auto.offset.reset=error`), never a silent jump.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset as RdOffset, TopicPartitionList};

use super::blocking;
use super::error::{map, map_code, ErrorContext};
use crate::config::ReaderConfig;
use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, Offset};

/// A librdkafka consumer reading one partition.
pub(crate) struct RdReader {
    consumer: Arc<StreamConsumer>,
    topic: String,
    partition: i32,
    position: i64,
    /// The high watermark from the last ListOffsets; asked again once `position` passes it.
    high_watermark: Option<i64>,
    timeout: Duration,
    bootstrap: String,
    /// A record taken from librdkafka but not yet returned: `next` keeps it here while it
    /// refreshes the high watermark, so a `next` future dropped during that wait loses
    /// nothing (the next call returns it).
    pending: Option<ConsumerRecord>,
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
        let consumer: StreamConsumer =
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
        Ok(RdReader {
            consumer,
            topic: topic.to_string(),
            partition,
            position,
            high_watermark: Some(high),
            timeout,
            bootstrap,
            pending: None,
        })
    }

    /// The next record; waits until there is one. Cancel-safe: a record is either still
    /// queued in librdkafka or held in `pending` until a call returns it.
    pub(crate) async fn next(&mut self) -> Result<ConsumerRecord> {
        while self.pending.is_none() {
            match self.consumer.recv().await {
                Ok(m) => {
                    let record = super::consumer::to_record(&m);
                    if record.offset < self.position {
                        continue; // a record before our start, from the batch it sits in
                    }
                    self.position = record.offset + 1;
                    self.pending = Some(record);
                }
                Err(e) => {
                    let ctx = ErrorContext::new(
                        format!("read {}[{}]", self.topic, self.partition),
                        &self.bootstrap,
                    )
                    .topic(&self.topic, Some(self.partition))
                    .offset(self.position);
                    return Err(map(&e, &ctx));
                }
            }
        }
        if self.high_watermark.is_none_or(|h| self.position > h) {
            self.refresh_high_watermark().await;
        }
        Ok(self.pending.take().expect("set by the loop above"))
    }

    /// The offset of the record `next()` returns next.
    pub(crate) fn position(&self) -> i64 {
        self.pending.as_ref().map_or(self.position, |r| r.offset)
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
            Ok(Ok((_, high))) => self.high_watermark = Some(high.max(self.position)),
            // Not worth failing a record over: the next pass asks again.
            _ => self.high_watermark = None,
        }
    }
}
