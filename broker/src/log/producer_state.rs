//! Producer state: what one partition knows of each producer id that wrote to it, so
//! that a retried batch is not written twice (the idempotent producer, KIP-98).
//!
//! Flow: producer (InitProducerId gave it a producer id and epoch) → produce → …
//! → `PartitionLog::append` → **`ProducerStateTable::check`**, for every batch that
//! carries a producer id, before anything is written → segment →
//! **`ProducerStateTable::apply_data`** once the batch is in the file.
//!
//! An idempotent producer numbers its batches per partition: batch `n` carries
//! `baseSequence` = the number of records it sent to that partition before it, and
//! its last record is `baseSequence + lastOffsetDelta`. The broker keeps, per
//! producer id, its epoch and the first and last sequence of its last five batches
//! ([`MAX_BATCHES`], Kafka's `NUM_BATCHES_TO_RETAIN`: the producer keeps at most five
//! requests in flight), and checks each new batch in this order, as Kafka's
//! `UnifiedLog.analyzeAndValidateProducerState` and `ProducerAppendInfo` do:
//!
//! | check                                                   | answer                              |
//! |---------------------------------------------------------|-------------------------------------|
//! | same epoch, same first and last sequence as one of the last five batches | a duplicate: not written again; Produce answers the original offsets, with no error |
//! | a control batch (attribute bit 5) from a client          | INVALID_RECORD (87): markers come from the transaction coordinator only |
//! | epoch below the producer's current epoch                 | INVALID_PRODUCER_EPOCH (47)         |
//! | a newer epoch whose first sequence is not 0              | OUT_OF_ORDER_SEQUENCE_NUMBER (45)   |
//! | same epoch, first sequence ≠ last sequence + 1           | OUT_OF_ORDER_SEQUENCE_NUMBER (45)   |
//! | a non-transactional batch while the producer's transaction is open | INVALID_TXN_STATE (48)    |
//! | a producer id this partition has no state for           | accepted, whatever its sequence (KIP-360: its state may have expired or been deleted with old segments) |
//!
//! Sequences wrap: after `i32::MAX` comes 0.
//!
//! What must stay true:
//! - `check` changes nothing: it works on a scratch copy of the entries a request
//!   touches, so a request refused half-way leaves the table as it was; `apply_data`
//!   records a batch only once it is in the file.
//! - Every batch in the log with a producer id has gone through `apply_data` (on append, or
//!   replayed by `PartitionLog` from the latest snapshot on open), so the table is a
//!   function of the log: rebuilding it from the log gives the same entries, apart
//!   from older batches a snapshot does not keep (Kafka's snapshot keeps the last
//!   batch of each producer only) and entries that expired.
//! - `ongoing` holds exactly the producers with an open transaction, by the offset of
//!   its first batch: the last stable offset is the smallest of those.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::record_batch::BatchHeader;

/// How many batches per producer the broker remembers for duplicate detection:
/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`, matching the producer's
/// largest `max.in.flight.requests.per.connection` with idempotence.
pub const MAX_BATCHES: usize = 5;

/// `producerEpoch` of a batch without a producer, and of an entry that has seen no
/// data batch yet (Kafka's `RecordBatch.NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// One batch a producer wrote: enough to recognise its retry and answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's maxTimestamp.
    pub timestamp: i64,
}

/// What one partition knows of one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub producer_id: i64,
    /// [`NO_PRODUCER_EPOCH`] until the first batch (or marker) of this producer.
    pub epoch: i16,
    /// The last [`MAX_BATCHES`] batches of the current epoch, oldest first.
    pub batches: VecDeque<BatchMeta>,
    /// The coordinator epoch of the last transaction marker written for it (-1: none).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, if one is open here.
    pub current_txn_first_offset: Option<i64>,
    /// The maxTimestamp of its last batch: `producer.id.expiration.ms` counts from
    /// here, as in Kafka.
    pub last_timestamp: i64,
}

impl ProducerEntry {
    fn new(producer_id: i64) -> ProducerEntry {
        ProducerEntry {
            producer_id,
            epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
            last_timestamp: -1,
        }
    }

    /// The last sequence written in the current epoch.
    pub fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    /// The last offset written by this producer.
    pub fn last_offset(&self) -> Option<i64> {
        self.batches.back().map(|b| b.last_offset)
    }

    /// The stored batch `h` is a retry of, if any.
    fn duplicate_of(&self, h: &BatchHeader) -> Option<BatchMeta> {
        if h.producer_epoch != self.epoch {
            return None;
        }
        let last = last_sequence(h);
        self.batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
            .copied()
    }

    /// Moves to `epoch`; a new epoch forgets the old one's batches (its sequences
    /// start again from 0).
    fn set_epoch(&mut self, epoch: i16) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }

    fn push(&mut self, meta: BatchMeta) {
        if self.batches.len() == MAX_BATCHES {
            self.batches.pop_front();
        }
        self.batches.push_back(meta);
        self.last_timestamp = meta.timestamp;
    }
}

/// The last sequence of a batch: `baseSequence + lastOffsetDelta`, wrapping past
/// `i32::MAX` to 0 (Kafka's `DefaultRecordBatch.incrementSequence`).
pub fn last_sequence(h: &BatchHeader) -> i32 {
    increment_sequence(h.base_sequence, h.last_offset_delta)
}

fn increment_sequence(seq: i32, by: i32) -> i32 {
    if seq > i32::MAX - by {
        by - (i32::MAX - seq) - 1
    } else {
        seq + by
    }
}

/// `next` directly follows `last` (`None`: nothing written in this epoch yet).
fn in_sequence(last: Option<i32>, next: i32) -> bool {
    match last {
        None => next == 0,
        Some(i32::MAX) => next == 0,
        Some(last) => next == last + 1,
    }
}

/// Why a batch was refused, with what Kafka answers for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error(
        "producer {producer_id} sent epoch {epoch}, older than its current epoch {current} \
         (a newer producer with the same id took over)"
    )]
    InvalidEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error(
        "out of order sequence number for producer {producer_id} at epoch {epoch}: \
         {got} (incoming first sequence), {expected} expected"
    )]
    OutOfOrder {
        producer_id: i64,
        epoch: i16,
        got: i32,
        /// What would have been in order (`last + 1`, or 0 in a new epoch).
        expected: i32,
    },
    #[error(
        "producer {producer_id} sent a non-transactional batch while its transaction \
         (from offset {first_offset}) is open"
    )]
    TxnOpen { producer_id: i64, first_offset: i64 },
    #[error(
        "clients may not write control batches: markers come from the transaction coordinator"
    )]
    ControlFromClient,
}

impl ProducerError {
    /// The error code Produce answers.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            ProducerError::InvalidEpoch { .. } => 47,
            ProducerError::OutOfOrder { .. } => 45,
            ProducerError::TxnOpen { .. } => 48,
            ProducerError::ControlFromClient => 87,
        }
    }
}

/// What [`ProducerStateTable::check`] decided for one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No producer id: nothing to check or remember.
    Plain,
    /// Write it, then record it with [`ProducerStateTable::apply_data`].
    Append,
    /// A retry of a batch already written: answer its offsets, write nothing.
    Duplicate(BatchMeta),
}

/// The producers of one partition. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    entries: HashMap<i64, ProducerEntry>,
    /// First offset of each open transaction → its producer id.
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerStateTable {
    pub fn new() -> ProducerStateTable {
        ProducerStateTable::default()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.entries.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, by producer id.
    pub fn entries(&self) -> impl Iterator<Item = &ProducerEntry> {
        self.entries.values()
    }

    /// The first offset of the oldest open transaction: the last stable offset when
    /// one is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Checks a client's batch `h`, whose `base_offset` is the offset it would get.
    /// `scratch` holds the entries earlier batches of the same request changed: the
    /// table itself is not touched. See the module docs for the rules.
    pub fn check(
        &self,
        scratch: &mut HashMap<i64, ProducerEntry>,
        h: &BatchHeader,
    ) -> Result<Verdict, ProducerError> {
        if h.is_control() {
            return Err(ProducerError::ControlFromClient);
        }
        if h.producer_id < 0 {
            return Ok(Verdict::Plain);
        }
        let entry = match scratch.get(&h.producer_id) {
            Some(e) => e.clone(),
            None => self
                .entries
                .get(&h.producer_id)
                .cloned()
                .unwrap_or_else(|| ProducerEntry::new(h.producer_id)),
        };
        if let Some(meta) = entry.duplicate_of(h) {
            return Ok(Verdict::Duplicate(meta));
        }
        if entry.epoch != NO_PRODUCER_EPOCH && h.producer_epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: entry.epoch,
            });
        }
        if entry.epoch != NO_PRODUCER_EPOCH {
            let last = if h.producer_epoch == entry.epoch {
                entry.last_seq()
            } else {
                None // a new epoch starts again from 0
            };
            if !in_sequence(last, h.base_sequence) {
                return Err(ProducerError::OutOfOrder {
                    producer_id: h.producer_id,
                    epoch: h.producer_epoch,
                    got: h.base_sequence,
                    expected: last.map_or(0, |l| increment_sequence(l, 1)),
                });
            }
        }
        if let (false, Some(first_offset)) = (h.is_transactional(), entry.current_txn_first_offset)
        {
            return Err(ProducerError::TxnOpen {
                producer_id: h.producer_id,
                first_offset,
            });
        }
        let mut entry = entry;
        apply_data(&mut entry, h);
        scratch.insert(h.producer_id, entry);
        Ok(Verdict::Append)
    }

    /// Records a data batch now in the log: after `check` accepted it and it was
    /// written (`h` as stored: its offsets, and with LogAppendTime its timestamp), or
    /// when replaying the log on open. No checks: what is in the log is the truth.
    pub fn apply_data(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let mut entry = self
            .entries
            .get(&h.producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerEntry::new(h.producer_id));
        apply_data(&mut entry, h);
        self.put(entry);
    }

    /// Applies a transaction marker (a COMMIT or ABORT control batch at `offset`,
    /// written for `producer_id` at `epoch` by coordinator epoch `coordinator_epoch`):
    /// the producer's transaction here is over. Returns the first offset of the
    /// transaction it closed, if one was open.
    pub fn apply_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    ) -> Option<i64> {
        let mut entry = self
            .entries
            .get(&producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerEntry::new(producer_id));
        entry.set_epoch(epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = timestamp;
        let first = entry.current_txn_first_offset.take();
        self.put(entry);
        first
    }

    /// Puts back an entry read from a snapshot.
    pub fn restore(&mut self, entry: ProducerEntry) {
        self.put(entry);
    }

    /// Replaces the entry of its producer id, keeping `ongoing` in step.
    fn put(&mut self, entry: ProducerEntry) {
        if let Some(old) = self.entries.get(&entry.producer_id) {
            if let Some(first) = old.current_txn_first_offset {
                self.ongoing.remove(&first);
            }
        }
        if let Some(first) = entry.current_txn_first_offset {
            self.ongoing.insert(first, entry.producer_id);
        }
        self.entries.insert(entry.producer_id, entry);
    }

    /// Forgets the producers whose last batch is older than `expiration_ms` at
    /// `now_ms` and that have no open transaction (`producer.id.expiration.ms`).
    /// Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.entries.len()
    }

    /// Forgets the producers whose last batch lies below `log_start` (retention or
    /// DeleteRecords removed it) and that have no open transaction.
    pub fn evict_below(&mut self, log_start: i64) {
        self.entries.retain(|_, e| {
            e.current_txn_first_offset.is_some() || e.last_offset().is_none_or(|o| o >= log_start)
        });
    }
}

/// Records data batch `h` (offsets assigned) in `entry`: a newer epoch starts afresh,
/// the batch joins the last five, and a transactional batch opens the transaction if
/// none is open.
fn apply_data(entry: &mut ProducerEntry, h: &BatchHeader) {
    entry.set_epoch(h.producer_epoch);
    entry.push(BatchMeta {
        first_seq: h.base_sequence,
        last_seq: last_sequence(h),
        first_offset: h.base_offset,
        last_offset: h.last_offset(),
        timestamp: h.max_timestamp,
    });
    if h.is_transactional() && entry.current_txn_first_offset.is_none() {
        entry.current_txn_first_offset = Some(h.base_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 1_000,
            max_timestamp: 1_000 + offset,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    fn append(t: &mut ProducerStateTable, h: &BatchHeader) -> Result<Verdict, ProducerError> {
        let v = t.check(&mut HashMap::new(), h)?;
        if v == Verdict::Append {
            t.apply_data(h);
        }
        Ok(v)
    }

    #[test]
    fn in_order_batches_are_appended_and_a_retry_is_a_duplicate() {
        let mut t = ProducerStateTable::new();
        assert!(matches!(
            append(&mut t, &batch(7, 0, 0, 3, 0)),
            Ok(Verdict::Append)
        ));
        assert!(matches!(
            append(&mut t, &batch(7, 0, 3, 2, 3)),
            Ok(Verdict::Append)
        ));
        // The retry of the first batch, at whatever offset it would get now.
        match append(&mut t, &batch(7, 0, 0, 3, 5)) {
            Ok(Verdict::Duplicate(m)) => assert_eq!((m.first_offset, m.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.get(7).and_then(ProducerEntry::last_seq), Some(4));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut t = ProducerStateTable::new();
        for i in 0..6 {
            append(&mut t, &batch(1, 0, i, 1, i64::from(i))).unwrap();
        }
        // Batch 0 fell out of the window: its retry is out of order, not a duplicate.
        assert!(matches!(
            append(&mut t, &batch(1, 0, 0, 1, 6)),
            Err(ProducerError::OutOfOrder {
                got: 0,
                expected: 6,
                ..
            })
        ));
        assert!(matches!(
            append(&mut t, &batch(1, 0, 1, 1, 6)),
            Ok(Verdict::Duplicate(_))
        ));
    }

    #[test]
    fn a_gap_a_stale_epoch_and_a_new_epoch() {
        let mut t = ProducerStateTable::new();
        append(&mut t, &batch(1, 2, 0, 1, 0)).unwrap();
        assert_eq!(
            append(&mut t, &batch(1, 2, 5, 1, 1))
                .unwrap_err()
                .kafka_error_code(),
            45
        );
        assert_eq!(
            append(&mut t, &batch(1, 1, 1, 1, 1))
                .unwrap_err()
                .kafka_error_code(),
            47
        );
        // A new epoch must start at 0 …
        assert_eq!(
            append(&mut t, &batch(1, 3, 1, 1, 1))
                .unwrap_err()
                .kafka_error_code(),
            45
        );
        // … and then does.
        assert!(append(&mut t, &batch(1, 3, 0, 1, 1)).is_ok());
        assert_eq!(t.get(1).map(|e| e.epoch), Some(3));
    }

    #[test]
    fn an_unknown_producer_is_accepted_at_any_sequence() {
        let mut t = ProducerStateTable::new();
        assert!(append(&mut t, &batch(9, 4, 1234, 2, 0)).is_ok());
        assert!(matches!(
            append(&mut t, &batch(9, 4, 1237, 1, 2)),
            Err(ProducerError::OutOfOrder { expected: 1236, .. })
        ));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        let mut t = ProducerStateTable::new();
        append(&mut t, &batch(1, 0, i32::MAX - 1, 2, 0)).unwrap();
        assert!(append(&mut t, &batch(1, 0, 0, 1, 2)).is_ok());
    }

    #[test]
    fn check_leaves_the_table_alone_and_scratch_chains_batches() {
        let t = ProducerStateTable::new();
        let mut scratch = HashMap::new();
        t.check(&mut scratch, &batch(1, 0, 0, 2, 0)).unwrap();
        t.check(&mut scratch, &batch(1, 0, 2, 2, 2)).unwrap();
        assert!(t.is_empty());
        assert!(t.check(&mut scratch, &batch(1, 0, 9, 1, 4)).is_err());
    }

    #[test]
    fn a_transaction_stays_open_until_its_marker() {
        let mut t = ProducerStateTable::new();
        let mut h = batch(5, 0, 0, 2, 10);
        h.attributes = 0x10;
        append(&mut t, &h).unwrap();
        assert_eq!(t.first_unstable_offset(), Some(10));
        // A non-transactional batch while it is open.
        assert_eq!(
            append(&mut t, &batch(5, 0, 2, 1, 12))
                .unwrap_err()
                .kafka_error_code(),
            48
        );
        assert_eq!(t.apply_marker(5, 0, 0, 2_000), Some(10));
        assert_eq!(t.first_unstable_offset(), None);
        // Expiry spares open transactions only.
        assert_eq!(t.expire(1_000_000, 1_000), 1);
    }

    #[test]
    fn control_batches_from_clients_are_refused() {
        let t = ProducerStateTable::new();
        let mut h = batch(1, 0, 0, 1, 0);
        h.attributes = 0x30;
        assert_eq!(
            t.check(&mut HashMap::new(), &h).unwrap_err(),
            ProducerError::ControlFromClient
        );
    }
}
