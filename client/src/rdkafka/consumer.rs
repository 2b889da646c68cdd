//! The group consumer of the rdkafka backend: librdkafka's `StreamConsumer` with a
//! `ConsumerContext` that turns librdkafka's rebalance callbacks into our
//! [`ConsumerEvent::Assigned`] / [`ConsumerEvent::Revoked`].
//!
//! Where it sits: broker → librdkafka (group membership, heartbeats, fetch, auto-commit)
//! → **RdConsumer::recv** → application.
//!
//! Invariants (the same as the native consumer's, see `consumer.rs`):
//! - Rebalance callbacks run inside librdkafka's poll, which `recv` drives, so an event is
//!   queued before any record polled after it; `recv` hands out queued events first, and a
//!   record polled in the same call as an event waits until the event was handed out.
//! - Offsets are stored as records are handed out (`enable.auto.offset.store`), so auto-commit,
//!   the commit librdkafka makes on revoke, and `commit()` cover exactly what the
//!   application received.
//! - `close()` commits (with auto-commit), then closes librdkafka's consumer, which revokes,
//!   sends LeaveGroup and waits for it, so the other members rebalance at once. It is
//!   awaited for at most `request.timeout.ms`, on a thread of its own, so no close can
//!   hold up the tokio runtime.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset as RdOffset, TopicPartitionList};
use tokio::sync::mpsc;

use super::error::{map, ErrorContext};
use super::{blocking, check_reachable};
use crate::config::{ConsumerConfig, OffsetReset};
use crate::consumer::{ConsumerEvent, TopicPartition};
use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, Header};

/// Receives librdkafka's rebalance callbacks and forwards them as events.
pub(crate) struct RebalanceEvents {
    events: mpsc::UnboundedSender<ConsumerEvent>,
    group: String,
    /// `auto.offset.reset=latest`: resolve the end of the log at assignment.
    latest_reset: bool,
    /// Bound for the offset lookups during a rebalance.
    timeout: Duration,
}

impl ClientContext for RebalanceEvents {}

impl ConsumerContext for RebalanceEvents {
    /// librdkafka's default rebalance (assign / unassign, eager or cooperative), with two
    /// additions: the events, and `auto.offset.reset=latest` resolved *before* the
    /// assignment is handed out, so that "latest" means the end of the log when the
    /// application sees [`ConsumerEvent::Assigned`], as natively, not some time later.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if self.latest_reset {
                    self.resolve_latest(consumer, tpl);
                }
                let done = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                let tps = partitions(tpl);
                tracing::info!("group {}: assigned {tps:?}", self.group);
                let _ = self.events.send(ConsumerEvent::Assigned(tps));
                done
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tps = partitions(tpl);
                tracing::info!("group {}: revoked {tps:?}", self.group);
                if !tps.is_empty() {
                    // The receiver is gone only after close; nothing to tell then.
                    let _ = self.events.send(ConsumerEvent::Revoked(tps));
                }
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                tracing::warn!("group {}: rebalance failed: {code}", self.group);
                consumer.unassign()
            }
        };
        if let Err(e) = outcome {
            tracing::warn!("group {}: applying the rebalance failed: {e}", self.group);
        }
    }
}

impl RebalanceEvents {
    /// Give every partition without a committed offset the current end of its log.
    /// One OffsetFetch and a ListOffsets per such partition, bounded by the request timeout.
    fn resolve_latest(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let committed = match consumer.committed_offsets(tpl.clone(), self.timeout) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("group {}: fetching committed offsets: {e}", self.group);
                return;
            }
        };
        for e in committed.elements() {
            if e.offset() != RdOffset::Invalid {
                continue;
            }
            match consumer.fetch_watermarks(e.topic(), e.partition(), self.timeout) {
                Ok((_, high)) => {
                    let _ =
                        tpl.set_partition_offset(e.topic(), e.partition(), RdOffset::Offset(high));
                }
                Err(err) => tracing::warn!(
                    "group {}: end of {}-{}: {err}; librdkafka resolves it",
                    self.group,
                    e.topic(),
                    e.partition()
                ),
            }
        }
    }
}

type Inner = StreamConsumer<RebalanceEvents>;

/// librdkafka's `rd_kafka_consumer_group_metadata_t`, shareable.
#[derive(Clone)]
pub(crate) struct RdGroupMetadata(pub(crate) Arc<rdkafka::consumer::ConsumerGroupMetadata>);

impl std::fmt::Debug for RdGroupMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RdGroupMetadata(..)")
    }
}

/// A librdkafka group consumer.
pub(crate) struct RdConsumer {
    /// `None` after close.
    consumer: Option<Arc<Inner>>,
    events: mpsc::UnboundedReceiver<ConsumerEvent>,
    /// A record polled together with a rebalance event; handed out after the event.
    pending: Option<ConsumerRecord>,
    group: String,
    bootstrap: String,
    auto_commit: bool,
    subscribed: bool,
    /// `allow.auto.create.topics`: subscribing creates missing topics.
    auto_create: bool,
    /// Bound for blocking librdkafka calls.
    timeout: Duration,
    /// How long `close` waits for librdkafka's close (`request.timeout.ms`).
    close_timeout: Duration,
}

impl std::fmt::Debug for RdConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdConsumer")
            .field("group", &self.group)
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl RdConsumer {
    /// Create the consumer and check that the cluster answers.
    pub(crate) async fn new(config: ConsumerConfig) -> Result<RdConsumer> {
        let bootstrap = config.client.bootstrap_servers.join(",");
        let (tx, rx) = mpsc::unbounded_channel();
        let context = RebalanceEvents {
            events: tx,
            group: config.group_id.clone(),
            latest_reset: config.auto_offset_reset == OffsetReset::Latest,
            timeout: config.client.request_timeout.min(Duration::from_secs(10)),
        };
        let consumer: Inner = super::config::consumer(&config)
            .create_with_context(context)
            .map_err(|e| Error::Librdkafka {
                context: "create the consumer".into(),
                message: e.to_string(),
            })?;
        let consumer = Arc::new(consumer);
        let c = consumer.clone();
        check_reachable(
            move |t| c.client().fetch_metadata(None, t).map(drop),
            &bootstrap,
            config.client.request_timeout,
        )
        .await?;
        Ok(RdConsumer {
            consumer: Some(consumer),
            events: rx,
            pending: None,
            group: config.group_id,
            bootstrap,
            auto_commit: config.enable_auto_commit,
            subscribed: false,
            auto_create: config.allow_auto_create_topics,
            timeout: config.client.request_timeout.min(Duration::from_secs(10)),
            close_timeout: config.client.request_timeout,
        })
    }

    fn live(&self) -> Result<&Arc<Inner>> {
        self.consumer.as_ref().ok_or_else(|| Error::ConsumerClosed {
            group: self.group.clone(),
        })
    }

    fn ctx(&self, what: &str) -> ErrorContext<'_> {
        ErrorContext::new(format!("{what} (group {})", self.group), &self.bootstrap)
    }

    /// Subscribe; librdkafka joins the group in the background.
    ///
    /// librdkafka never auto-creates a topic only because it is subscribed to (it asks
    /// for subscribed topics' metadata with auto-creation off); the native and Java
    /// consumers do, with `allow.auto.create.topics=true`. So that both backends behave
    /// alike, the topics are looked up here first, a lookup that may create them.
    pub(crate) async fn subscribe(&mut self, topics: Vec<String>) -> Result<()> {
        let consumer = self.live()?.clone();
        if self.auto_create && !topics.is_empty() {
            let (c, names, timeout) = (consumer.clone(), topics.clone(), self.timeout);
            let looked_up = blocking(move || {
                names
                    .iter()
                    .try_for_each(|t| c.client().fetch_metadata(Some(t), timeout).map(drop))
            })
            .await?;
            if let Err(e) = looked_up {
                tracing::warn!("group {}: looking up {topics:?}: {e}", self.group);
            }
        }
        if topics.is_empty() {
            return Err(Error::Config {
                key: "subscription".into(),
                message: "subscribe to at least one topic".into(),
            });
        }
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| map(&e, &self.ctx("subscribe")))?;
        self.subscribed = true;
        Ok(())
    }

    /// The next record or rebalance event.
    pub(crate) async fn recv(&mut self) -> Result<ConsumerEvent> {
        let consumer = self.live()?.clone();
        if !self.subscribed {
            return Err(Error::Config {
                key: "subscription".into(),
                message: "call subscribe(topics) before recv()".into(),
            });
        }
        if let Ok(event) = self.events.try_recv() {
            return Ok(event);
        }
        if let Some(record) = self.pending.take() {
            return Ok(ConsumerEvent::Record(record));
        }
        loop {
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => return Ok(event),
                message = consumer.recv() => match message {
                    Ok(m) => {
                        let record = to_record(&m);
                        if let Ok(event) = self.events.try_recv() {
                            self.pending = Some(record);
                            return Ok(event);
                        }
                        return Ok(ConsumerEvent::Record(record));
                    }
                    Err(e) if transient(&e) => {
                        tracing::warn!("group {}: {e}; librdkafka retries", self.group);
                    }
                    Err(e) => return Err(map(&e, &self.ctx("consume"))),
                },
            }
        }
    }

    /// Commit the stored positions (every record handed out) and wait for the answer.
    pub(crate) async fn commit(&self) -> Result<()> {
        let consumer = self.live()?.clone();
        let result = blocking(move || commit_sync(&consumer)).await?;
        result.map_err(|e| map(&e, &self.ctx("commit")))
    }

    /// The partitions this member owns now.
    pub(crate) fn assignment(&self) -> Vec<TopicPartition> {
        self.consumer
            .as_ref()
            .and_then(|c| c.assignment().ok())
            .map(|tpl| partitions(&tpl))
            .unwrap_or_default()
    }

    /// Unknown here: the `rdkafka` crate exposes no member id, and reading librdkafka's
    /// (`rd_kafka_memberid`) would take an FFI call of our own.
    pub(crate) fn member_id(&self) -> Option<String> {
        None
    }

    /// librdkafka's group metadata (its own handle, which its transactional producer
    /// takes), with the group id; generation and member id stay librdkafka's.
    pub(crate) fn group_metadata(&self) -> crate::consumer::ConsumerGroupMetadata {
        let rd = self
            .consumer
            .as_ref()
            .and_then(|c| rdkafka::consumer::Consumer::group_metadata(c.as_ref()));
        crate::consumer::ConsumerGroupMetadata {
            rdkafka: rd.map(|m| RdGroupMetadata(Arc::new(m))),
            ..crate::consumer::ConsumerGroupMetadata::for_group(self.group.clone())
        }
    }

    /// Commit (with auto-commit), then close librdkafka's consumer: revoke, LeaveGroup.
    ///
    /// librdkafka's close has no time limit of its own (it waits for the coordinator's
    /// answers), so it runs on a thread of its own and is awaited for at most the request
    /// timeout, like the Java consumer's `close()`. Past that, [`Error::Timeout`] is
    /// returned and the close finishes in the background; the tokio runtime never waits
    /// for it, so a cluster that went away cannot hang the application's shutdown.
    pub(crate) async fn close(&mut self) -> Result<()> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        let auto_commit = self.auto_commit;
        let (tx, rx) = tokio::sync::oneshot::channel();
        close_in_background(consumer, move |consumer| {
            let result = if auto_commit {
                commit_sync(consumer)
            } else {
                Ok(())
            };
            let _ = tx.send(result);
        });
        match tokio::time::timeout(self.close_timeout, rx).await {
            Ok(Ok(result)) => result.map_err(|e| map(&e, &self.ctx("commit on close"))),
            Ok(Err(_)) => Err(Error::Librdkafka {
                context: format!("close the consumer (group {})", self.group),
                message: "the closing thread ended without an answer".into(),
            }),
            Err(_) => Err(Error::Timeout {
                what: format!(
                    "closing the consumer of group {} (commit, LeaveGroup)",
                    self.group
                ),
                after: self.close_timeout,
            }),
        }
    }
}

impl Drop for RdConsumer {
    fn drop(&mut self) {
        // Closing blocks until LeaveGroup is answered: keep it off the async workers.
        if let Some(consumer) = self.consumer.take() {
            close_in_background(consumer, |_| {});
        }
    }
}

/// Run `first` (the final commit), then drop the last handle, which runs
/// rd_kafka_consumer_close: the revoke callback, librdkafka's final auto-commit and
/// LeaveGroup, waiting until they are done. A plain thread rather than tokio's blocking
/// pool: a runtime waits for its blocking tasks when it shuts down, and this close may
/// wait for a coordinator that is gone.
fn close_in_background(consumer: Arc<Inner>, first: impl FnOnce(&Inner) + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("minikafka-rdkafka-close".into())
        .spawn(move || {
            first(&consumer);
            drop(consumer);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a thread to close the librdkafka consumer: {e}");
    }
}

fn commit_sync(consumer: &Inner) -> std::result::Result<(), KafkaError> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing handed out since the last commit: nothing to do.
        Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => Ok(()),
        other => other,
    }
}

/// Errors librdkafka recovers from by itself (it reconnects and refetches), or that only
/// inform: a subscribed topic that does not exist yet is picked up once it is created.
fn transient(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::PartitionEOF
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
        )
    )
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    let mut tps: Vec<TopicPartition> = tpl
        .elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect();
    tps.sort();
    tps
}

/// A librdkafka message as our record.
pub(crate) fn to_record(m: &BorrowedMessage<'_>) -> ConsumerRecord {
    ConsumerRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        key: m.key().map(Bytes::copy_from_slice),
        value: m.payload().map(Bytes::copy_from_slice),
        headers: m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| Header {
                        key: h.key.to_string(),
                        value: h.value.map(Bytes::copy_from_slice),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
