//! The idempotent producer's bookkeeping (`enable.idempotence`, Kafka's default): the
//! producer id and epoch from InitProducerId, and per partition the next sequence number
//! to hand out and the next one the broker is to acknowledge.
//!
//! Where it sits: producer → accumulator → **idempotence** (a batch gets its sequence
//! when it is first sent, and keeps it through retries) → Produce → the broker, which
//! answers a retry of a batch it already has with the original offsets
//! (`broker/src/log/producer_state.rs`).
//!
//! Invariants:
//! - Sequences of a partition are handed out in the order its batches are first sent,
//!   with no gap: batch `n + 1` starts where batch `n` ends.
//! - A batch keeps its producer id, epoch and sequence through every retry, so the
//!   broker can recognise it; only an epoch bump gives it new ones ([`Idempotence::bumped`]).
//! - The decisions on a failed batch follow Kafka's producer (`Sender`,
//!   `TransactionManager`): see [`Idempotence::on_failure`].

use std::collections::HashMap;

use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};

use crate::error::{Error, KafkaCode, Result};
use crate::native::accumulator::TopicPartition;
use crate::native::metadata::Cluster;

/// What to do with a batch that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnFailure {
    /// Send it again (after the backoff); `counts` says whether it uses up one of the
    /// `retries`.
    Retry { counts: bool },
    /// Fail its records with the error. The sequences after it are now uncertain: the
    /// producer bumps its epoch before it sends anything more (`needs_bump`).
    FailAndBump,
    /// The producer cannot go on (fenced, or the broker lost track of its sequence):
    /// fail this batch and every later one with this reason.
    Fatal(String),
}

/// The producer id, epoch and sequences of one idempotent producer.
#[derive(Debug)]
pub(crate) struct Idempotence {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    /// The sequence the next new batch of each partition gets.
    next: HashMap<TopicPartition, i32>,
    /// The sequence the broker is to acknowledge next, per partition: a batch starting
    /// there is the head of its partition's unacknowledged batches.
    acked: HashMap<TopicPartition, i32>,
    /// Set once a batch failed for good: bump the epoch before sending more.
    pub(crate) needs_bump: bool,
    /// Why the producer stopped, once it has.
    pub(crate) fatal: Option<String>,
}

/// InitProducerId, as Kafka's idempotent producer sends it: no transactional id; with
/// `current` (KIP-360, v3+), asking for the next epoch of that id.
pub(crate) async fn init_producer_id(
    cluster: &Cluster,
    current: Option<(i64, i16)>,
) -> Result<(i64, i16)> {
    let conn = cluster.any_connection().await?;
    let (id, epoch) = current.unwrap_or((-1, -1));
    // The codec's default transactional id is "", which brokers may refuse: null here.
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    let resp = conn.request(&req).await?;
    if resp.error_code != 0 {
        return Err(Error::kafka(
            resp.error_code,
            "get a producer id (InitProducerId)",
        ));
    }
    Ok((resp.producer_id.0, resp.producer_epoch))
}

/// `seq + by`, wrapping past `i32::MAX` to 0 as the broker counts.
fn add(seq: i32, by: i32) -> i32 {
    if seq > i32::MAX - by {
        by - (i32::MAX - seq) - 1
    } else {
        seq + by
    }
}

impl Idempotence {
    /// The state of a producer whose id comes from elsewhere (a transactional
    /// producer's, from its coordinator); -1 until then.
    pub(crate) fn with_ids(producer_id: i64, epoch: i16) -> Idempotence {
        Idempotence {
            producer_id,
            epoch,
            next: HashMap::new(),
            acked: HashMap::new(),
            needs_bump: false,
            fatal: None,
        }
    }

    /// Gets a producer id from the cluster.
    pub(crate) async fn init(cluster: &Cluster) -> Result<Idempotence> {
        let (producer_id, epoch) = init_producer_id(cluster, None).await?;
        tracing::debug!(producer_id, epoch, "idempotent producer id");
        Ok(Idempotence {
            producer_id,
            epoch,
            next: HashMap::new(),
            acked: HashMap::new(),
            needs_bump: false,
            fatal: None,
        })
    }

    /// The sequence of a partition's next new batch of `count` records.
    pub(crate) fn assign(&mut self, tp: &TopicPartition, count: i32) -> i32 {
        let next = self.next.entry(tp.clone()).or_insert(0);
        let seq = *next;
        *next = add(seq, count);
        seq
    }

    /// The broker acknowledged the batch at `seq` with `count` records.
    pub(crate) fn on_success(&mut self, tp: &TopicPartition, seq: i32, count: i32) {
        let acked = self.acked.entry(tp.clone()).or_insert(0);
        if *acked == seq {
            *acked = add(seq, count);
        }
    }

    /// What to do with the batch at `seq` of `tp` that failed with `error`, having used
    /// `attempts` of `retries`.
    pub(crate) fn on_failure(
        &self,
        tp: &TopicPartition,
        seq: i32,
        error: &Error,
        attempts: u32,
        retries: u32,
    ) -> OnFailure {
        let head = self.acked.get(tp).copied().unwrap_or(0) == seq;
        match error {
            Error::Kafka {
                code: KafkaCode::OutOfOrderSequenceNumber,
                ..
            } if !head => {
                // An earlier batch of the partition is not acknowledged yet (it failed
                // and is being retried): this one comes after it, and then fits.
                OnFailure::Retry { counts: false }
            }
            Error::Kafka {
                code: KafkaCode::OutOfOrderSequenceNumber,
                ..
            } => OnFailure::Fatal(format!(
                "the broker lost track of this producer's sequence on {}[{}] ({error})",
                tp.0, tp.1
            )),
            Error::Kafka {
                code: KafkaCode::InvalidProducerEpoch,
                ..
            } => OnFailure::Fatal(format!(
                "another producer with the same id fenced this one ({error})"
            )),
            e if e.is_retriable() && attempts < retries => OnFailure::Retry { counts: true },
            _ => OnFailure::FailAndBump,
        }
    }

    /// After an epoch bump (a batch failed for good, and nothing is in flight): the
    /// producer id and epoch InitProducerId gave (KIP-360: the next epoch of this id, or
    /// a new id once the epoch is exhausted); every partition's sequences start again
    /// from 0.
    pub(crate) fn bumped(&mut self, producer_id: i64, epoch: i16) {
        tracing::debug!(
            producer_id,
            epoch,
            "bumped the idempotent producer's epoch after a failed batch"
        );
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.next.clear();
        self.acked.clear();
        self.needs_bump = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Idempotence {
        Idempotence {
            producer_id: 1,
            epoch: 0,
            next: HashMap::new(),
            acked: HashMap::new(),
            needs_bump: false,
            fatal: None,
        }
    }

    fn tp() -> TopicPartition {
        ("t".into(), 0)
    }

    #[test]
    fn sequences_follow_each_other_and_wrap() {
        let mut s = state();
        assert_eq!(s.assign(&tp(), 3), 0);
        assert_eq!(s.assign(&tp(), 2), 3);
        assert_eq!(s.assign(&("t".into(), 1), 1), 0);
        assert_eq!(add(i32::MAX, 1), 0);
        assert_eq!(add(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn out_of_order_behind_an_unacknowledged_batch_is_retried_free() {
        let mut s = state();
        let ooo = Error::kafka(45, "produce");
        s.assign(&tp(), 3);
        s.assign(&tp(), 3);
        // Batch at 3 fails while batch 0 is unacknowledged: retry, not counted.
        assert_eq!(
            s.on_failure(&tp(), 3, &ooo, 0, 10),
            OnFailure::Retry { counts: false }
        );
        // At the head it is fatal.
        assert!(matches!(
            s.on_failure(&tp(), 0, &ooo, 0, 10),
            OnFailure::Fatal(_)
        ));
        s.on_success(&tp(), 0, 3);
        assert!(matches!(
            s.on_failure(&tp(), 3, &ooo, 0, 10),
            OnFailure::Fatal(_)
        ));
    }

    #[test]
    fn retriable_errors_use_retries_then_the_epoch_is_bumped() {
        let s = state();
        let lost = Error::kafka(13, "produce");
        assert_eq!(
            s.on_failure(&tp(), 0, &lost, 2, 10),
            OnFailure::Retry { counts: true }
        );
        assert_eq!(
            s.on_failure(&tp(), 0, &lost, 10, 10),
            OnFailure::FailAndBump
        );
        let too_large = Error::kafka(10, "produce");
        assert_eq!(
            s.on_failure(&tp(), 0, &too_large, 0, 10),
            OnFailure::FailAndBump
        );
        let fenced = Error::kafka(47, "produce");
        assert!(matches!(
            s.on_failure(&tp(), 0, &fenced, 0, 10),
            OnFailure::Fatal(_)
        ));
    }
}
