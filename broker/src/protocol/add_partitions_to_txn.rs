//! AddPartitionsToTxn (key 24): before a transactional producer's first record to a
//! partition, it tells the transaction coordinator, so that partition gets a marker
//! when the transaction ends.
//!
//! Flow: `begin_transaction` → send to a new partition → **AddPartitionsToTxn** →
//! `txn/coordinator.rs: add_partitions` (state Ongoing, written to
//! `__transaction_state`) → Produce (transactional batches).
//!
//! Versions 0–3 (one transaction per request; v3 is flexible). v4+ batch several
//! transactions and are for brokers only (KIP-890), so they are not served.
//!
//! What must stay true:
//! - A partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION and the others
//!   OPERATION_NOT_ATTEMPTED, and nothing is added, as in Kafka.
//! - The coordinator's error (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED — as
//!   INVALID_PRODUCER_EPOCH below v2 —, CONCURRENT_TRANSACTIONS) is every partition's.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::ResponseError;

use super::init_producer_id::fenced_as;
use super::BrokerContext;

/// AddPartitionsToTxn v0–v3.
pub async fn handle(
    ctx: &BrokerContext,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> (AddPartitionsToTxnResponse, String) {
    let id = req.v3_and_below_transactional_id.0.to_string();
    let (pid, epoch) = (
        req.v3_and_below_producer_id.0,
        req.v3_and_below_producer_epoch,
    );
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect();
    let unknown: Vec<&(String, i32)> = wanted
        .iter()
        .filter(|(t, p)| ctx.topics.partition(t, *p).is_none())
        .collect();
    let outcome: Result<(), (ResponseError, String)> = if !unknown.is_empty() {
        Err((
            ResponseError::OperationNotAttempted,
            format!(
                "{} does not exist",
                unknown
                    .iter()
                    .map(|(t, p)| format!("{t}[{p}]"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    } else {
        let txn = ctx.txn.clone();
        let (tid, parts) = (id.clone(), wanted.clone());
        match tokio::task::spawn_blocking(move || txn.add_partitions(&tid, pid, epoch, &parts))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err((fenced_as(e.code, version, 2), e.reason)),
            Err(e) => Err((ResponseError::CoordinatorNotAvailable, e.to_string())),
        }
    };
    let code_of = |t: &str, p: i32| match &outcome {
        Ok(()) => 0,
        Err((ResponseError::OperationNotAttempted, _)) if ctx.topics.partition(t, p).is_none() => {
            ResponseError::UnknownTopicOrPartition.code()
        }
        Err((code, _)) => code.code(),
    };
    let results = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code_of(t.name.0.as_str(), p))
                        })
                        .collect(),
                )
        })
        .collect();
    let list = wanted
        .iter()
        .map(|(t, p)| format!("{t}[{p}]"))
        .collect::<Vec<_>>()
        .join(", ");
    let line = match &outcome {
        Ok(()) => format!(
            "add_partitions_to_txn {id:?} producer {pid} epoch {epoch}: {list} -> in the transaction"
        ),
        Err((code, why)) => format!(
            "add_partitions_to_txn {id:?} producer {pid} epoch {epoch}: {list} -> {}: {why}",
            super::error_name(code.code())
        ),
    };
    (
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results),
        line,
    )
}
