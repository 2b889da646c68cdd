//! The native producer: `send` partitions a record and puts it in the accumulator; one
//! background sender task per producer turns ready batches into ProduceRequests (one per
//! leader per round), handles the answers, retries what is retriable and reports each
//! record's offset.
//!
//! Where it sits: application → **producer** → partitioner → accumulator → connection → broker.
//! Its parts: `producer/produce_request.rs` (one ProduceRequest, and settling each batch
//! of it: deliver, retry or fail) and `producer/transactional.rs` (init, begin, offsets,
//! commit and abort, and AddPartitionsToTxn before a partition's first batch).
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
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::native::accumulator::{Accumulator, Append, BatchOutcome, ProducerBatch};
use crate::native::batch::ProducerIds;
use crate::native::connection::Connection;
use crate::native::idempotence::Idempotence;
use crate::native::metadata::Cluster;
use crate::native::transaction::{Transactions, TxnStage};
use crate::partitioner::{partition_for_key, KeylessPartitioner};
use crate::record::{ProducerRecord, RecordMetadata};

mod produce_request;
mod transactional;

use produce_request::{produce, settle};
use transactional::add_to_transaction;

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
