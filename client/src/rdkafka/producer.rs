//! The producer of the rdkafka backend: our [`ProducerRecord`] goes to librdkafka's
//! `FutureProducer`, and its delivery report comes back as (topic, partition, offset).
//!
//! Where it sits: application → `Producer` → **RdProducer** → librdkafka (partitioner
//! `murmur2_random`, batching by `linger.ms`/`batch.size`, acks, retries) → wire.
//!
//! Invariants:
//! - A record with a repeated header key is refused, as natively (see `record.rs`).
//! - After `close`, `enqueue` fails with [`Error::ProducerClosed`].
//! - librdkafka's blocking calls (metadata, flush) run on the blocking pool, and a flush
//!   sends lingering batches at once (see [`RdProducer::flush`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as RdHeader, OwnedHeaders};
use rdkafka::producer::future_producer::DeliveryFuture as RdDeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use super::error::{map, ErrorContext};
use super::{blocking, check_reachable};
use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::record::{ProducerRecord, RecordMetadata};

/// One round of librdkafka's flush; see [`RdProducer::flush`].
const FLUSH_ROUND: Duration = Duration::from_millis(100);

/// A librdkafka producer.
pub(crate) struct RdProducer {
    producer: Arc<FutureProducer>,
    bootstrap: String,
    max_block: Duration,
    flush_timeout: Duration,
    closed: AtomicBool,
}

impl std::fmt::Debug for RdProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdProducer")
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

/// A record on its way: librdkafka's delivery future plus what is needed to report it.
pub(crate) struct RdDelivery {
    future: RdDeliveryFuture,
    topic: String,
    partition: Option<i32>,
    bootstrap: String,
    producer: Arc<FutureProducer>,
}

impl std::fmt::Debug for RdDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdDelivery")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl RdProducer {
    /// Create the producer and check that a bootstrap server answers, so an unreachable
    /// cluster fails here with [`Error::Connect`] as it does natively.
    pub(crate) async fn new(config: ProducerConfig) -> Result<RdProducer> {
        config.client.validate()?;
        config.idempotent()?;
        let bootstrap = config.client.bootstrap_servers.join(",");
        let producer: FutureProducer =
            super::config::producer(&config)
                .create()
                .map_err(|e| Error::Librdkafka {
                    context: "create the producer".into(),
                    message: e.to_string(),
                })?;
        let producer = Arc::new(producer);
        let p = producer.clone();
        check_reachable(
            move |t| p.client().fetch_metadata(None, t).map(drop),
            &bootstrap,
            config.client.request_timeout,
        )
        .await?;
        Ok(RdProducer {
            producer,
            bootstrap,
            max_block: config.max_block,
            flush_timeout: config.client.request_timeout
                + config.client.retry_backoff * config.client.retries,
            closed: AtomicBool::new(false),
        })
    }

    /// Hand a record to librdkafka; waits (up to `max.block.ms`) while its queue is full.
    pub(crate) async fn enqueue(&self, record: ProducerRecord) -> Result<RdDelivery> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ProducerClosed);
        }
        check_headers(&record)?;
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for h in &record.headers {
            headers = headers.insert(RdHeader {
                key: &h.key,
                value: h.value.as_deref(),
            });
        }
        let started = Instant::now();
        loop {
            let mut rd: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&record.topic).headers(headers.clone());
            if let Some(k) = &record.key {
                rd = rd.key(k.as_ref());
            }
            if let Some(v) = &record.value {
                rd = rd.payload(v.as_ref());
            }
            if let Some(p) = record.partition {
                rd = rd.partition(p);
            }
            if let Some(t) = record.timestamp {
                rd = rd.timestamp(t);
            }
            match self.producer.send_result(rd) {
                Ok(future) => {
                    return Ok(RdDelivery {
                        future,
                        topic: record.topic.clone(),
                        partition: record.partition,
                        bootstrap: self.bootstrap.clone(),
                        producer: self.producer.clone(),
                    })
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if started.elapsed() < self.max_block =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    let what = format!("produce to {}", target(&record.topic, record.partition));
                    let ctx = ErrorContext::new(what, &self.bootstrap)
                        .topic(&record.topic, record.partition)
                        .timeout(self.max_block);
                    return Err(with_partition_count(
                        map(&e, &ctx),
                        &self.producer,
                        &self.bootstrap,
                    )
                    .await);
                }
            }
        }
    }

    /// Send everything queued and wait for each delivery report, for at most the request
    /// timeout plus the retry budget (linger does not count: flush sends at once).
    ///
    /// librdkafka ignores `linger.ms` only while a call to its `rd_kafka_flush` is under
    /// way, and only for broker threads that look while it is. rust-rdkafka's `flush`
    /// calls it with a zero timeout between polls, a window a broker thread almost never
    /// sees, so a long-lingering batch stayed queued. [`flush_round`] calls it with a real
    /// timeout, in short rounds: each round wakes the brokers again (one whose connection
    /// came up meanwhile sends at once too), and a flush whose caller stopped waiting ends
    /// within a round instead of holding a thread of tokio's blocking pool, which the
    /// runtime waits for when it shuts down.
    pub(crate) async fn flush(&self) {
        let producer = self.producer.clone();
        let timeout = self.flush_timeout;
        let abandoned = Arc::new(AtomicBool::new(false));
        let _abandon_on_drop = AbandonOnDrop(abandoned.clone());
        let flushed = blocking(move || {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if flush_round(&producer, left.min(FLUSH_ROUND)) {
                    return true;
                }
                if left.is_zero() || abandoned.load(Ordering::Acquire) {
                    return false;
                }
            }
        })
        .await;
        match flushed {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "flush of the rdkafka producer: records still queued after {timeout:?}"
            ),
            Err(e) => tracing::warn!("flush of the rdkafka producer: {e}"),
        }
    }

    /// Runs one of librdkafka's blocking transaction calls (with `timeout`) on the
    /// blocking pool and maps its error.
    async fn txn_call(
        &self,
        what: &'static str,
        call: impl FnOnce(&FutureProducer, Duration) -> std::result::Result<(), KafkaError>
            + Send
            + 'static,
    ) -> Result<()> {
        let producer = self.producer.clone();
        let timeout = self.flush_timeout.max(Duration::from_secs(30));
        let outcome = blocking(move || call(&producer, timeout)).await?;
        outcome.map_err(|e| {
            let ctx = ErrorContext::new(what, &self.bootstrap).timeout(timeout);
            match &e {
                KafkaError::Transaction(t) if t.txn_requires_abort() => Error::Transaction {
                    reason: format!("{}: abort the transaction", t),
                },
                KafkaError::Transaction(t) if t.is_fatal() => Error::ProducerFailed {
                    reason: t.to_string(),
                },
                _ => map(&e, &ctx),
            }
        })
    }

    pub(crate) async fn init_transactions(&self) -> Result<()> {
        self.txn_call("initialise the transactions", |p, t| p.init_transactions(t))
            .await
    }

    pub(crate) async fn begin_transaction(&self) -> Result<()> {
        self.txn_call("begin a transaction", |p, _| p.begin_transaction())
            .await
    }

    pub(crate) async fn send_offsets_to_transaction(
        &self,
        offsets: &[(String, i32, i64)],
        group: &crate::consumer::ConsumerGroupMetadata,
    ) -> Result<()> {
        let Some(metadata) = group.rdkafka.clone() else {
            return Err(Error::Config {
                key: "backend".into(),
                message: "librdkafka's send_offsets_to_transaction needs the group \
                          metadata of a consumer of the rdkafka backend"
                    .into(),
            });
        };
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (t, p, o) in offsets {
            tpl.add_partition_offset(t, *p, rdkafka::Offset::Offset(*o))
                .map_err(|e| map(&e, &ErrorContext::new("list the offsets", &self.bootstrap)))?;
        }
        self.txn_call("send the offsets to the transaction", move |p, t| {
            p.send_offsets_to_transaction(&tpl, &metadata.0, t)
        })
        .await
    }

    pub(crate) async fn commit_transaction(&self) -> Result<()> {
        self.txn_call("commit the transaction", |p, t| p.commit_transaction(t))
            .await
    }

    pub(crate) async fn abort_transaction(&self) -> Result<()> {
        self.txn_call("abort the transaction", |p, t| p.abort_transaction(t))
            .await
    }

    /// Flush, then refuse further sends.
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.flush().await;
    }
}

/// Sets its flag when dropped: the `flush` future that owned it is no longer awaited.
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// One call to librdkafka's `rd_kafka_flush` for up to `timeout`: while it runs, every
/// broker thread treats `linger.ms` as elapsed. Returns whether nothing is left queued or
/// in flight. Blocks: call it on the blocking pool.
#[allow(unsafe_code)]
fn flush_round(producer: &FutureProducer, timeout: Duration) -> bool {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: FFI, not mmap, and the one call of its kind (see the doc comment of
    // `RdProducer::flush` for why no safe rust-rdkafka call does this). `native_ptr` is
    // the live librdkafka handle owned by `producer`, which we borrow for the whole call,
    // so it cannot be destroyed meanwhile. `rd_kafka_flush` may be called from any thread;
    // with the event API rust-rdkafka uses, it only waits for librdkafka's count of
    // outstanding messages to reach zero, while rust-rdkafka's own polling thread serves
    // the delivery reports.
    let err = unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms) };
    err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
}

impl RdDelivery {
    /// Wait for librdkafka's delivery report.
    pub(crate) async fn wait(self) -> Result<RecordMetadata> {
        let what = |p: Option<i32>| format!("produce to {}", target(&self.topic, p));
        match self.future.await {
            Ok(Ok(d)) => Ok(RecordMetadata {
                topic: self.topic.clone(),
                partition: d.partition,
                // acks=0 has no offset: librdkafka says -1001, we say -1 like natively.
                offset: d.offset.max(-1),
                timestamp: d.timestamp.to_millis().unwrap_or(-1),
            }),
            Ok(Err((e, msg))) => {
                use rdkafka::Message as _;
                let partition = self.partition.or(Some(msg.partition()).filter(|p| *p >= 0));
                let ctx = ErrorContext::new(what(partition), &self.bootstrap)
                    .topic(&self.topic, partition);
                Err(with_partition_count(map(&e, &ctx), &self.producer, &self.bootstrap).await)
            }
            Err(_) => Err(Error::ProducerClosed),
        }
    }
}

fn target(topic: &str, partition: Option<i32>) -> String {
    match partition {
        Some(p) => format!("{topic}[{p}]"),
        None => topic.to_string(),
    }
}

fn check_headers(record: &ProducerRecord) -> Result<()> {
    for (i, h) in record.headers.iter().enumerate() {
        if record.headers[..i].iter().any(|o| o.key == h.key) {
            return Err(Error::InvalidRecord {
                topic: record.topic.clone(),
                message: format!(
                    "header `{}` appears twice; this client sends each header key once",
                    h.key
                ),
            });
        }
    }
    Ok(())
}

/// librdkafka's "unknown partition" does not say how many there are; ask, so the error
/// reads like the native one.
async fn with_partition_count(err: Error, producer: &Arc<FutureProducer>, addr: &str) -> Error {
    let Error::InvalidPartition {
        topic, partition, ..
    } = err
    else {
        return err;
    };
    let producer = producer.clone();
    let t = topic.clone();
    let count = blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&t), Duration::from_secs(5))
            .ok()
            .and_then(|m| m.topics().first().map(|t| t.partitions().len() as i32))
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(-1);
    tracing::debug!("{topic} has {count} partitions according to {addr}");
    Error::InvalidPartition {
        topic,
        partition,
        count,
    }
}
