//! DescribeTransactions (key 65, KIP-664): the state of transactional ids, as
//! `kafka-transactions.sh describe` shows it: state, timeout, start time, producer id
//! and epoch, and the partitions in the open transaction.
//!
//! Flow: **DescribeTransactions** → `txn/coordinator.rs: transactions`.
//!
//! What must stay true: one answer per requested id, in request order; an id the
//! coordinator does not know gets TRANSACTIONAL_ID_NOT_FOUND, an empty one
//! INVALID_REQUEST, as Kafka answers.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;

/// DescribeTransactions v0.
pub async fn handle(
    ctx: &BrokerContext,
    req: DescribeTransactionsRequest,
    _version: i16,
) -> (DescribeTransactionsResponse, String) {
    let known: BTreeMap<String, _> = ctx
        .txn
        .transactions()
        .into_iter()
        .map(|m| (m.transactional_id.clone(), m))
        .collect();
    let mut lines = Vec::new();
    let states = req
        .transactional_ids
        .iter()
        .map(|id| {
            let answer = TransactionState::default().with_transactional_id(id.clone());
            let name = id.0.as_str();
            if name.is_empty() {
                lines.push("\"\" -> INVALID_REQUEST".to_string());
                return answer.with_error_code(ResponseError::InvalidRequest.code());
            }
            let Some(m) = known.get(name) else {
                lines.push(format!("{name:?} -> TRANSACTIONAL_ID_NOT_FOUND"));
                return answer.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in &m.partitions {
                by_topic.entry(t).or_default().push(*p);
            }
            lines.push(format!("{name:?} -> {}", m.state.name()));
            answer
                .with_transaction_state(StrBytes::from_static_str(m.state.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start)
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.epoch)
                .with_topics(
                    by_topic
                        .into_iter()
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                                .with_partitions(ps)
                        })
                        .collect(),
                )
        })
        .collect();
    (
        DescribeTransactionsResponse::default().with_transaction_states(states),
        format!("describe_transactions {}", lines.join(", ")),
    )
}
