//! The public producer: one type whatever the backend. It forwards to the backend chosen in
//! [`crate::ProducerConfig`]: `Inner` has one variant per backend, native (pure Rust) and
//! rdkafka (librdkafka, behind the `rdkafka` feature).
//!
//! Where it sits: application → **Producer** → partitioner → accumulator → wire.
//!
//! What must stay true:
//! - The backend is chosen once, in `new` (refused there if this build lacks it); every
//!   method then forwards to it and means the same on both.
//! - A [`DeliveryFuture`] resolves once, to the record's metadata or its error; a report
//!   the native sender dropped becomes [`Error::ProducerClosed`], never a hang or panic.
//! - After `close`, both backends refuse new records with [`Error::ProducerClosed`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::config::ProducerConfig;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::native::producer::{Delivery, NativeProducer};
use crate::record::{ProducerRecord, RecordMetadata};

/// Sends records to Kafka (or minikafka), batching them per partition.
///
/// ```no_run
/// # async fn demo() -> minikafka_client::Result<()> {
/// use minikafka_client::{Producer, ProducerConfig, ProducerRecord};
/// let producer = Producer::new(ProducerConfig::new("localhost:9092")).await?;
/// let meta = producer
///     .send(ProducerRecord::new("demo-topic").key("user_1").value("hello").header("source", "doc"))
///     .await?;
/// println!("{} [{}] @ {}", meta.topic, meta.partition, meta.offset);
/// producer.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Producer {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Native(NativeProducer),
    #[cfg(feature = "rdkafka")]
    Rdkafka(crate::rdkafka::producer::RdProducer),
}

impl Producer {
    /// Connect to a bootstrap server and start the background sender.
    ///
    /// Fails at once with [`Error::Connect`] when no bootstrap server answers.
    pub async fn new(config: ProducerConfig) -> Result<Producer> {
        crate::require_backend(config.client.backend)?;
        let inner = match config.client.backend {
            #[cfg(feature = "rdkafka")]
            crate::Backend::Rdkafka => {
                Inner::Rdkafka(crate::rdkafka::producer::RdProducer::new(config).await?)
            }
            _ => Inner::Native(NativeProducer::new(config).await?),
        };
        Ok(Producer { inner })
    }

    /// Send `(topic, key, value, headers)` and wait until the broker stored it.
    ///
    /// Awaiting each `send` in turn sends one record per request; to let `linger`/`batch_size`
    /// batch records, use [`Producer::enqueue`] for many records and await the futures after.
    pub async fn send(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.enqueue(record).await?.await
    }

    /// Partition and queue a record; the returned future resolves to its delivery report.
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        match &self.inner {
            Inner::Native(p) => Ok(DeliveryFuture {
                inner: DeliveryInner::Native(p.enqueue(record).await?),
            }),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => {
                let delivery = p.enqueue(record).await?;
                Ok(DeliveryFuture {
                    inner: DeliveryInner::Rdkafka(Box::pin(delivery.wait())),
                })
            }
        }
    }

    /// `init_transactions` (with `transactional.id`): the producer id and epoch of the
    /// id from its transaction coordinator. A transaction an older instance with the same
    /// id left open is aborted, and that instance is fenced: its sends and commits fail.
    /// Call it once, before the first transaction.
    pub async fn init_transactions(&self) -> Result<()> {
        match &self.inner {
            Inner::Native(p) => p.init_transactions().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.init_transactions().await,
        }
    }

    /// Opens a transaction: every record sent until [`commit_transaction`](Self::commit_transaction)
    /// or [`abort_transaction`](Self::abort_transaction) belongs to it, and
    /// `read_committed` consumers see them all, or none.
    pub async fn begin_transaction(&self) -> Result<()> {
        match &self.inner {
            Inner::Native(p) => p.begin_transaction(),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.begin_transaction().await,
        }
    }

    /// Commits a consumer group's positions with the open transaction (Kafka's
    /// `sendOffsetsToTransaction`): `offsets` are (topic, partition, offset of the next
    /// record to read). They become the group's committed offsets only if the
    /// transaction commits: consume, transform, produce, exactly once.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(String, i32, i64)],
        group: &crate::consumer::ConsumerGroupMetadata,
    ) -> Result<()> {
        match &self.inner {
            Inner::Native(p) => p.send_offsets_to_transaction(offsets, group).await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.send_offsets_to_transaction(offsets, group).await,
        }
    }

    /// Delivers every record of the open transaction, then commits it. If one of its
    /// records failed, the transaction can only be aborted
    /// ([`crate::Error::Transaction`]).
    pub async fn commit_transaction(&self) -> Result<()> {
        match &self.inner {
            Inner::Native(p) => p.commit_transaction().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.commit_transaction().await,
        }
    }

    /// Aborts the open transaction: `read_committed` consumers never see its records,
    /// and its offsets are not committed.
    pub async fn abort_transaction(&self) -> Result<()> {
        match &self.inner {
            Inner::Native(p) => p.abort_transaction().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.abort_transaction().await,
        }
    }

    /// Send everything queued now and wait until each record is delivered or failed.
    pub async fn flush(&self) {
        match &self.inner {
            Inner::Native(p) => p.flush().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.flush().await,
        }
    }

    /// Flush and stop. Later sends fail with [`Error::ProducerClosed`].
    pub async fn close(&self) {
        match &self.inner {
            Inner::Native(p) => p.close().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(p) => p.close().await,
        }
    }
}

/// The delivery report of one record: `(topic, partition, offset)` or why it failed.
#[derive(Debug)]
#[must_use = "the record's delivery is only known by awaiting this"]
pub struct DeliveryFuture {
    inner: DeliveryInner,
}

#[cfg_attr(not(feature = "rdkafka"), derive(Debug))]
enum DeliveryInner {
    Native(Delivery),
    #[cfg(feature = "rdkafka")]
    Rdkafka(Pin<Box<dyn Future<Output = Result<RecordMetadata>> + Send + Sync>>),
}

#[cfg(feature = "rdkafka")]
impl std::fmt::Debug for DeliveryInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryInner::Native(rx) => f.debug_tuple("Native").field(rx).finish(),
            DeliveryInner::Rdkafka(_) => f.write_str("Rdkafka(..)"),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            DeliveryInner::Native(d) => Pin::new(d).poll(cx),
            #[cfg(feature = "rdkafka")]
            DeliveryInner::Rdkafka(f) => f.as_mut().poll(cx),
        }
    }
}
