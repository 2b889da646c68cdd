//! InitProducerId (key 22): the producer id an idempotent producer stamps on its
//! batches (Java clients from 3.0 on, librdkafka with `enable.idempotence=true`).
//!
//! Flow: producer starts → **InitProducerId** → (producer id, epoch) written into
//! bytes 43–52 of every batch it sends → produce.
//!
//! What this broker does, and does not:
//! - Each call without a producer id gets a fresh id with epoch 0. Ids start from
//!   the start time in milliseconds, so a new run does not reuse an earlier run's
//!   ids unless that run handed out more ids than milliseconds it lived.
//! - A call that names its current id and epoch (v3+, after an epoch bump request)
//!   gets the same id with the next epoch, or a fresh id when the epoch would
//!   overflow.
//! - Each partition then checks the epoch and sequence of every batch the producer
//!   sends and answers a retried batch with its original offsets instead of writing it
//!   twice (`log/producer_state.rs`).
//!
//! What must stay true:
//! - Fresh ids come from one atomic counter, `BrokerContext::next_producer_id`: no
//!   two calls of one run get the same fresh id.
//! - No producer state is kept: an epoch bump is computed from the request alone.
//! - A non-empty transactional id is always refused with
//!   TRANSACTIONAL_ID_AUTHORIZATION_FAILED (no transactions), which clients report
//!   as a clear, fatal error.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::BrokerContext;

/// The first producer id of this run.
pub fn first_producer_id() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(1))
        .unwrap_or(1)
}

/// InitProducerId v0–v4.
pub async fn handle(
    ctx: &BrokerContext,
    req: InitProducerIdRequest,
    _version: i16,
) -> (InitProducerIdResponse, String) {
    if let Some(id) = req.transactional_id.as_ref().filter(|id| !id.0.is_empty()) {
        let line = format!(
            "init_producer_id transactional id {:?} -> TRANSACTIONAL_ID_AUTHORIZATION_FAILED \
             (transactions are not supported)",
            id.0.as_str()
        );
        let resp = InitProducerIdResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        return (resp, line);
    }
    let (id, epoch) = if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
        match req.producer_epoch.checked_add(1) {
            Some(next) => (req.producer_id.0, next),
            None => (ctx.next_producer_id.fetch_add(1, Ordering::Relaxed), 0),
        }
    } else {
        (ctx.next_producer_id.fetch_add(1, Ordering::Relaxed), 0)
    };
    let line = format!("init_producer_id -> producer id {id}, epoch {epoch}");
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    (resp, line)
}
