//! One ProduceRequest to one leader, and what becomes of each batch in it: the request
//! is written at once (so requests leave in the order the sender drained them), its
//! answer gives each batch a base offset or an error, and `settle` delivers the
//! records, puts the batch back for a retry, or fails it for good.
//!
//! What must stay true:
//! - An idempotent producer's batch gets its sequence when it is first sent and keeps
//!   it through retries (the encoded batch is reused).
//! - Every batch is settled exactly once per attempt: delivered, requeued after the
//!   backoff (its partition held in flight meanwhile), or failed; its buffer memory is
//!   given back when it leaves for good.

use std::sync::Arc;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::ProduceRequest;

use super::{lock, Shared};
use crate::config::Acks;
use crate::error::{Error, Result};
use crate::native::accumulator::ProducerBatch;
use crate::native::batch::ProducerIds;
use crate::native::connection::Connection;
use crate::native::idempotence::OnFailure;
use crate::native::metadata::topic_name;

/// Settle one batch with its answer: deliver its records, put it back for a retry (after the
/// backoff, keeping its partition in flight), or fail its records.
pub(super) async fn settle(s: &Shared, mut batch: ProducerBatch, mut result: Result<i64>) {
    let (topic, partition) = batch.tp.clone();
    let retries = s.config.client.retries;
    // A transaction that can only be aborted (or a fenced producer) retries nothing.
    if let (Err(_), Some(stopped)) = (&result, s.txn_stopped()) {
        result = Err(stopped);
        batch.settle(result);
        s.memory.add_permits(batch.memory);
        lock(&s.acc).complete(&batch.tp);
        return;
    }
    let decision = match (&result, &s.idempotence, batch.sequence) {
        (Ok(_), Some(idem), Some(seq)) => {
            lock(idem).on_success(&batch.tp, seq, batch.count());
            None
        }
        (Ok(_), _, _) => None,
        (Err(e), Some(idem), Some(seq)) => {
            Some(lock(idem).on_failure(&batch.tp, seq, e, batch.attempts, retries))
        }
        (Err(e), _, _) if e.is_retriable() && batch.attempts < retries => {
            Some(OnFailure::Retry { counts: true })
        }
        (Err(_), _, _) => None,
    };
    match decision {
        Some(OnFailure::Retry { counts }) => {
            if let Err(e) = &result {
                tracing::debug!(%topic, partition, attempt = batch.attempts + 1, error = %e, "produce failed, retrying");
                if e.needs_metadata_refresh() {
                    s.cluster.invalidate(&topic);
                }
            }
            // The partition stays in flight during the backoff; an idempotent producer
            // also holds back its newer batches, so nothing overtakes this one.
            let hold = s.idempotence.is_some();
            if hold {
                lock(&s.acc).hold(&batch.tp);
            }
            tokio::time::sleep(s.config.client.retry_backoff).await;
            lock(&s.acc).requeue(batch, counts, hold);
            return;
        }
        Some(OnFailure::FailAndBump) => match (&s.txn, &result) {
            // In a transaction: only an abort can follow; it bumps the epoch.
            (Some(_), Err(e)) => s.txn_failed(e),
            _ => {
                if let Some(idem) = &s.idempotence {
                    lock(idem).needs_bump = true;
                }
            }
        },
        Some(OnFailure::Fatal(reason)) => {
            tracing::error!(%topic, partition, "the idempotent producer stops: {reason}");
            s.txn_failed(&Error::ProducerFailed {
                reason: reason.clone(),
            });
            if let Some(idem) = &s.idempotence {
                lock(idem).fatal.get_or_insert(reason.clone());
            }
            result = Err(Error::ProducerFailed { reason });
        }
        None => {}
    }
    if let Err(e) = &result {
        tracing::warn!(%topic, partition, error = %e, "produce failed");
    }
    batch.settle(result);
    s.memory.add_permits(batch.memory);
    lock(&s.acc).complete(&batch.tp);
}

/// Write one ProduceRequest to one leader for `batches` now; the future resolves to each
/// batch's base offset (-1 with acks=0) or error.
pub(super) fn produce(
    s: &Shared,
    conn: &Arc<Connection>,
    batches: Vec<ProducerBatch>,
) -> impl std::future::Future<Output = Vec<(ProducerBatch, Result<i64>)>> + Send + 'static {
    let mut out = Vec::with_capacity(batches.len());
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut sent = Vec::with_capacity(batches.len());
    for mut batch in batches {
        // An idempotent producer's batch gets its sequence when it is first sent.
        let ids = match &s.idempotence {
            Some(idem) if !batch.is_encoded() => {
                let mut i = lock(idem);
                let base_sequence = i.assign(&batch.tp, batch.count());
                Some(ProducerIds {
                    producer_id: i.producer_id,
                    epoch: i.epoch,
                    base_sequence,
                    transactional: s.txn.is_some(),
                })
            }
            _ => None,
        };
        let bytes = match batch.encoded(s.config.compression, ids) {
            Ok(b) => b,
            Err(message) => {
                let e = Error::InvalidRecord {
                    topic: batch.tp.0.clone(),
                    message,
                };
                out.push((batch, Err(e)));
                continue;
            }
        };
        let (topic, partition) = &batch.tp;
        let data = PartitionProduceData::default()
            .with_index(*partition)
            .with_records(Some(bytes));
        match topics
            .iter_mut()
            .find(|t| t.name.as_str() == topic.as_str())
        {
            Some(t) => t.partition_data.push(data),
            None => {
                let mut t = TopicProduceData::default();
                t.name = topic_name(topic);
                t.partition_data = vec![data];
                topics.push(t);
            }
        }
        sent.push(batch);
    }
    let mut req = ProduceRequest::default();
    req.acks = s.config.acks.as_i16();
    req.timeout_ms = i32::try_from(s.config.client.request_timeout.as_millis()).unwrap_or(i32::MAX);
    req.topic_data = topics;

    let addr = conn.addr().to_string();
    let forget = {
        let cluster = s.cluster.clone();
        move |addr: &str| cluster.forget_connection(addr)
    };
    let answer = if sent.is_empty() {
        None
    } else if s.config.acks == Acks::None {
        // No response comes; the batches are done once queued for the socket.
        let result = conn.send_no_response(&req).map(|_| -1);
        if result.is_err() {
            forget(&addr);
        }
        out.extend(sent.drain(..).map(|b| (b, result.clone())));
        None
    } else {
        Some(conn.start(&req))
    };
    async move {
        let Some(answer) = answer else {
            return out;
        };
        let resp = match answer {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                forget(&addr);
                out.extend(sent.into_iter().map(|b| (b, Err(e.clone()))));
                return out;
            }
        };
        for batch in sent {
            let (topic, partition) = &batch.tp;
            let answer = resp
                .responses
                .iter()
                .filter(|t| t.name.as_str() == topic.as_str())
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == *partition);
            let result = match answer {
                None => Err(Error::Protocol {
                    addr: addr.clone(),
                    api: "Produce",
                    message: format!("the response has no answer for {topic}[{partition}]"),
                }),
                Some(p) if p.error_code != 0 => {
                    let detail = p
                        .error_message
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default();
                    Err(Error::kafka(
                        p.error_code,
                        format!("produce to {topic}[{partition}]{detail}"),
                    ))
                }
                Some(p) => Ok(p.base_offset),
            };
            out.push((batch, result));
        }
        out
    }
}
