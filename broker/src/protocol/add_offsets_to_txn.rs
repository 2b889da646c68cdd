//! AddOffsetsToTxn (key 25): before a transactional producer commits a group's offsets
//! in its transaction (`send_offsets_to_transaction`), it adds the group's offsets
//! partition (`__consumer_offsets-0` here: one partition) to the transaction.
//!
//! Flow: **AddOffsetsToTxn** → `txn/coordinator.rs: add_offsets` → TxnOffsetCommit
//! (`group/txn_offset_commit.rs`) → EndTxn, whose marker in `__consumer_offsets` makes
//! the commits visible or drops them.
//!
//! Versions 0–4 (v3+ flexible; v4 only allows TRANSACTION_ABORTABLE, never sent here).
//! PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2, as Kafka answers.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kafka_protocol::ResponseError;

use super::init_producer_id::fenced_as;
use super::BrokerContext;

/// AddOffsetsToTxn v0–v4.
pub async fn handle(
    ctx: &BrokerContext,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> (AddOffsetsToTxnResponse, String) {
    let id = req.transactional_id.0.to_string();
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let group = req.group_id.0.to_string();
    let txn = ctx.txn.clone();
    let tid = id.clone();
    let outcome = match tokio::task::spawn_blocking(move || txn.add_offsets(&tid, pid, epoch)).await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((fenced_as(e.code, version, 2), e.reason)),
        Err(e) => Err((ResponseError::CoordinatorNotAvailable, e.to_string())),
    };
    let (code, line) = match outcome {
        Ok(()) => (
            0,
            format!(
                "add_offsets_to_txn {id:?} producer {pid} epoch {epoch} group {group:?} -> __consumer_offsets-0 in the transaction"
            ),
        ),
        Err((code, why)) => (
            code.code(),
            format!(
                "add_offsets_to_txn {id:?} producer {pid} epoch {epoch} group {group:?} -> {}: {why}",
                super::error_name(code.code())
            ),
        ),
    };
    (
        AddOffsetsToTxnResponse::default().with_error_code(code),
        line,
    )
}
