//! The transactional side of the native producer: `init_transactions`, the open
//! transaction's partitions (AddPartitionsToTxn before a partition's first batch),
//! `send_offsets_to_transaction`, and commit or abort (EndTxn). The coordinator
//! conversation itself is in `native/transaction.rs`; this file ties it to the sender.
//!
//! What must stay true:
//! - No batch of a transaction is sent to a partition before AddPartitionsToTxn for
//!   that partition succeeded; a refusal fails the batches and leaves the transaction
//!   abortable only (or the producer fenced).
//! - Commit first delivers every record sent; a transaction with a failed batch can
//!   only be aborted, and the abort bumps the epoch so the sequences start again.

use std::sync::{Arc, Mutex};

use super::{lock, NativeProducer, Shared};
use crate::error::{Error, Result};
use crate::native::accumulator::ProducerBatch;
use crate::native::idempotence::Idempotence;
use crate::native::transaction::{Transactions, TxnStage};

impl NativeProducer {
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
}

/// For a transactional producer: AddPartitionsToTxn for the partitions of `batches` not
/// yet in the open transaction. On a refusal, every batch fails with it (`Err`), and
/// the transaction can only be aborted (or the producer is fenced).
pub(super) async fn add_to_transaction(
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

impl Shared {
    /// The transaction side and the ids, or the error of a producer without
    /// `transactional.id`.
    pub(super) fn transactional(&self) -> Result<(&Transactions, &Mutex<Idempotence>)> {
        match (&self.txn, &self.idempotence) {
            (Some(t), Some(i)) => Ok((t, i)),
            _ => Err(Error::Transaction {
                reason: "this producer has no transactional.id".into(),
            }),
        }
    }

    /// Ok when a transaction is open.
    pub(super) fn open_transaction(&self, txn: &Transactions) -> Result<()> {
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
    pub(super) fn txn_failed(&self, e: &Error) {
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
    pub(super) fn txn_stopped(&self) -> Option<Error> {
        match self.txn.as_ref()?.stage() {
            TxnStage::Abortable(reason) => Some(Error::Transaction {
                reason: format!("{reason}: abort the transaction"),
            }),
            TxnStage::Fatal(reason) => Some(Error::ProducerFailed { reason }),
            _ => None,
        }
    }
}
