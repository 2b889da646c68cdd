//! The transaction coordinator: one state machine per transactional id (see
//! `metadata.rs`), kept in `__transaction_state` (`state_log.rs`), and the markers it
//! writes when a transaction ends.
//!
//! Flow of one transaction (librdkafka or Java `init_transactions`, `begin`, `send`,
//! `send_offsets_to_transaction`, `commit`):
//!
//! 1. FindCoordinator(key_type 1) → this broker.
//! 2. **`init_producer_id`**: the id's producer id and the next epoch. A transaction
//!    the previous holder of the id left open is aborted first, with a bumped epoch,
//!    so its markers fence the zombie.
//! 3. **`add_partitions`** (AddPartitionsToTxn) before the first record to a
//!    partition; **`add_offsets`** (AddOffsetsToTxn) before TxnOffsetCommit. State:
//!    Ongoing.
//! 4. Produce transactional batches; the partitions' producer state opens the
//!    transaction there and holds their last stable offset at its first offset.
//! 5. **`end_txn`** (EndTxn): PrepareCommit or PrepareAbort is written, then a marker
//!    to every partition of the transaction (`Partition::append_marker`; for
//!    `__consumer_offsets`, the group coordinator's `complete_transaction`, which also
//!    makes the transaction's offset commits visible or drops them), then
//!    CompleteCommit or CompleteAbort.
//!
//! What must stay true:
//! - One lock over every id's state, held for a whole step (the state written, the
//!   markers appended): a step is never seen half done.
//! - The decision (Prepare*) is in the log before the first marker; a restart that
//!   finds a Prepare* state writes the markers again and completes it
//!   (`resume_prepared`). A partition whose marker is already there gets a second,
//!   harmless one (the producer has no open transaction there any more).
//! - A transaction open longer than its timeout is aborted by `abort_timed_out`, with
//!   the epoch bumped: the producer that opened it is fenced.
//! - Producer ids never repeat: new ones start above every id in the log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use kafka_protocol::ResponseError;

use super::metadata::{TxnMetadata, TxnState};
use super::state_log::StateLog;
use crate::config::Config;
use crate::events::{EventKind, Events};
use crate::group::offset_store::OFFSETS_TOPIC;
use crate::group::GroupCoordinator;
use crate::log::control_batch::Marker;
use crate::log::LogError;
use crate::topics::{TopicError, Topics};

/// Why a transaction request was refused: Kafka's code and our reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnError {
    pub code: ResponseError,
    pub reason: String,
}

impl TxnError {
    fn new(code: ResponseError, reason: impl Into<String>) -> TxnError {
        TxnError {
            code,
            reason: reason.into(),
        }
    }

    fn storage(e: &LogError) -> TxnError {
        TxnError::new(
            ResponseError::NotCoordinator,
            format!("the transaction log could not be written: {e}"),
        )
    }
}

/// The largest epoch handed out before a producer id is replaced (Kafka's
/// `isEpochExhausted`: `Short.MAX_VALUE - 1`).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// The transaction coordinator. Every method does blocking file I/O: call it from
/// `spawn_blocking`.
#[derive(Debug)]
pub struct TransactionCoordinator {
    topics: Arc<Topics>,
    groups: Arc<GroupCoordinator>,
    /// `__transaction_state`, once a transactional producer has come
    /// ([`state_log`](Self::state_log) creates it).
    log: OnceLock<StateLog>,
    txns: Mutex<BTreeMap<String, TxnMetadata>>,
    next_producer_id: AtomicI64,
    /// `transaction.max.timeout.ms`.
    max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    id_expiration_ms: i64,
    explain: bool,
    events: Events,
}

impl TransactionCoordinator {
    /// Opens `__transaction_state`, replays it, and completes the transactions a crash
    /// left between their decision and their markers. Blocking.
    pub fn open(
        topics: Arc<Topics>,
        groups: Arc<GroupCoordinator>,
        config: &Config,
    ) -> Result<Arc<TransactionCoordinator>, TopicError> {
        let (log, txns) = match StateLog::existing(&topics)? {
            Some((log, txns)) => (OnceLock::from(log), txns),
            None => (OnceLock::new(), BTreeMap::new()),
        };
        let highest = txns.values().map(|m| m.producer_id).max().unwrap_or(0);
        let first = crate::protocol::init_producer_id::first_producer_id().max(highest + 1);
        let c = TransactionCoordinator {
            events: topics.events().clone(),
            topics,
            groups,
            log,
            txns: Mutex::new(txns),
            next_producer_id: AtomicI64::new(first),
            max_timeout_ms: i32::try_from(config.transaction_max_timeout.as_millis())
                .unwrap_or(i32::MAX),
            id_expiration_ms: i64::try_from(config.transactional_id_expiration.as_millis())
                .unwrap_or(i64::MAX),
            explain: config.explain,
        };
        let open = c.lock().len();
        if open > 0 {
            tracing::info!(
                "{}: replayed {}",
                super::state_log::TXN_TOPIC,
                crate::explain::count(open, "transactional id")
            );
        }
        c.resume_prepared();
        Ok(Arc::new(c))
    }

    /// Writes the state of `id` (`None`: a tombstone) to `__transaction_state`,
    /// creating the topic on first use. Called under the `txns` lock.
    fn write(&self, id: &str, meta: Option<&TxnMetadata>) -> Result<(), TxnError> {
        if self.log.get().is_none() {
            let log = StateLog::create(&self.topics).map_err(|e| {
                TxnError::new(
                    ResponseError::CoordinatorNotAvailable,
                    format!("cannot create the transaction log: {e}"),
                )
            })?;
            let _ = self.log.set(log);
        }
        let log = self.log.get().ok_or_else(|| {
            TxnError::new(ResponseError::CoordinatorNotAvailable, "no transaction log")
        })?;
        log.write(id, meta).map_err(|e| TxnError::storage(&e))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, TxnMetadata>> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A producer id no one has had (an idempotent producer's, or a new
    /// transactional id's).
    pub fn new_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Every transactional id's state (DescribeTransactions, ListTransactions, the
    /// dashboard).
    pub fn transactions(&self) -> Vec<TxnMetadata> {
        self.lock().values().cloned().collect()
    }

    /// InitProducerId with a transactional id: the id's producer id and its next
    /// epoch (a new producer id once the epoch is exhausted), after aborting a
    /// transaction left open. `current` is the caller's producer id and epoch (v3+,
    /// KIP-360), which must be the id's.
    pub fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        current: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        if id.is_empty() {
            return Err(TxnError::new(
                ResponseError::InvalidRequest,
                "an empty transactional id",
            ));
        }
        if timeout_ms <= 0 || timeout_ms > self.max_timeout_ms {
            return Err(TxnError::new(
                ResponseError::InvalidTransactionTimeout,
                format!(
                    "transaction.timeout.ms {timeout_ms} is not in 1..={} (transaction.max.timeout.ms)",
                    self.max_timeout_ms
                ),
            ));
        }
        let now = super::now_ms();
        let mut txns = self.lock();
        let mut meta = match txns.get(id) {
            Some(m) => m.clone(),
            None => TxnMetadata::new(id, self.new_producer_id(), timeout_ms, now),
        };
        if let Some((pid, epoch)) = current {
            if meta.epoch >= 0 && (pid != meta.producer_id || epoch != meta.epoch) {
                return Err(TxnError::new(
                    ResponseError::ProducerFenced,
                    format!(
                        "producer {pid} epoch {epoch} is not the current holder of {id:?} \
                         (producer {} epoch {})",
                        meta.producer_id, meta.epoch
                    ),
                ));
            }
        }
        if meta.state == TxnState::Ongoing {
            // The previous holder's transaction: abort it with a bumped epoch, so its
            // markers fence that producer, then bump again for the new holder.
            meta.epoch = meta.epoch.saturating_add(1);
            self.complete(
                &mut meta,
                false,
                "a new producer initialised the transactional id",
            )?;
        }
        if !meta.state.is_idle() {
            return Err(TxnError::new(
                ResponseError::ConcurrentTransactions,
                format!("the transaction of {id:?} is still being completed"),
            ));
        }
        if meta.epoch >= EPOCH_EXHAUSTED {
            meta.producer_id = self.new_producer_id();
            meta.epoch = 0;
        } else {
            meta.epoch += 1;
        }
        meta.timeout_ms = timeout_ms;
        meta.state = TxnState::Empty;
        meta.partitions.clear();
        meta.start = -1;
        meta.last_update = now;
        self.write(id, Some(&meta))?;
        let answer = (meta.producer_id, meta.epoch);
        self.record(format!(
            "transactional id {id:?}: producer {} epoch {} (InitProducerId)",
            answer.0, answer.1
        ));
        txns.insert(id.to_string(), meta);
        Ok(answer)
    }

    /// The id's state, if `pid` at `epoch` holds it.
    fn holder<'a>(
        txns: &'a mut BTreeMap<String, TxnMetadata>,
        id: &str,
        pid: i64,
        epoch: i16,
    ) -> Result<&'a mut TxnMetadata, TxnError> {
        let meta = txns.get_mut(id).ok_or_else(|| {
            TxnError::new(
                ResponseError::InvalidProducerIdMapping,
                format!("no transactional id {id:?}: call InitProducerId first"),
            )
        })?;
        if meta.producer_id != pid {
            return Err(TxnError::new(
                ResponseError::InvalidProducerIdMapping,
                format!("{id:?} belongs to producer {}, not {pid}", meta.producer_id),
            ));
        }
        if meta.epoch != epoch {
            return Err(TxnError::new(
                ResponseError::ProducerFenced,
                format!(
                    "producer {pid} epoch {epoch} was fenced: {id:?} is at epoch {}",
                    meta.epoch
                ),
            ));
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn (and, with `__consumer_offsets-0`, AddOffsetsToTxn): the
    /// partitions join the open transaction, which opens if none is.
    pub fn add_partitions(
        &self,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), TxnError> {
        let mut txns = self.lock();
        let meta = Self::holder(&mut txns, id, pid, epoch)?;
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(TxnError::new(
                    ResponseError::ConcurrentTransactions,
                    "the previous transaction is still being completed",
                ))
            }
            TxnState::Ongoing if partitions.iter().all(|p| meta.partitions.contains(p)) => {
                return Ok(());
            }
            _ => {}
        }
        let now = super::now_ms();
        let mut next = meta.clone();
        if next.state != TxnState::Ongoing {
            next.start = now;
            next.state = TxnState::Ongoing;
        }
        next.partitions.extend(partitions.iter().cloned());
        next.last_update = now;
        self.write(id, Some(&next))?;
        if self.explain {
            crate::explain::line(
                "txn/coordinator.rs TransactionCoordinator::add_partitions",
                format_args!(
                    "transactional id {id:?} (producer {pid} epoch {epoch}): Ongoing with {}",
                    partition_list(&next)
                ),
            );
        }
        *meta = next;
        Ok(())
    }

    /// AddOffsetsToTxn: the group's offsets partition joins the transaction, so
    /// TxnOffsetCommit may write there and EndTxn ends it there too.
    pub fn add_offsets(&self, id: &str, pid: i64, epoch: i16) -> Result<(), TxnError> {
        self.add_partitions(id, pid, epoch, &[(OFFSETS_TOPIC.to_string(), 0)])
    }

    /// TxnOffsetCommit's check: `pid` at `epoch` holds `id`, and its open transaction
    /// has the offsets partition (AddOffsetsToTxn came first).
    pub fn check_offsets_added(&self, id: &str, pid: i64, epoch: i16) -> Result<(), TxnError> {
        let mut txns = self.lock();
        let meta = Self::holder(&mut txns, id, pid, epoch)?;
        if meta.state == TxnState::Ongoing
            && meta.partitions.contains(&(OFFSETS_TOPIC.to_string(), 0))
        {
            Ok(())
        } else {
            Err(TxnError::new(
                ResponseError::InvalidTxnState,
                format!("{id:?} has no open transaction with offsets: call AddOffsetsToTxn first"),
            ))
        }
    }

    /// EndTxn: commit or abort the open transaction. A retry of an EndTxn that already
    /// completed the same way succeeds; the other way is INVALID_TXN_STATE.
    pub fn end_txn(&self, id: &str, pid: i64, epoch: i16, commit: bool) -> Result<(), TxnError> {
        let mut txns = self.lock();
        let meta = Self::holder(&mut txns, id, pid, epoch)?;
        let asked = if commit { "commit" } else { "abort" };
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = meta.clone();
                let result = self.complete(&mut next, commit, "EndTxn");
                *meta = next;
                result
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(()),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(TxnError::new(
                    ResponseError::ConcurrentTransactions,
                    "the transaction is still being completed",
                ))
            }
            (state, _) => Err(TxnError::new(
                ResponseError::InvalidTxnState,
                format!("cannot {asked} {id:?}: its transaction is {}", state.name()),
            )),
        }
    }

    /// Ends `meta`'s transaction: the decision written, a marker in every partition,
    /// then Complete*. On a marker that cannot be written the state stays Prepare* and
    /// the error is returned; `abort_timed_out` tries again later.
    fn complete(&self, meta: &mut TxnMetadata, commit: bool, why: &str) -> Result<(), TxnError> {
        let id = meta.transactional_id.clone();
        meta.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        meta.last_update = super::now_ms();
        self.write(&id, Some(meta))?;
        self.write_markers(meta, commit)?;
        let partitions = partition_list(meta);
        meta.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        meta.partitions.clear();
        meta.start = -1;
        meta.last_update = super::now_ms();
        self.write(&id, Some(meta))?;
        self.record(format!(
            "transactional id {id:?} (producer {} epoch {}): {} ({why}); markers written to {partitions}",
            meta.producer_id,
            meta.epoch,
            if commit { "committed" } else { "aborted" },
        ));
        Ok(())
    }

    /// A COMMIT or ABORT marker in every partition of `meta`'s transaction.
    fn write_markers(&self, meta: &TxnMetadata, commit: bool) -> Result<(), TxnError> {
        let marker = Marker {
            commit,
            coordinator_epoch: 0,
        };
        for (topic, index) in &meta.partitions {
            let written = if topic == OFFSETS_TOPIC {
                self.groups
                    .complete_transaction(meta.producer_id, meta.epoch, commit)
                    .map(|_| ())
            } else {
                match self.topics.partition(topic, *index) {
                    Some(p) => p
                        .append_marker(meta.producer_id, meta.epoch, marker)
                        .map(|_| ()),
                    None => {
                        tracing::warn!(
                            "transaction of {:?}: {topic}[{index}] no longer exists; no marker",
                            meta.transactional_id
                        );
                        Ok(())
                    }
                }
            };
            match written {
                Ok(()) => {}
                // A newer epoch already wrote there: this transaction is over there.
                Err(LogError::Producer(e)) => {
                    tracing::warn!("marker for {topic}[{index}] not written: {e}");
                }
                Err(e) => {
                    return Err(TxnError::new(
                        ResponseError::CoordinatorNotAvailable,
                        format!("the marker for {topic}[{index}] could not be written: {e}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Completes the transactions found decided but not completed (a crash between
    /// the decision and the last marker, or a marker that failed).
    fn resume_prepared(&self) {
        let mut txns = self.lock();
        for meta in txns.values_mut() {
            let commit = match meta.state {
                TxnState::PrepareCommit => true,
                TxnState::PrepareAbort => false,
                _ => continue,
            };
            if let Err(e) = self.complete(meta, commit, "completed after a restart") {
                tracing::warn!("{:?}: {}", meta.transactional_id, e.reason);
            }
        }
    }

    /// Aborts, with the epoch bumped, every transaction open longer than its timeout
    /// (`transaction.timeout.ms`), retries the ones left decided, and forgets the ids
    /// idle for `transactional.id.expiration.ms`. Returns how many were aborted.
    pub fn abort_timed_out(&self, now: i64) -> usize {
        self.resume_prepared();
        let mut txns = self.lock();
        let mut aborted = 0;
        for meta in txns.values_mut() {
            let timed_out = meta.state == TxnState::Ongoing
                && meta.start >= 0
                && now.saturating_sub(meta.start) > i64::from(meta.timeout_ms);
            if !timed_out {
                continue;
            }
            let mut next = meta.clone();
            next.epoch = next.epoch.saturating_add(1);
            let why = format!(
                "open {} ms, longer than its transaction.timeout.ms {}",
                now - meta.start,
                meta.timeout_ms
            );
            match self.complete(&mut next, false, &why) {
                Ok(()) => aborted += 1,
                Err(e) => tracing::warn!("{:?}: {}", meta.transactional_id, e.reason),
            }
            *meta = next;
        }
        let expired: Vec<String> = txns
            .values()
            .filter(|m| {
                m.state.is_idle() && now.saturating_sub(m.last_update) > self.id_expiration_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in expired {
            if self.write(&id, None).is_ok() {
                txns.remove(&id);
                self.record(format!(
                    "transactional id {id:?} expired (transactional.id.expiration.ms)"
                ));
            }
        }
        aborted
    }

    fn record(&self, text: String) {
        crate::explain::always(self.explain, "txn/coordinator.rs", format_args!("{text}"));
        self.events.record(EventKind::Transaction, text);
    }
}

/// `a[0], a[2], b[1]`.
fn partition_list(meta: &TxnMetadata) -> String {
    meta.partitions
        .iter()
        .map(|(t, p)| format!("{t}[{p}]"))
        .collect::<Vec<_>>()
        .join(", ")
}
