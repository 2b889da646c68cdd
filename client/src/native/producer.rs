//! The native producer: `send` partitions a record and puts it in the accumulator; one
//! background sender task per producer turns ready batches into ProduceRequests (one per
//! leader per round), handles the answers, retries what is retriable and reports each
//! record's offset.
//!
//! Where it sits: application → **producer** → partitioner → accumulator → connection → broker.
//!
//! Invariants:
//! - Requests leave in the order their batches were drained (the sender task writes each
//!   one before it awaits anything), at most `max.in.flight.requests.per.connection` per
//!   broker unanswered. Order within a partition is kept, except that with more than one
//!   request in flight a retried batch can land after a later batch of its partition, as
//!   in Kafka without idempotence; with 1 in flight, retries keep the order too.
//! - Every record's delivery future resolves exactly once: with its `(topic, partition,
//!   offset)`, or with the error that stopped it after `retries` attempts.
//! - With acks=0 the broker sends no response; the batch is done once written, offset -1.
//! - `close()` sends everything still queued, then stops the sender task; `send` after that
//!   fails with [`Error::ProducerClosed`].
//! - At most `buffer.memory` bytes of records wait or fly at once; `send` waits for room (up to
//!   `max.block.ms`), and while it waits batches go out without lingering, so it cannot stall.
//! - With `enable.idempotence` (Kafka's default; `idempotence.rs`) every batch carries the
//!   producer id, epoch and a per-partition sequence, kept through retries: the broker
//!   answers a retry of a batch it already stored with the original offsets, so each
//!   record is stored once, and in order, with up to 5 requests in flight. A batch that
//!   failed for good makes the producer bump its epoch (once nothing is in flight)
//!   before it sends more; a fenced producer, or one whose sequence the broker lost,
//!   stops, failing what is left with [`Error::ProducerFailed`].
//! - Without it, delivery is at least once: if an attempt timed out after the broker had
//!   in fact stored the batch, the retry stores it a second time.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use futures::future::join_all;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::ProduceRequest;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Acks, ProducerConfig};
use crate::error::{Error, Result};
use crate::native::accumulator::{Accumulator, Append, BatchOutcome, ProducerBatch};
use crate::native::batch::ProducerIds;
use crate::native::connection::Connection;
use crate::native::idempotence::{Idempotence, OnFailure};
use crate::native::metadata::{topic_name, Cluster};
use crate::native::transaction::{Transactions, TxnStage};
use crate::partitioner::{partition_for_key, KeylessPartitioner};
use crate::record::{ProducerRecord, RecordMetadata};

/// The pure-Rust producer behind [`crate::Producer`].
#[derive(Debug)]
pub(crate) struct NativeProducer {
    shared: Arc<Shared>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    config: ProducerConfig,
    cluster: Arc<Cluster>,
    /// std Mutex: only pushed to and drained from, never held across `.await`.
    acc: Mutex<Accumulator>,
    keyless: Mutex<KeylessPartitioner>,
    /// Wakes the sender task: a record was appended, a batch finished, flush or close.
    wake: Notify,
    /// Wakes `flush()` waiters when a batch finishes.
    progress: Notify,
    /// Number of `flush()` calls waiting; while > 0, batches go out without lingering.
    flushing: Mutex<usize>,
    /// `buffer.memory` as permits of one byte each; taken per record and forgotten, given
    /// back per batch when it is settled.
    memory: Semaphore,
    /// Senders waiting for memory; while > 0, batches go out without lingering.
    waiting_for_memory: AtomicUsize,
    /// Produce requests awaiting an answer, per broker address.
    in_flight: Mutex<HashMap<String, usize>>,
    closed: AtomicBool,
    /// The producer id and sequences, with `enable.idempotence`.
    idempotence: Option<Mutex<Idempotence>>,
    /// With `transactional.id`: the transaction coordinator's side (`transaction.rs`).
    txn: Option<Transactions>,
}

impl NativeProducer {
    /// Connect to a bootstrap server and start the sender task.
    pub(crate) async fn new(config: ProducerConfig) -> Result<NativeProducer> {
        let cluster = Cluster::new(config.client.clone())?;
        cluster.bootstrap().await?;
        let txn = config.transactional_id.clone().map(|id| {
            let timeout = i32::try_from(config.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
            Transactions::new(id, timeout, config.client.clone())
        });
        let idempotence = match (config.idempotent()?, config.idempotence) {
            (false, _) => None,
            // Its producer id comes from init_transactions.
            (true, _) if txn.is_some() => Some(Mutex::new(Idempotence::with_ids(-1, -1))),
            (true, explicit) => match Idempotence::init(&cluster).await {
                Ok(i) => Some(Mutex::new(i)),
                // On by default only: a broker without InitProducerId gets a plain
                // producer, as Kafka's does.
                Err(Error::UnsupportedVersion { .. }) if explicit.is_none() => {
                    tracing::debug!("the broker has no InitProducerId: not idempotent");
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let memory = config.buffer_memory.min(Semaphore::MAX_PERMITS);
        let shared = Arc::new(Shared {
            acc: Mutex::new(Accumulator::new(config.batch_size, config.linger)),
            keyless: Mutex::new(KeylessPartitioner::new(config.keyless)),
            config,
            cluster,
            wake: Notify::new(),
            progress: Notify::new(),
            flushing: Mutex::new(0),
            memory: Semaphore::new(memory),
            waiting_for_memory: AtomicUsize::new(0),
            in_flight: Mutex::default(),
            closed: AtomicBool::new(false),
            idempotence,
            txn,
        });
        let sender = tokio::spawn(sender_loop(shared.clone()));
        Ok(NativeProducer {
            shared,
            sender: Mutex::new(Some(sender)),
        })
    }

    /// Partition the record and append it to its batch; the future gets its delivery report.
    pub(crate) async fn enqueue(&self, record: ProducerRecord) -> Result<Delivery> {
        let s = &self.shared;
        if s.closed.load(Ordering::SeqCst) {
            return Err(Error::ProducerClosed);
        }
        if let Some(reason) = s.fatal() {
            return Err(Error::ProducerFailed { reason });
        }
        if let Some(txn) = &s.txn {
            match txn.stage() {
                TxnStage::Open(_) => {}
                TxnStage::Abortable(reason) => {
                    return Err(Error::Transaction {
                        reason: format!("{reason}: abort the transaction"),
                    })
                }
                TxnStage::Fatal(reason) => return Err(Error::ProducerFailed { reason }),
                TxnStage::Uninitialized | TxnStage::Ready => {
                    return Err(Error::Transaction {
                        reason: "a transactional producer sends inside a transaction: call \
                                 init_transactions once, then begin_transaction"
                            .into(),
                    })
                }
            }
        }
        check_headers(&record)?;
        let now = Instant::now();
        let count = s
            .cluster
            .partition_count(
                &record.topic,
                s.config.allow_auto_create_topics,
                now.into_std(),
            )
            .await? as i32;
        let size = record.estimated_size();
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if (0..count).contains(&p) => p,
            (Some(p), _) => {
                return Err(Error::InvalidPartition {
                    topic: record.topic,
                    partition: p,
                    count,
                })
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => lock(&s.keyless).next(&record.topic, count, size, s.config.batch_size),
        };
        let memory = self.reserve_memory(&record.topic, size).await?;
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let append = Append {
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
            timestamp,
            size,
            memory,
        };
        let appended = {
            // `closed` is checked again under the accumulator lock, which `close()` also
            // takes to set it: a record is either appended before the sender task sees
            // "closed and empty", or refused; it is never left behind after the task exits.
            let mut acc = lock(&s.acc);
            if s.closed.load(Ordering::SeqCst) {
                s.memory.add_permits(memory);
                return Err(Error::ProducerClosed);
            }
            acc.append(&record.topic, partition, append, now)
        };
        if appended.wake {
            s.wake.notify_one();
        }
        Ok(Delivery {
            outcome: appended.outcome,
            index: appended.index,
            topic: record.topic,
            partition,
            timestamp,
        })
    }

    /// Take `size` bytes of `buffer.memory`, waiting (up to `max.block.ms`) while the buffer
    /// is full; returns the bytes taken, which the record's batch gives back when settled.
    /// While anyone waits, the sender sends without lingering, as Kafka's does.
    async fn reserve_memory(&self, topic: &str, size: usize) -> Result<usize> {
        let s = &self.shared;
        let too_large = || Error::InvalidRecord {
            topic: topic.to_string(),
            message: format!(
                "the record needs {size} bytes but buffer.memory is {} bytes",
                s.config.buffer_memory
            ),
        };
        let n = u32::try_from(size).map_err(|_| too_large())?;
        if size > s.config.buffer_memory {
            return Err(too_large());
        }
        if let Ok(p) = s.memory.try_acquire_many(n) {
            p.forget();
            return Ok(size);
        }
        s.waiting_for_memory.fetch_add(1, Ordering::SeqCst);
        s.wake.notify_one();
        let acquired = tokio::time::timeout(s.config.max_block, s.memory.acquire_many(n)).await;
        s.waiting_for_memory.fetch_sub(1, Ordering::SeqCst);
        match acquired {
            Ok(Ok(p)) => {
                p.forget();
                Ok(size)
            }
            Ok(Err(_)) => Err(Error::ProducerClosed),
            Err(_) => Err(Error::Timeout {
                what: format!("waiting for buffer.memory to send to `{topic}`"),
                after: s.config.max_block,
            }),
        }
    }

    /// Send everything queued now and wait until it is delivered or failed.
    pub(crate) async fn flush(&self) {
        let s = &self.shared;
        *lock(&s.flushing) += 1;
        s.wake.notify_one();
        loop {
            let progressed = s.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            if lock(&s.acc).is_empty() {
                break;
            }
            progressed.await;
        }
        *lock(&s.flushing) -= 1;
    }

    /// `init_transactions`: the transactional id's producer id and epoch from its
    /// coordinator (which fences an older instance with the same id).
    pub(crate) async fn init_transactions(&self) -> Result<()> {
        let s = &self.shared;
        let (txn, idem) = s.transactional()?;
        if txn.stage() != TxnStage::Uninitialized {
            return Err(Error::Transaction {
                reason: "init_transactions was already called".into(),
            });
        }
        let (pid, epoch) = txn.init_producer_id(&s.cluster, None).await?;
        lock(idem).bumped(pid, epoch);
        txn.set_stage(TxnStage::Ready);
        Ok(())
    }

    /// `begin_transaction`: the records sent from now on belong to a new transaction.
    pub(crate) fn begin_transaction(&self) -> Result<()> {
        let (txn, _) = self.shared.transactional()?;
        match txn.stage() {
            TxnStage::Ready => {
                txn.set_stage(TxnStage::Open(Default::default()));
                Ok(())
            }
            TxnStage::Uninitialized => Err(Error::Transaction {
                reason: "call init_transactions first".into(),
            }),
            TxnStage::Fatal(reason) => Err(Error::ProducerFailed { reason }),
            _ => Err(Error::Transaction {
                reason: "a transaction is already open: commit or abort it first".into(),
            }),
        }
    }

    /// `send_offsets_to_transaction`: the consumer's positions (the offset of the next
    /// record to read, per partition) commit with the transaction.
    pub(crate) async fn send_offsets_to_transaction(
        &self,
        offsets: &[(String, i32, i64)],
        group: &crate::consumer::ConsumerGroupMetadata,
    ) -> Result<()> {
        let s = &self.shared;
        let (txn, idem) = s.transactional()?;
        s.open_transaction(txn)?;
        let ids = {
            let i = lock(idem);
            (i.producer_id, i.epoch)
        };
        txn.send_offsets(&s.cluster, ids, offsets, group).await
    }

    /// `commit_transaction`: every record sent is delivered first, then EndTxn(commit).
    /// A transaction one of whose batches failed cannot commit: abort it.
    pub(crate) async fn commit_transaction(&self) -> Result<()> {
        self.end_transaction(true).await
    }

    /// `abort_transaction`: what was sent is delivered or failed, then EndTxn(abort);
    /// after a failed batch, the epoch is bumped so the sequences start again.
    pub(crate) async fn abort_transaction(&self) -> Result<()> {
        self.end_transaction(false).await
    }

    async fn end_transaction(&self, commit: bool) -> Result<()> {
        let s = &self.shared;
        let (txn, idem) = s.transactional()?;
        let abortable = match txn.stage() {
            TxnStage::Open(_) => None,
            TxnStage::Abortable(reason) if !commit => Some(reason),
            TxnStage::Abortable(reason) => {
                return Err(Error::Transaction {
                    reason: format!("{reason}: the transaction can only be aborted"),
                })
            }
            TxnStage::Fatal(reason) => return Err(Error::ProducerFailed { reason }),
            _ => {
                return Err(Error::Transaction {
                    reason: "no transaction is open (begin_transaction)".into(),
                })
            }
        };
        self.flush().await;
        if let (true, TxnStage::Abortable(reason)) = (commit, txn.stage()) {
            return Err(Error::Transaction {
                reason: format!("{reason}: the transaction can only be aborted"),
            });
        }
        let ids = {
            let i = lock(idem);
            (i.producer_id, i.epoch)
        };
        let partitions = match txn.stage() {
            TxnStage::Open(p) => p,
            _ => Default::default(),
        };
        // A transaction that wrote nothing and sent no offsets has nothing to end at the
        // coordinator (as librdkafka: no EndTxn).
        if !partitions.is_empty() || txn.offsets_sent() || abortable.is_some() {
            if let Err(e) = txn.end(&s.cluster, ids, commit).await {
                s.txn_failed(&e);
                return Err(e);
            }
        }
        if abortable.is_some() || lock(idem).needs_bump {
            // Sequences are uncertain after a failed batch: the next epoch restarts them.
            let (pid, epoch) = txn.init_producer_id(&s.cluster, Some(ids)).await?;
            lock(idem).bumped(pid, epoch);
        }
        txn.set_stage(TxnStage::Ready);
        Ok(())
    }

    /// Flush, then stop the sender task. Idempotent.
    pub(crate) async fn close(&self) {
        {
            let _acc = lock(&self.shared.acc);
            self.shared.closed.store(true, Ordering::SeqCst);
        }
        // Senders still waiting for buffer space fail with ProducerClosed.
        self.shared.memory.close();
        self.shared.wake.notify_one();
        let handle = lock(&self.sender).take();
        if let Some(h) = handle {
            if let Err(e) = h.await {
                tracing::error!(error = %e, "producer sender task failed");
            }
        }
    }
}

impl Drop for NativeProducer {
    fn drop(&mut self) {
        // The sender task sends what is queued, then exits on its own.
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
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

/// The sender task: drain ready batches, send them, sleep until the next linger deadline or
/// until woken. Exits after `close` once nothing is queued or in flight.
async fn sender_loop(s: Arc<Shared>) {
    loop {
        if !s.settle_idempotence().await {
            // Waiting for the requests in flight before an epoch bump.
            s.wake.notified().await;
            continue;
        }
        let flushing = *lock(&s.flushing) > 0 || s.waiting_for_memory.load(Ordering::SeqCst) > 0;
        let (ready, deadline, empty, closed) = {
            let mut acc = lock(&s.acc);
            let closed = s.closed.load(Ordering::SeqCst);
            let (ready, deadline) = acc.drain_ready(Instant::now(), closed || flushing);
            (ready, deadline, acc.is_empty(), closed)
        };
        if closed && empty {
            s.progress.notify_waiters();
            return;
        }
        // A round that sent something may have left more ready (one batch per partition
        // per round): look again at once. Otherwise wait for an answer, a record or a deadline.
        if !ready.is_empty() && dispatch(&s, ready).await {
            continue;
        }
        let wake = s.wake.notified();
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = wake => {}
                    _ = tokio::time::sleep_until(d) => {}
                }
            }
            None => wake.await,
        }
    }
}

/// Send one round of ready batches: one ProduceRequest per leader, holding every batch that
/// leader owns (as Kafka's sender does). Each request is written here, so requests leave in
/// the order their batches were drained; its answer is awaited and settled in a task of its
/// own. A leader already at `max.in.flight.requests.per.connection` gets nothing this round:
/// its batches go back to the front of their queues. Returns whether a request was sent.
async fn dispatch(s: &Arc<Shared>, batches: Vec<ProducerBatch>) -> bool {
    // A transaction's partitions are added to it before their first batch goes out.
    let batches = match add_to_transaction(s, batches).await {
        Ok(b) => b,
        Err(failed) => {
            tokio::spawn(settle_all(s.clone(), failed));
            return false;
        }
    };
    let mut by_leader: HashMap<String, (Arc<Connection>, Vec<ProducerBatch>)> = HashMap::new();
    let mut failed = Vec::new();
    for batch in batches {
        let (topic, partition) = &batch.tp;
        match s
            .cluster
            .leader_connection(topic, *partition, s.config.allow_auto_create_topics)
            .await
        {
            Ok(conn) => {
                by_leader
                    .entry(conn.addr().to_string())
                    .or_insert_with(|| (conn, Vec::new()))
                    .1
                    .push(batch);
            }
            Err(e) => failed.push((batch, Err(e))),
        }
    }
    if !failed.is_empty() {
        tokio::spawn(settle_all(s.clone(), failed));
    }
    let mut sent = false;
    for (addr, (conn, batches)) in by_leader {
        if !s.take_request_slot(&addr) {
            let mut acc = lock(&s.acc);
            batches.into_iter().for_each(|b| acc.unsend(b));
            continue;
        }
        sent = true;
        let answer = produce(s, &conn, batches);
        let s = s.clone();
        tokio::spawn(async move {
            let results = answer.await;
            s.release_request_slot(&addr);
            settle_all(s, results).await;
        });
    }
    sent
}

/// For a transactional producer: AddPartitionsToTxn for the partitions of `batches` not
/// yet in the open transaction. On a refusal, every batch fails with it (`Err`), and
/// the transaction can only be aborted (or the producer is fenced).
async fn add_to_transaction(
    s: &Arc<Shared>,
    batches: Vec<ProducerBatch>,
) -> std::result::Result<Vec<ProducerBatch>, Vec<(ProducerBatch, Result<i64>)>> {
    let (Some(txn), Some(idem)) = (&s.txn, &s.idempotence) else {
        return Ok(batches);
    };
    let fail = |batches: Vec<ProducerBatch>, e: Error| {
        batches
            .into_iter()
            .map(|b| (b, Err(e.clone())))
            .collect::<Vec<_>>()
    };
    let added = match txn.stage() {
        TxnStage::Open(added) => added,
        _ => {
            let e = s.txn_stopped().unwrap_or_else(|| Error::Transaction {
                reason: "no transaction is open".into(),
            });
            return Err(fail(batches, e));
        }
    };
    let mut new: Vec<crate::native::accumulator::TopicPartition> = batches
        .iter()
        .map(|b| b.tp.clone())
        .filter(|tp| !added.contains(tp))
        .collect();
    new.sort();
    new.dedup();
    if new.is_empty() {
        return Ok(batches);
    }
    let ids = {
        let i = lock(idem);
        (i.producer_id, i.epoch)
    };
    match txn.add_partitions(&s.cluster, ids, &new).await {
        Ok(()) => {
            txn.add_to_open(&new);
            Ok(batches)
        }
        Err(e) => {
            s.txn_failed(&e);
            Err(fail(batches, e))
        }
    }
}

/// Settle each batch with its answer, then wake the sender and `flush()` waiters.
async fn settle_all(s: Arc<Shared>, results: Vec<(ProducerBatch, Result<i64>)>) {
    join_all(
        results
            .into_iter()
            .map(|(batch, result)| settle(&s, batch, result)),
    )
    .await;
    s.progress.notify_waiters();
    s.wake.notify_one();
}

impl Shared {
    /// The transaction side and the ids, or the error of a producer without
    /// `transactional.id`.
    fn transactional(&self) -> Result<(&Transactions, &Mutex<Idempotence>)> {
        match (&self.txn, &self.idempotence) {
            (Some(t), Some(i)) => Ok((t, i)),
            _ => Err(Error::Transaction {
                reason: "this producer has no transactional.id".into(),
            }),
        }
    }

    /// Ok when a transaction is open.
    fn open_transaction(&self, txn: &Transactions) -> Result<()> {
        match txn.stage() {
            TxnStage::Open(_) => Ok(()),
            TxnStage::Abortable(reason) => Err(Error::Transaction {
                reason: format!("{reason}: abort the transaction"),
            }),
            TxnStage::Fatal(reason) => Err(Error::ProducerFailed { reason }),
            _ => Err(Error::Transaction {
                reason: "no transaction is open (begin_transaction)".into(),
            }),
        }
    }

    /// A transaction request or batch failed with `e`: fenced → the producer stops;
    /// otherwise the transaction can only be aborted.
    fn txn_failed(&self, e: &Error) {
        let Some(txn) = &self.txn else { return };
        let fenced = matches!(
            e,
            Error::Kafka {
                code: crate::error::KafkaCode::ProducerFenced
                    | crate::error::KafkaCode::InvalidProducerEpoch
                    | crate::error::KafkaCode::TransactionalIdAuthorizationFailed,
                ..
            } | Error::ProducerFailed { .. }
        );
        match txn.stage() {
            TxnStage::Fatal(_) => {}
            _ if fenced => txn.set_stage(TxnStage::Fatal(e.to_string())),
            TxnStage::Open(_) => txn.set_stage(TxnStage::Abortable(e.to_string())),
            _ => {}
        }
    }

    /// The transaction's stage stops batches: the reason, if it does.
    fn txn_stopped(&self) -> Option<Error> {
        match self.txn.as_ref()?.stage() {
            TxnStage::Abortable(reason) => Some(Error::Transaction {
                reason: format!("{reason}: abort the transaction"),
            }),
            TxnStage::Fatal(reason) => Some(Error::ProducerFailed { reason }),
            _ => None,
        }
    }

    /// Why the idempotent producer stopped, once it has.
    fn fatal(&self) -> Option<String> {
        self.idempotence
            .as_ref()
            .and_then(|i| lock(i).fatal.clone())
    }

    /// Before a round with an idempotent producer: once it stopped, fails everything
    /// queued; when a failed batch asks for an epoch bump, waits for the requests in
    /// flight (returns false meanwhile), then bumps and gives the batches waiting for a
    /// retry new sequences. True when the round may go on.
    async fn settle_idempotence(self: &Arc<Self>) -> bool {
        let Some(idem) = &self.idempotence else {
            return true;
        };
        // A transaction that can only be aborted: what is queued fails with it.
        if let Some(stopped) = self.txn_stopped() {
            let doomed = lock(&self.acc).drain_all();
            if !doomed.is_empty() {
                let failed = doomed
                    .into_iter()
                    .map(|b| (b, Err(stopped.clone())))
                    .collect();
                settle_all(self.clone(), failed).await;
            }
            return true;
        }
        if let Some(reason) = self.fatal() {
            let doomed = lock(&self.acc).drain_all();
            if !doomed.is_empty() {
                let failed = doomed
                    .into_iter()
                    .map(|b| {
                        (
                            b,
                            Err(Error::ProducerFailed {
                                reason: reason.clone(),
                            }),
                        )
                    })
                    .collect();
                settle_all(self.clone(), failed).await;
            }
            return true;
        }
        if !lock(idem).needs_bump {
            return true;
        }
        // Every batch sent with the old epoch must be settled first, those waiting out
        // a retry backoff included (they get new sequences with the others).
        if lock(&self.acc).in_flight() > 0 {
            return false;
        }
        let current = {
            let i = lock(idem);
            (i.producer_id, i.epoch)
        };
        match crate::native::idempotence::init_producer_id(&self.cluster, Some(current)).await {
            Ok((id, epoch)) => {
                let mut i = lock(idem);
                i.bumped(id, epoch);
                lock(&self.acc).resequence(|tp, count| ProducerIds {
                    producer_id: id,
                    epoch,
                    base_sequence: i.assign(tp, count),
                    transactional: false,
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "the epoch bump failed; trying again");
                tokio::time::sleep(self.config.client.retry_backoff).await;
            }
        }
        true
    }

    /// Count one more request in flight to `addr`, if it has room.
    fn take_request_slot(&self, addr: &str) -> bool {
        let mut in_flight = lock(&self.in_flight);
        let n = in_flight.entry(addr.to_string()).or_default();
        if *n >= self.config.max_in_flight.max(1) {
            return false;
        }
        *n += 1;
        true
    }

    fn release_request_slot(&self, addr: &str) {
        if let Some(n) = lock(&self.in_flight).get_mut(addr) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Settle one batch with its answer: deliver its records, put it back for a retry (after the
/// backoff, keeping its partition in flight), or fail its records.
async fn settle(s: &Shared, mut batch: ProducerBatch, mut result: Result<i64>) {
    let (topic, partition) = batch.tp.clone();
    let retries = s.config.client.retries;
    // A transaction that can only be aborted (or a fenced producer) retries nothing.
    if let (Err(_), Some(stopped)) = (&result, s.txn_stopped()) {
        result = Err(stopped);
        batch.settle(result);
        s.memory.add_permits(batch.memory);
        lock(&s.acc).complete(&batch.tp);
        return;
    }
    let decision = match (&result, &s.idempotence, batch.sequence) {
        (Ok(_), Some(idem), Some(seq)) => {
            lock(idem).on_success(&batch.tp, seq, batch.count());
            None
        }
        (Ok(_), _, _) => None,
        (Err(e), Some(idem), Some(seq)) => {
            Some(lock(idem).on_failure(&batch.tp, seq, e, batch.attempts, retries))
        }
        (Err(e), _, _) if e.is_retriable() && batch.attempts < retries => {
            Some(OnFailure::Retry { counts: true })
        }
        (Err(_), _, _) => None,
    };
    match decision {
        Some(OnFailure::Retry { counts }) => {
            if let Err(e) = &result {
                tracing::debug!(%topic, partition, attempt = batch.attempts + 1, error = %e, "produce failed, retrying");
                if e.needs_metadata_refresh() {
                    s.cluster.invalidate(&topic);
                }
            }
            // The partition stays in flight during the backoff; an idempotent producer
            // also holds back its newer batches, so nothing overtakes this one.
            let hold = s.idempotence.is_some();
            if hold {
                lock(&s.acc).hold(&batch.tp);
            }
            tokio::time::sleep(s.config.client.retry_backoff).await;
            lock(&s.acc).requeue(batch, counts, hold);
            return;
        }
        Some(OnFailure::FailAndBump) => match (&s.txn, &result) {
            // In a transaction: only an abort can follow; it bumps the epoch.
            (Some(_), Err(e)) => s.txn_failed(e),
            _ => {
                if let Some(idem) = &s.idempotence {
                    lock(idem).needs_bump = true;
                }
            }
        },
        Some(OnFailure::Fatal(reason)) => {
            tracing::error!(%topic, partition, "the idempotent producer stops: {reason}");
            s.txn_failed(&Error::ProducerFailed {
                reason: reason.clone(),
            });
            if let Some(idem) = &s.idempotence {
                lock(idem).fatal.get_or_insert(reason.clone());
            }
            result = Err(Error::ProducerFailed { reason });
        }
        None => {}
    }
    if let Err(e) = &result {
        tracing::warn!(%topic, partition, error = %e, "produce failed");
    }
    batch.settle(result);
    s.memory.add_permits(batch.memory);
    lock(&s.acc).complete(&batch.tp);
}

/// Write one ProduceRequest to one leader for `batches` now; the future resolves to each
/// batch's base offset (-1 with acks=0) or error.
fn produce(
    s: &Shared,
    conn: &Arc<Connection>,
    batches: Vec<ProducerBatch>,
) -> impl std::future::Future<Output = Vec<(ProducerBatch, Result<i64>)>> + Send + 'static {
    let mut out = Vec::with_capacity(batches.len());
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut sent = Vec::with_capacity(batches.len());
    for mut batch in batches {
        // An idempotent producer's batch gets its sequence when it is first sent.
        let ids = match &s.idempotence {
            Some(idem) if !batch.is_encoded() => {
                let mut i = lock(idem);
                let base_sequence = i.assign(&batch.tp, batch.count());
                Some(ProducerIds {
                    producer_id: i.producer_id,
                    epoch: i.epoch,
                    base_sequence,
                    transactional: s.txn.is_some(),
                })
            }
            _ => None,
        };
        let bytes = match batch.encoded(s.config.compression, ids) {
            Ok(b) => b,
            Err(message) => {
                let e = Error::InvalidRecord {
                    topic: batch.tp.0.clone(),
                    message,
                };
                out.push((batch, Err(e)));
                continue;
            }
        };
        let (topic, partition) = &batch.tp;
        let data = PartitionProduceData::default()
            .with_index(*partition)
            .with_records(Some(bytes));
        match topics
            .iter_mut()
            .find(|t| t.name.as_str() == topic.as_str())
        {
            Some(t) => t.partition_data.push(data),
            None => {
                let mut t = TopicProduceData::default();
                t.name = topic_name(topic);
                t.partition_data = vec![data];
                topics.push(t);
            }
        }
        sent.push(batch);
    }
    let mut req = ProduceRequest::default();
    req.acks = s.config.acks.as_i16();
    req.timeout_ms = i32::try_from(s.config.client.request_timeout.as_millis()).unwrap_or(i32::MAX);
    req.topic_data = topics;

    let addr = conn.addr().to_string();
    let forget = {
        let cluster = s.cluster.clone();
        move |addr: &str| cluster.forget_connection(addr)
    };
    let answer = if sent.is_empty() {
        None
    } else if s.config.acks == Acks::None {
        // No response comes; the batches are done once queued for the socket.
        let result = conn.send_no_response(&req).map(|_| -1);
        if result.is_err() {
            forget(&addr);
        }
        out.extend(sent.drain(..).map(|b| (b, result.clone())));
        None
    } else {
        Some(conn.start(&req))
    };
    async move {
        let Some(answer) = answer else {
            return out;
        };
        let resp = match answer {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                forget(&addr);
                out.extend(sent.into_iter().map(|b| (b, Err(e.clone()))));
                return out;
            }
        };
        for batch in sent {
            let (topic, partition) = &batch.tp;
            let answer = resp
                .responses
                .iter()
                .filter(|t| t.name.as_str() == topic.as_str())
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == *partition);
            let result = match answer {
                None => Err(Error::Protocol {
                    addr: addr.clone(),
                    api: "Produce",
                    message: format!("the response has no answer for {topic}[{partition}]"),
                }),
                Some(p) if p.error_code != 0 => {
                    let detail = p
                        .error_message
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default();
                    Err(Error::kafka(
                        p.error_code,
                        format!("produce to {topic}[{partition}]{detail}"),
                    ))
                }
                Some(p) => Ok(p.base_offset),
            };
            out.push((batch, result));
        }
        out
    }
}

/// One record's delivery report: its batch's outcome plus its place in the batch.
#[derive(Debug)]
pub(crate) struct Delivery {
    outcome: BatchOutcome,
    index: i32,
    topic: String,
    partition: i32,
    timestamp: i64,
}

impl Future for Delivery {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(Pin::new(&mut self.outcome).poll(cx));
        Poll::Ready(match outcome {
            Ok(Ok(base_offset)) => Ok(RecordMetadata {
                topic: std::mem::take(&mut self.topic),
                partition: self.partition,
                offset: if base_offset < 0 {
                    -1
                } else {
                    base_offset + i64::from(self.index)
                },
                timestamp: self.timestamp,
            }),
            Ok(Err(e)) => Err(e),
            // The batch was dropped unsettled: the sender task is gone.
            Err(_) => Err(Error::ProducerClosed),
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section is a single push/drain; a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
