//! DescribeProducers (key 61, KIP-664): what a partition knows of each idempotent or
//! transactional producer that wrote to it, as `kafka-transactions.sh
//! describe-producers` shows it: producer id, epoch, last sequence, last timestamp,
//! and the first offset of its open transaction (the one holding the last stable offset
//! back, when a transaction hangs).
//!
//! Flow: **DescribeProducers** → `Partition::producers` → `log/producer_state.rs`.
//!
//! What must stay true: one answer per requested partition, in request order; an
//! unknown partition gets UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::BrokerContext;

/// DescribeProducers v0.
pub async fn handle(
    ctx: &BrokerContext,
    req: DescribeProducersRequest,
    _version: i16,
) -> (DescribeProducersResponse, String) {
    let mut lines = Vec::new();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&i| {
                    let answer = PartitionResponse::default().with_partition_index(i);
                    let Some(p) = ctx.topics.partition(name, i) else {
                        lines.push(format!("{name}[{i}] -> UNKNOWN_TOPIC_OR_PARTITION"));
                        return answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let mut producers: Vec<ProducerState> = p
                        .producers()
                        .entries()
                        .map(|e| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(e.producer_id))
                                .with_producer_epoch(i32::from(e.epoch))
                                .with_last_sequence(e.last_seq().unwrap_or(-1))
                                .with_last_timestamp(e.last_timestamp)
                                .with_coordinator_epoch(e.coordinator_epoch)
                                .with_current_txn_start_offset(
                                    e.current_txn_first_offset.unwrap_or(-1),
                                )
                        })
                        .collect();
                    producers.sort_by_key(|s| s.producer_id.0);
                    lines.push(format!("{name}[{i}] -> {} producers", producers.len()));
                    answer.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    (
        DescribeProducersResponse::default().with_topics(topics),
        format!("describe_producers {}", lines.join(", ")),
    )
}
