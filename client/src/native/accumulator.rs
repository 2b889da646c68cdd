//! The record accumulator: per-partition queues of batches waiting to be sent, and the rules
//! for when a batch is ready (`batch.size` reached or `linger.ms` passed).
//!
//! Where it sits: producer `send` → partitioner → **accumulator** → sender task → wire.
//!
//! Invariants:
//! - Records of one partition leave in the order they were appended: batches are drained from
//!   the front, one per partition per round, and a batch that is retried, or that could not
//!   be sent yet ([`Accumulator::unsend`]), goes back to the front of its queue. How many
//!   batches of a partition fly at once is bounded by the producer's requests in flight per
//!   broker (`max.in.flight.requests.per.connection`), not here.
//! - A record is encoded into its batch when it is appended ([`BatchBuilder`]); nothing of it
//!   is kept apart. Its delivery future shares its batch's one outcome (base offset or
//!   error), as in Kafka's `ProduceRequestResult`, and adds its index in the batch.
//! - Every batch's outcome is settled exactly once (by the sender task); a batch dropped
//!   unsettled resolves its records to `ProducerClosed`.
//! - `append` says when the sender must look again (a new batch, or a batch that just
//!   became full), so the sender is not woken for every record.
//! - Pure data structure: no I/O, no `.await`; the producer holds it in a std `Mutex`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{FutureExt, Shared};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Compression;
use crate::error::Result;
use crate::native::batch::{restamp, BatchBuilder, ProducerIds};
use crate::record::Header;

/// A topic and a partition.
pub(crate) type TopicPartition = (String, i32);

/// What every record of a batch awaits: the batch's base offset (-1 with acks=0), or the
/// error that failed it. A dropped sender (the batch was never settled) is a `RecvError`.
pub(crate) type BatchOutcome = Shared<oneshot::Receiver<Result<i64>>>;

/// A record to append, already partitioned.
#[derive(Debug)]
pub(crate) struct Append<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [Header],
    pub(crate) timestamp: i64,
    /// Its estimated size, counted against `batch.size`.
    pub(crate) size: usize,
    /// Bytes of `buffer.memory` it holds, given back when its batch is settled.
    pub(crate) memory: usize,
}

/// Where an appended record went.
#[derive(Debug)]
pub(crate) struct Appended {
    pub(crate) outcome: BatchOutcome,
    /// Its index in the batch: its offset is the batch's base offset plus this.
    pub(crate) index: i32,
    /// Whether the sender task must look again: a batch was started or became full.
    pub(crate) wake: bool,
}

/// Records for one partition that go out in one ProduceRequest.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) tp: TopicPartition,
    builder: Option<BatchBuilder>,
    encoded: Option<Bytes>,
    pub(crate) size: usize,
    pub(crate) created: Instant,
    /// How many times sending this batch failed with a retriable error.
    pub(crate) attempts: u32,
    /// Bytes of `buffer.memory` its records hold.
    pub(crate) memory: usize,
    /// Its records, counted when it is first encoded.
    records: i32,
    /// Its base sequence, from its first send on (idempotent producer only).
    pub(crate) sequence: Option<i32>,
    done: Option<oneshot::Sender<Result<i64>>>,
    outcome: BatchOutcome,
}

impl ProducerBatch {
    fn new(tp: TopicPartition, capacity: usize, now: Instant) -> ProducerBatch {
        let (done, outcome) = oneshot::channel();
        ProducerBatch {
            tp,
            builder: Some(BatchBuilder::new(capacity)),
            encoded: None,
            size: 0,
            created: now,
            attempts: 0,
            memory: 0,
            records: 0,
            sequence: None,
            done: Some(done),
            outcome: outcome.shared(),
        }
    }

    /// How many records it holds.
    pub(crate) fn count(&self) -> i32 {
        self.builder
            .as_ref()
            .map_or(self.records, BatchBuilder::count)
    }

    /// Whether it was encoded already (sent at least once).
    pub(crate) fn is_encoded(&self) -> bool {
        self.encoded.is_some()
    }

    /// The batch as sent: encoded (and compressed) the first time, with `producer`'s
    /// ids when idempotent; the same bytes on a retry.
    pub(crate) fn encoded(
        &mut self,
        compression: Compression,
        producer: Option<ProducerIds>,
    ) -> std::result::Result<Bytes, String> {
        if let Some(b) = &self.encoded {
            return Ok(b.clone());
        }
        self.records = self.count();
        let builder = self.builder.take().unwrap_or_else(|| BatchBuilder::new(0));
        let bytes = builder.finish(compression, producer)?;
        self.sequence = producer.map(|p| p.base_sequence);
        self.encoded = Some(bytes.clone());
        Ok(bytes)
    }

    /// Gives an encoded batch new producer ids (after an epoch bump).
    fn restamp(&mut self, ids: ProducerIds) {
        if let Some(b) = &self.encoded {
            self.encoded = Some(restamp(b, ids));
            self.sequence = Some(ids.base_sequence);
        }
    }

    /// Settle every record of the batch with `result` (its base offset, or an error).
    pub(crate) fn settle(&mut self, result: Result<i64>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    /// Batches drained and not yet completed, requeued or unsent.
    in_flight: usize,
    /// Batches of this partition waiting out a retry backoff ([`Accumulator::hold`]):
    /// while there are any, an idempotent producer sends nothing newer here, so the
    /// retries reach the broker before the batches that follow them.
    held: usize,
}

/// All partitions' queues, by topic then partition (looked up by `&str`: no copy of the
/// topic per record).
#[derive(Debug)]
pub(crate) struct Accumulator {
    queues: BTreeMap<String, BTreeMap<i32, PartitionQueue>>,
    batch_size: usize,
    linger: Duration,
}

impl Accumulator {
    pub(crate) fn new(batch_size: usize, linger: Duration) -> Self {
        Accumulator {
            queues: BTreeMap::new(),
            batch_size: batch_size.max(1),
            linger,
        }
    }

    /// Add a record to the last open batch of its partition, or start a new batch when that
    /// one would grow past `batch.size` (a record larger than `batch.size` gets its own batch).
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: i32,
        rec: Append<'_>,
        now: Instant,
    ) -> Appended {
        let batch_size = self.batch_size;
        if !self.queues.contains_key(topic) {
            self.queues.insert(topic.to_string(), BTreeMap::new());
        }
        let q = self
            .queues
            .get_mut(topic)
            .map(|t| t.entry(partition).or_default())
            .expect("inserted above");
        let fits = q.batches.back().is_some_and(|b| {
            b.builder.is_some() && b.attempts == 0 && b.size + rec.size <= batch_size
        });
        if !fits {
            let tp = (topic.to_string(), partition);
            q.batches
                .push_back(ProducerBatch::new(tp, rec.size.min(batch_size), now));
        }
        let b = q.batches.back_mut().expect("a batch is there");
        let builder = b.builder.as_mut().expect("an open batch has its builder");
        let index = builder.count();
        builder.append(rec.key, rec.value, rec.headers, rec.timestamp);
        let was_full = b.size >= batch_size;
        b.size += rec.size;
        b.memory += rec.memory;
        Appended {
            outcome: b.outcome.clone(),
            index,
            wake: !fits || (!was_full && b.size >= batch_size),
        }
    }

    /// Take every batch that may be sent now: per partition, the front batch if it is full,
    /// has a successor, is a retry, lingered long enough, or `force` (flush/close) is set.
    /// Also returns when the next lingering batch becomes ready.
    pub(crate) fn drain_ready(
        &mut self,
        now: Instant,
        force: bool,
    ) -> (Vec<ProducerBatch>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        for q in self.queues.values_mut().flat_map(|t| t.values_mut()) {
            let Some(front) = q.batches.front() else {
                continue;
            };
            if q.held > 0 {
                continue;
            }
            let deadline = front.created + self.linger;
            let full = front.size >= self.batch_size
                || q.batches.len() > 1
                || front.attempts > 0
                || front.is_encoded();
            if force || full || deadline <= now {
                if let Some(b) = q.batches.pop_front() {
                    q.in_flight += 1;
                    ready.push(b);
                }
            } else {
                next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
            }
        }
        (ready, next_deadline)
    }

    /// A sent batch is done (delivered or failed for good): its partition may send again.
    pub(crate) fn complete(&mut self, tp: &TopicPartition) {
        let (topic, partition) = tp;
        if let Some(t) = self.queues.get_mut(topic.as_str()) {
            if let Some(q) = t.get_mut(partition) {
                q.in_flight = q.in_flight.saturating_sub(1);
                if q.batches.is_empty() && q.in_flight == 0 {
                    t.remove(partition);
                }
            }
            if t.is_empty() {
                self.queues.remove(topic.as_str());
            }
        }
    }

    /// A batch of `tp` failed and waits out its backoff before [`requeue`](Self::requeue):
    /// with `hold`, nothing more of its partition is sent meanwhile (the idempotent
    /// producer's rule: the broker must see the retry before what follows it).
    pub(crate) fn hold(&mut self, tp: &TopicPartition) {
        let (topic, partition) = tp;
        self.queues
            .entry(topic.clone())
            .or_default()
            .entry(*partition)
            .or_default()
            .held += 1;
    }

    /// A batch failed with a retriable error: put it back in front, to go out first
    /// (`counts`: it uses up one of its retries; `held`: [`hold`](Self::hold) was called
    /// for it). A batch with a sequence goes among the
    /// other sent ones in sequence order, so the broker sees them in order again.
    pub(crate) fn requeue(&mut self, mut batch: ProducerBatch, counts: bool, held: bool) {
        if counts {
            batch.attempts += 1;
        }
        let (topic, partition) = batch.tp.clone();
        let q = self
            .queues
            .entry(topic)
            .or_default()
            .entry(partition)
            .or_default();
        if held {
            q.held = q.held.saturating_sub(1);
        }
        let Some(seq) = batch.sequence else {
            return self.unsend(batch);
        };
        q.in_flight = q.in_flight.saturating_sub(1);
        let at = q
            .batches
            .iter()
            .position(|b| b.sequence.is_none_or(|s| s > seq))
            .unwrap_or(q.batches.len());
        q.batches.insert(at, batch);
    }

    /// After an epoch bump: every queued batch that was sent before gets new ids, in
    /// queue order per partition, from `ids(partition, records)`.
    pub(crate) fn resequence(&mut self, mut ids: impl FnMut(&TopicPartition, i32) -> ProducerIds) {
        for q in self.queues.values_mut().flat_map(|t| t.values_mut()) {
            for b in q.batches.iter_mut().filter(|b| b.is_encoded()) {
                let fresh = ids(&b.tp, b.count());
                b.restamp(fresh);
            }
        }
    }

    /// Takes every queued batch (the producer stopped for good: they fail).
    pub(crate) fn drain_all(&mut self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for q in self.queues.values_mut().flat_map(|t| t.values_mut()) {
            while let Some(b) = q.batches.pop_front() {
                q.in_flight += 1;
                out.push(b);
            }
        }
        out
    }

    /// A drained batch that was not sent (its broker has no room for another request in
    /// flight): put it back in front, as if it had never left.
    pub(crate) fn unsend(&mut self, batch: ProducerBatch) {
        let (topic, partition) = batch.tp.clone();
        let q = self
            .queues
            .entry(topic)
            .or_default()
            .entry(partition)
            .or_default();
        q.in_flight = q.in_flight.saturating_sub(1);
        q.batches.push_front(batch);
    }

    /// Batches sent and not yet settled, those waiting out a retry backoff included.
    pub(crate) fn in_flight(&self) -> usize {
        self.queues
            .values()
            .flat_map(|t| t.values())
            .map(|q| q.in_flight)
            .sum()
    }

    /// Nothing queued and nothing in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(acc: &mut Accumulator, p: i32, size: usize, now: Instant) -> Appended {
        let a = Append {
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp: 0,
            size,
            memory: size,
        };
        acc.append("t", p, a, now)
    }

    fn tp(p: i32) -> TopicPartition {
        ("t".to_string(), p)
    }

    #[test]
    fn batches_fill_to_batch_size_then_a_new_one_starts() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, Duration::from_secs(60));
        let wakes: Vec<bool> = (0..5).map(|_| rec(&mut acc, 0, 40, now).wake).collect();
        // 40+40 fit, the third starts a new batch: [80, 80, 40]; only new batches wake.
        assert_eq!(wakes, [true, false, true, false, true]);
        let (ready, _) = acc.drain_ready(now, false);
        assert_eq!(ready.len(), 1, "one batch per partition per round");
        assert_eq!(ready[0].count(), 2);
        assert_eq!(ready[0].memory, 80);
        let (next, _) = acc.drain_ready(now, false);
        assert_eq!(
            next[0].count(),
            2,
            "the next full batch, while the first flies"
        );
        let (last, deadline) = acc.drain_ready(now, false);
        assert!(last.is_empty(), "last batch lingers");
        assert_eq!(deadline, Some(now + Duration::from_secs(60)));
        let (forced, _) = acc.drain_ready(now, true);
        assert_eq!(forced[0].count(), 1);
        for _ in 0..2 {
            acc.complete(&tp(0));
            assert!(!acc.is_empty(), "batches still in flight");
        }
        acc.complete(&tp(0));
        assert!(acc.is_empty());
    }

    #[test]
    fn a_batch_that_becomes_full_wakes_the_sender() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, Duration::from_secs(60));
        assert!(rec(&mut acc, 0, 60, now).wake, "new batch");
        assert!(rec(&mut acc, 0, 40, now).wake, "now full: 100 of 100");
    }

    #[test]
    fn every_record_of_a_batch_shares_its_outcome() {
        let now = Instant::now();
        let mut acc = Accumulator::new(1000, Duration::ZERO);
        let first = rec(&mut acc, 0, 10, now);
        let second = rec(&mut acc, 0, 10, now);
        assert_eq!((first.index, second.index), (0, 1));
        let (mut ready, _) = acc.drain_ready(now, false);
        ready[0].settle(Ok(41));
        ready[0].settle(Ok(99)); // a second settle is ignored
        let got =
            futures::executor::block_on(async { (first.outcome.await, second.outcome.await) });
        assert!(matches!(got, (Ok(Ok(41)), Ok(Ok(41)))), "{got:?}");
        // A batch dropped unsettled: its records see the channel closed.
        let third = rec(&mut acc, 1, 10, now);
        drop(acc);
        assert!(futures::executor::block_on(third.outcome).is_err());
    }

    #[test]
    fn linger_expiry_makes_a_batch_ready() {
        let now = Instant::now();
        let mut acc = Accumulator::new(1000, Duration::from_millis(5));
        rec(&mut acc, 1, 10, now);
        assert!(acc.drain_ready(now, false).0.is_empty());
        let (ready, _) = acc.drain_ready(now + Duration::from_millis(5), false);
        assert_eq!(ready.len(), 1);
    }

    #[test]
    fn requeued_batch_goes_first_and_is_not_merged_into() {
        let now = Instant::now();
        let mut acc = Accumulator::new(1000, Duration::ZERO);
        rec(&mut acc, 0, 10, now);
        let (mut ready, _) = acc.drain_ready(now, false);
        rec(&mut acc, 0, 10, now);
        rec(&mut acc, 0, 10, now);
        let mut b = ready.pop().unwrap();
        let sent = b.encoded(Compression::None, None).unwrap();
        acc.requeue(b, true, false);
        let (mut again, _) = acc.drain_ready(now, false);
        assert_eq!(again[0].attempts, 1);
        assert_eq!(
            again[0].encoded(Compression::None, None).unwrap(),
            sent,
            "the same bytes again"
        );
        acc.complete(&tp(0));
        let (rest, _) = acc.drain_ready(now, false);
        assert_eq!(rest[0].count(), 2);
    }

    #[test]
    fn an_oversized_record_gets_its_own_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, Duration::from_secs(1));
        rec(&mut acc, 0, 500, now);
        let (ready, _) = acc.drain_ready(now, false);
        assert_eq!(ready[0].count(), 1);
    }
}
