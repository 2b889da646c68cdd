//! The record accumulator: per-partition queues of batches waiting to be sent, and the rules
//! for when a batch is ready (`batch.size` reached or `linger.ms` passed).
//!
//! Where it sits: producer `send` → partitioner → **accumulator** → sender task → wire.
//!
//! Invariants:
//! - Records of one partition leave in the order they were appended: batches are drained from
//!   the front, at most one batch per partition is in flight, and a batch that is retried goes
//!   back to the front of its queue.
//! - Every appended record's reply channel is answered exactly once (by the sender task).
//! - Pure data structure: no I/O, no `.await`; the producer holds it in a std `Mutex`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::error::Result;
use crate::native::batch::OutRecord;
use crate::record::RecordMetadata;

/// A topic and a partition.
pub(crate) type TopicPartition = (String, i32);

/// A record waiting in a batch, with the channel its delivery report goes to.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    pub(crate) record: OutRecord,
    pub(crate) size: usize,
    pub(crate) reply: oneshot::Sender<Result<RecordMetadata>>,
    /// The record's share of `buffer.memory`, given back when the record is settled.
    pub(crate) _memory: Option<OwnedSemaphorePermit>,
}

/// Records for one partition that go out in one ProduceRequest.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) tp: TopicPartition,
    pub(crate) records: Vec<PendingRecord>,
    pub(crate) size: usize,
    pub(crate) created: Instant,
    /// How many times sending this batch failed with a retriable error.
    pub(crate) attempts: u32,
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    in_flight: bool,
}

/// All partitions' queues.
#[derive(Debug)]
pub(crate) struct Accumulator {
    queues: BTreeMap<TopicPartition, PartitionQueue>,
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
    pub(crate) fn append(&mut self, tp: TopicPartition, rec: PendingRecord, now: Instant) {
        let batch_size = self.batch_size;
        let q = self.queues.entry(tp.clone()).or_default();
        let fits = q
            .batches
            .back()
            .is_some_and(|b| b.attempts == 0 && b.size + rec.size <= batch_size);
        if !fits {
            q.batches.push_back(ProducerBatch {
                tp,
                records: Vec::new(),
                size: 0,
                created: now,
                attempts: 0,
            });
        }
        if let Some(b) = q.batches.back_mut() {
            b.size += rec.size;
            b.records.push(rec);
        }
    }

    /// Take every batch that may be sent now: per partition not in flight, the front batch if
    /// it is full, has a successor, lingered long enough, or `force` (flush/close) is set.
    /// Also returns when the next lingering batch becomes ready.
    pub(crate) fn drain_ready(
        &mut self,
        now: Instant,
        force: bool,
    ) -> (Vec<ProducerBatch>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        for q in self.queues.values_mut() {
            if q.in_flight {
                continue;
            }
            let Some(front) = q.batches.front() else {
                continue;
            };
            let deadline = front.created + self.linger;
            let full = front.size >= self.batch_size || q.batches.len() > 1 || front.attempts > 0;
            if force || full || deadline <= now {
                if let Some(b) = q.batches.pop_front() {
                    q.in_flight = true;
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
        if let Some(q) = self.queues.get_mut(tp) {
            q.in_flight = false;
            if q.batches.is_empty() {
                self.queues.remove(tp);
            }
        }
    }

    /// A batch failed with a retriable error: put it back in front, so order is kept.
    pub(crate) fn requeue(&mut self, mut batch: ProducerBatch) {
        batch.attempts += 1;
        let q = self.queues.entry(batch.tp.clone()).or_default();
        q.in_flight = false;
        q.batches.push_front(batch);
    }

    /// Nothing queued and nothing in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(size: usize) -> PendingRecord {
        let (tx, _rx) = oneshot::channel();
        PendingRecord {
            record: OutRecord {
                key: None,
                value: None,
                headers: Vec::new(),
                timestamp: 0,
            },
            size,
            reply: tx,
            _memory: None,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        ("t".to_string(), p)
    }

    #[test]
    fn batches_fill_to_batch_size_then_a_new_one_starts() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, Duration::from_secs(60));
        for _ in 0..5 {
            acc.append(tp(0), rec(40), now);
        }
        // 40+40 fit, the third starts a new batch: [80, 80, 40].
        let (ready, _) = acc.drain_ready(now, false);
        assert_eq!(ready.len(), 1, "one in flight per partition");
        assert_eq!(ready[0].records.len(), 2);
        let (again, _) = acc.drain_ready(now, false);
        assert!(again.is_empty(), "partition is in flight");
        acc.complete(&tp(0));
        let (next, _) = acc.drain_ready(now, false);
        assert_eq!(next[0].records.len(), 2);
        acc.complete(&tp(0));
        let (last, deadline) = acc.drain_ready(now, false);
        assert!(last.is_empty(), "last batch lingers");
        assert_eq!(deadline, Some(now + Duration::from_secs(60)));
        let (forced, _) = acc.drain_ready(now, true);
        assert_eq!(forced[0].records.len(), 1);
        acc.complete(&tp(0));
        assert!(acc.is_empty());
    }

    #[test]
    fn linger_expiry_makes_a_batch_ready() {
        let now = Instant::now();
        let mut acc = Accumulator::new(1000, Duration::from_millis(5));
        acc.append(tp(1), rec(10), now);
        assert!(acc.drain_ready(now, false).0.is_empty());
        let (ready, _) = acc.drain_ready(now + Duration::from_millis(5), false);
        assert_eq!(ready.len(), 1);
    }

    #[test]
    fn requeued_batch_goes_first_and_is_not_merged_into() {
        let now = Instant::now();
        let mut acc = Accumulator::new(1000, Duration::ZERO);
        acc.append(tp(0), rec(10), now);
        let (mut ready, _) = acc.drain_ready(now, false);
        acc.append(tp(0), rec(10), now);
        acc.append(tp(0), rec(10), now);
        let b = ready.pop().unwrap();
        acc.requeue(b);
        let (again, _) = acc.drain_ready(now, false);
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].records.len(), 1, "the retried batch alone, first");
        acc.complete(&tp(0));
        let (rest, _) = acc.drain_ready(now, false);
        assert_eq!(rest[0].records.len(), 2);
    }

    #[test]
    fn an_oversized_record_gets_its_own_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, Duration::from_secs(1));
        acc.append(tp(0), rec(500), now);
        let (ready, _) = acc.drain_ready(now, false);
        assert_eq!(ready[0].records.len(), 1);
    }
}
