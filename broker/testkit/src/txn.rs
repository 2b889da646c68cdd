//! Transactions on the wire: the requests of a transactional producer, one call each
//! (InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn, a transactional Produce), for tests that need committed and
//! aborted transactions in a topic without a transactional client.
//!
//! Each returns the error code(s) Kafka answers, so a test can check refusals too;
//! [`states`] is what ListTransactions says of every transactional id.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::wire::{topic_name, Client};

/// A transactional id.
pub fn tid(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

/// InitProducerId v4 for `id`; (error, producer id, epoch).
pub async fn init(c: &mut Client, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(tid(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let r: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &req).await;
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn v3; the error of each partition.
pub async fn add_partitions(
    c: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(&str, i32)],
) -> Vec<i16> {
    let topics = parts
        .iter()
        .map(|(t, p)| {
            AddPartitionsToTxnTopic::default()
                .with_name(topic_name(t))
                .with_partitions(vec![*p])
        })
        .collect();
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics);
    let r: AddPartitionsToTxnResponse = c.call(ApiKey::AddPartitionsToTxn, 3, &req).await;
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

pub async fn add_offsets(c: &mut Client, id: &str, pid: i64, epoch: i16, group: &str) -> i16 {
    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())));
    let r: AddOffsetsToTxnResponse = c.call(ApiKey::AddOffsetsToTxn, 3, &req).await;
    r.error_code
}

pub async fn txn_commit_offset(
    c: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    group: &str,
    topic: &str,
    offset: i64,
) -> i16 {
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(tid(id))
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)])]);
    let r: TxnOffsetCommitResponse = c.call(ApiKey::TxnOffsetCommit, 3, &req).await;
    r.topics[0].partitions[0].error_code
}

pub async fn end(c: &mut Client, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(tid(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let r: EndTxnResponse = c.call(ApiKey::EndTxn, 3, &req).await;
    r.error_code
}

/// Produce v9 of one transactional (or any) batch to partition 0; the error code.
pub async fn produce(c: &mut Client, topic: &str, batch: Bytes) -> i16 {
    let mut req = crate::wire::produce_request(topic, 0, batch, -1);
    req.transactional_id = Some(tid("ignored-by-the-broker"));
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &req).await;
    r.responses[0].partition_responses[0].error_code
}

/// ListTransactions v0, every state: transactional id → state name (`Ongoing`,
/// `PrepareCommit`, `CompleteAbort`, ...), or `None` while the coordinator answers an
/// error (still loading after a start).
pub async fn states(c: &mut Client) -> Option<BTreeMap<String, String>> {
    let resp: ListTransactionsResponse = crate::within(
        "ListTransactions",
        c.call(
            ApiKey::ListTransactions,
            0,
            &ListTransactionsRequest::default(),
        ),
    )
    .await;
    (resp.error_code == 0).then(|| {
        resp.transaction_states
            .iter()
            .map(|t| {
                (
                    t.transactional_id.to_string(),
                    t.transaction_state.to_string(),
                )
            })
            .collect()
    })
}
