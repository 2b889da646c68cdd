//! Produce (key 0): record batches in, offsets out.
//!
//! Flow: producer → partitioner → wire → server → connection → **produce** →
//! `Partition::append` (partition log → segment) → wakes fetches waiting on
//! `Partition::subscribe` → fetch → consumer.
//!
//! # Request, as used here (v3–v9; v9+ is flexible)
//!
//! | field                | meaning                                               |
//! |----------------------|-------------------------------------------------------|
//! | transactional_id     | null unless transactional (not supported: ignored)    |
//! | acks i16             | 0 = no response at all (a failure closes the          |
//! |                      | connection instead), 1 = after the leader wrote it,    |
//! |                      | -1 = after all in-sync replicas did (here: same as 1) |
//! | timeout_ms i32       | replication wait; one node has nothing to wait for    |
//! | topic_data[]         | name, then partition_data[]: index i32, records bytes |
//!
//! `records` holds one or more v2 record batches back to back (see
//! `log::record_batch` for their byte table). Real clients send exactly one per
//! partition (Kafka even requires it from v3 on); this broker also accepts several and
//! appends them in order.
//!
//! What must stay true:
//! - Every partition gets its own result. A bad batch gets CORRUPT_MESSAGE (framing,
//!   magic, CRC-32C), INVALID_RECORD (inconsistent records, or no batch at all) or
//!   MESSAGE_TOO_LARGE (`BatchError::kafka_error_code`), and **nothing** of that
//!   partition's records is stored: `PartitionLog::append` frames the records
//!   (`record_batch::split_exact`) and validates every batch (`record_batch::validate`)
//!   before the first one is written. This file parses no batch bytes itself.
//! - The batches are stored byte for byte as sent, except the base offset (bytes
//!   0–7), which the log assigns. The CRC does not cover it, so it stays valid.
//! - The response carries the base offset of the first batch and the log start offset.
//! - Appends (disk I/O, maybe fsync) run on the blocking pool.

use crate::explain::{count, offsets};
use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::log::{AppendInfo, LogError};

/// One partition's outcome: where its records landed, or a Kafka error.
type PartitionOutcome = Result<AppendInfo, (i16, String)>;

/// Produce v3–v9. The caller sends no response at all when `acks == 0`.
pub async fn handle(
    ctx: &BrokerContext,
    req: ProduceRequest,
    version: i16,
) -> (ProduceResponse, String) {
    let acks = req.acks;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut lines = Vec::new();
    for topic in req.topic_data {
        let name = topic.name.0.as_str().to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let outcome = if !matches!(acks, -1..=1) {
                Err((
                    ResponseError::InvalidRequiredAcks.code(),
                    format!("acks must be -1, 0 or 1, got {acks}"),
                ))
            } else {
                if ctx.config.explain {
                    explain_choice(ctx, &name, data.index, data.records.as_ref());
                }
                produce_partition(ctx, &name, data.index, data.records).await
            };
            lines.push(describe(&name, data.index, &outcome));
            partitions.push(partition_response(data.index, outcome, version));
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    let line = format!("produce acks={acks} {}", lines.join("; "));
    (ProduceResponse::default().with_responses(responses), line)
}

/// The explain line of the partition a producer chose (explain mode only).
fn explain_choice(ctx: &BrokerContext, topic: &str, index: i32, records: Option<&Bytes>) {
    let partitions = ctx
        .topics
        .get(topic)
        .map_or_else(|| "unknown".to_string(), |t| t.partitions.len().to_string());
    crate::explain::line(
        "protocol/produce.rs produce::handle",
        format_args!(
            "the producer chose partition {index} of {topic} (partition count {partitions}) for {} bytes of record batches; the client's partitioner picks it (murmur2(key) mod partitions for a keyed record), the broker only stores",
            records.map_or(0, Bytes::len),
        ),
    );
}

/// Appends the records of one partition: one call to `Partition::append`, which frames
/// the batches, validates each once, and stores all of them or none.
async fn produce_partition(
    ctx: &BrokerContext,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
) -> PartitionOutcome {
    let Some(partition) = ctx.topics.partition(topic, index) else {
        return Err((
            ResponseError::UnknownTopicOrPartition.code(),
            format!("this broker has no partition {topic}[{index}]"),
        ));
    };
    let records = records.unwrap_or_default();
    let appended = tokio::task::spawn_blocking(move || {
        // The log writes each batch's base offset in place, so the records are copied
        // out of the shared request buffer once.
        partition.append(&mut records.to_vec())
    })
    .await;
    match appended {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(LogError::InvalidBatch(e))) => Err((
            e.kafka_error_code(),
            format!("batch for {topic}[{index}] rejected: {e}"),
        )),
        Ok(Err(e)) => {
            tracing::warn!("append to {topic}[{index}] failed: {e}");
            Err((ResponseError::KafkaStorageError.code(), e.to_string()))
        }
        Err(e) => Err((
            ResponseError::UnknownServerError.code(),
            format!("append to {topic}[{index}] did not finish: {e}"),
        )),
    }
}

fn partition_response(
    index: i32,
    outcome: PartitionOutcome,
    version: i16,
) -> PartitionProduceResponse {
    let resp = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(info) => resp
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time)
            .with_log_start_offset(info.log_start_offset),
        Err((code, message)) => {
            let resp = resp
                .with_error_code(code)
                .with_base_offset(-1)
                .with_log_start_offset(-1);
            // error_message exists from v8 on.
            if version >= 8 {
                resp.with_error_message(Some(StrBytes::from_string(message)))
            } else {
                resp
            }
        }
    }
}

/// `demo-topic[1] 3 records -> offsets 12 to 14 (segment 0, byte 4096)`.
fn describe(topic: &str, index: i32, outcome: &PartitionOutcome) -> String {
    match outcome {
        Ok(info) => {
            let batches = if info.batch_count > 1 {
                format!(" in {}", count(info.batch_count, "batch"))
            } else {
                String::new()
            };
            format!(
                "{topic}[{index}] {}{batches} -> {} (segment {}, byte {})",
                count(info.record_count, "record"),
                offsets(info.base_offset, info.last_offset),
                info.segment_base,
                info.position
            )
        }
        Err((code, message)) => {
            format!(
                "{topic}[{index}] rejected: {}: {message}",
                super::error_name(*code)
            )
        }
    }
}
