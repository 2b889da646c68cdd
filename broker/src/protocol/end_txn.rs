//! EndTxn (key 26): commit or abort the open transaction.
//!
//! Flow: `commit_transaction` / `abort_transaction` → **EndTxn** →
//! `txn/coordinator.rs: end_txn` → PrepareCommit/PrepareAbort in `__transaction_state`
//! → a COMMIT or ABORT marker in every partition of the transaction
//! (`Partition::append_marker`; `__consumer_offsets` through the group coordinator) →
//! CompleteCommit/CompleteAbort → the answer. The last stable offsets move on, and
//! `read_committed` consumers read what was committed.
//!
//! Versions 0–4 (v3+ flexible). v5 (KIP-890's "transaction v2", an epoch bump with
//! every transaction) is not served. A retry of an EndTxn that already completed the
//! same way gets NONE; the other way, INVALID_TXN_STATE. PRODUCER_FENCED is
//! INVALID_PRODUCER_EPOCH below v2.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};
use kafka_protocol::ResponseError;

use super::init_producer_id::fenced_as;
use super::BrokerContext;

/// EndTxn v0–v4.
pub async fn handle(
    ctx: &BrokerContext,
    req: EndTxnRequest,
    version: i16,
) -> (EndTxnResponse, String) {
    let id = req.transactional_id.0.to_string();
    let (pid, epoch, commit) = (req.producer_id.0, req.producer_epoch, req.committed);
    let txn = ctx.txn.clone();
    let tid = id.clone();
    let outcome =
        match tokio::task::spawn_blocking(move || txn.end_txn(&tid, pid, epoch, commit)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err((fenced_as(e.code, version, 2), e.reason)),
            Err(e) => Err((ResponseError::CoordinatorNotAvailable, e.to_string())),
        };
    let what = if commit { "commit" } else { "abort" };
    let (code, line) = match outcome {
        Ok(()) => (
            0,
            format!("end_txn {id:?} producer {pid} epoch {epoch} {what} -> done"),
        ),
        Err((code, why)) => (
            code.code(),
            format!(
                "end_txn {id:?} producer {pid} epoch {epoch} {what} -> {}: {why}",
                super::error_name(code.code())
            ),
        ),
    };
    (EndTxnResponse::default().with_error_code(code), line)
}
