//! InitProducerId (key 22): the producer id and epoch a producer stamps on its batches
//! (bytes 43–52 of every batch): an idempotent producer's (Java clients from 3.0 on,
//! librdkafka with `enable.idempotence=true`), or a transactional producer's
//! (`init_transactions`).
//!
//! Flow: producer starts → **InitProducerId** → (producer id, epoch) → produce; each
//! partition then checks the epoch and sequence of every batch
//! (`log/producer_state.rs`).
//!
//! | request                                   | answer                                      |
//! |-------------------------------------------|---------------------------------------------|
//! | no transactional id, no producer id       | a fresh producer id, epoch 0                |
//! | no transactional id, its id and epoch (v3+, KIP-360: the producer lost track of a batch) | the same id, next epoch (a fresh id once exhausted) |
//! | a transactional id                        | the id's producer id and next epoch, from the transaction coordinator (`txn/coordinator.rs`), which aborts a transaction the id's previous holder left open, and fences that holder |
//! | a transactional id, `transaction_timeout_ms` above `transaction.max.timeout.ms` | INVALID_TRANSACTION_TIMEOUT |
//! | an empty transactional id, or only one of producer id and epoch | INVALID_REQUEST |
//!
//! What must stay true:
//! - Fresh ids come from the transaction coordinator's counter, which starts above
//!   every id in `__transaction_state`: no two producers of one data dir share an id.
//! - Below v4, PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH, as Kafka does.
//! - On an error the answer's producer id and epoch are -1.

use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::BrokerContext;

/// The first producer id of this run, before the transaction log is read: the start
/// time in milliseconds, so a data dir without transactional ids rarely meets an id of
/// an earlier run.
pub fn first_producer_id() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(1))
        .unwrap_or(1)
}

/// PRODUCER_FENCED as the request's version knows it: INVALID_PRODUCER_EPOCH before
/// `since` (Kafka's per-API downgrade).
pub fn fenced_as(code: ResponseError, version: i16, since: i16) -> ResponseError {
    if code == ResponseError::ProducerFenced && version < since {
        ResponseError::InvalidProducerEpoch
    } else {
        code
    }
}

/// InitProducerId v0–v4.
pub async fn handle(
    ctx: &BrokerContext,
    req: InitProducerIdRequest,
    version: i16,
) -> (InitProducerIdResponse, String) {
    let current = match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => None,
        (id, epoch) if id >= 0 && epoch >= 0 => Some((id, epoch)),
        (id, epoch) => {
            return refused(
                ResponseError::InvalidRequest,
                format!("producer id {id} with epoch {epoch}: give both or neither"),
            )
        }
    };
    match req.transactional_id.as_ref().map(|t| t.0.to_string()) {
        Some(id) => {
            let txn = ctx.txn.clone();
            let timeout = req.transaction_timeout_ms;
            let tid = id.clone();
            let result =
                tokio::task::spawn_blocking(move || txn.init_producer_id(&tid, timeout, current))
                    .await;
            match result {
                Ok(Ok((pid, epoch))) => answer(
                    pid,
                    epoch,
                    format!("init_producer_id transactional id {id:?} -> producer id {pid}, epoch {epoch}"),
                ),
                Ok(Err(e)) => refused(
                    fenced_as(e.code, version, 4),
                    format!("init_producer_id transactional id {id:?}: {}", e.reason),
                ),
                Err(e) => refused(
                    ResponseError::CoordinatorNotAvailable,
                    format!("init_producer_id transactional id {id:?}: the task failed: {e}"),
                ),
            }
        }
        None => {
            let (id, epoch) = match current {
                Some((id, epoch)) if epoch < i16::MAX - 1 => (id, epoch + 1),
                _ => (ctx.txn.new_producer_id(), 0),
            };
            answer(
                id,
                epoch,
                format!("init_producer_id -> producer id {id}, epoch {epoch}"),
            )
        }
    }
}

fn answer(id: i64, epoch: i16, line: String) -> (InitProducerIdResponse, String) {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    (resp, line)
}

fn refused(code: ResponseError, why: String) -> (InitProducerIdResponse, String) {
    let resp = InitProducerIdResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let line = format!("{why} -> {}", super::error_name(code.code()));
    (resp, line)
}
