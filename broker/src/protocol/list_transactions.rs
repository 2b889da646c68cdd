//! ListTransactions (key 66, KIP-664): the transactional ids this coordinator knows, as
//! `kafka-transactions.sh list` shows them, filtered by state, by producer id and (v1,
//! KIP-994) by how long their transaction has been open: the way to find a hanging one.
//!
//! Flow: **ListTransactions** → `txn/coordinator.rs: transactions`.
//!
//! What must stay true: a state name Kafka does not know is echoed in
//! `unknown_state_filters` and matches nothing; Dead ids are never listed.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::txn::metadata::TxnState;

/// ListTransactions v0–v1.
pub async fn handle(
    ctx: &BrokerContext,
    req: ListTransactionsRequest,
    _version: i16,
) -> (ListTransactionsResponse, String) {
    let mut unknown = Vec::new();
    let mut states = Vec::new();
    for f in &req.state_filters {
        match TxnState::from_name(f.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(f.clone()),
        }
    }
    let now = crate::txn::now_ms();
    let listed: Vec<TransactionState> = ctx
        .txn
        .transactions()
        .into_iter()
        .filter(|m| m.state != TxnState::Dead)
        .filter(|m| req.state_filters.is_empty() || states.contains(&m.state))
        .filter(|m| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id)
        })
        .filter(|m| {
            req.duration_filter < 0 || (m.start >= 0 && now - m.start > req.duration_filter)
        })
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(kafka_protocol::messages::TransactionalId(
                    StrBytes::from_string(m.transactional_id.clone()),
                ))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(StrBytes::from_static_str(m.state.name()))
        })
        .collect();
    let line = format!(
        "list_transactions -> {}",
        listed
            .iter()
            .map(|t| format!(
                "{:?} {}",
                t.transactional_id.0.as_str(),
                t.transaction_state.as_str()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (
        ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown)
            .with_transaction_states(listed),
        line,
    )
}
