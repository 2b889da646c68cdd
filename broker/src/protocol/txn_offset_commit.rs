//! TxnOffsetCommit (API 28): a consumer's offsets, committed as part of a producer's
//! transaction. Two coordinators take part: the transaction coordinator checks that
//! the producer holds the transactional id at this epoch and that AddOffsetsToTxn put
//! the group's offsets partition into its transaction; then the group coordinator
//! writes the offsets as transactional records (`group/txn_offset_commit.rs`), which
//! become visible when the transaction commits.
//!
//! What must stay true: nothing is written for a producer the transaction coordinator
//! refuses (fenced, or no open transaction with the offsets partition in it).

use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::{init_producer_id, BrokerContext};

/// Handles one TxnOffsetCommit: the transaction side first, then the group's.
pub async fn handle(
    ctx: &BrokerContext,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> (TxnOffsetCommitResponse, String) {
    let txn = ctx.txn.clone();
    let (id, pid, epoch) = (
        req.transactional_id.0.to_string(),
        req.producer_id.0,
        req.producer_epoch,
    );
    let check = tokio::task::spawn_blocking(move || txn.check_offsets_added(&id, pid, epoch))
        .await
        .map_err(|e| (ResponseError::CoordinatorNotAvailable, e.to_string()))
        .and_then(|r| r.map_err(|e| (init_producer_id::fenced_as(e.code, version, 2), e.reason)));
    crate::group::txn_offset_commit::handle(&ctx.groups, req, version, check).await
}
