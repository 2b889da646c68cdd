//! DeleteRecords (key 21): move partitions' log start offsets forward. Test harnesses
//! clean up with it, and `kafka-delete-records` sends it.
//!
//! Flow: an admin client → **DeleteRecords** → `Partition::delete_records` →
//! `PartitionLog::delete_records` stores the new log start offset (`log/log_start.rs`)
//! and deletes the segments wholly below it → Fetch below it is OFFSET_OUT_OF_RANGE,
//! ListOffsets(earliest) and Fetch's `log_start_offset` show it.
//!
//! What must stay true:
//! - Offset `-1` means the high watermark (Kafka's `HIGH_WATERMARK`): delete everything.
//! - An offset past the high watermark (or below -1) is OFFSET_OUT_OF_RANGE; an unknown
//!   partition is UNKNOWN_TOPIC_OR_PARTITION; an internal topic is
//!   INVALID_TOPIC_EXCEPTION, as in Kafka. Each partition gets its own result.
//! - `low_watermark` is the log start offset after the call (-1 on error).
//! - Disk work runs on the blocking pool.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::log::LogError;
use crate::topics::name::is_internal;

/// DeleteRecords' "up to the high watermark".
pub const HIGH_WATERMARK: i64 = -1;

/// DeleteRecords v0–v2.
pub async fn handle(
    ctx: &BrokerContext,
    req: DeleteRecordsRequest,
    version: i16,
) -> (DeleteRecordsResponse, String) {
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut summary = Vec::new();
    for topic in req.topics {
        let name = topic.name.0.as_str().to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let (low, code) = match delete_one(ctx, &name, p.partition_index, p.offset).await {
                Ok(low) => {
                    summary.push(format!("{name}[{}] log start → {low}", p.partition_index));
                    (low, 0)
                }
                Err(code) => {
                    summary.push(format!(
                        "{name}[{}] before {}: {}",
                        p.partition_index,
                        p.offset,
                        super::error_name(code)
                    ));
                    (-1, code)
                }
            };
            partitions.push(
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(low)
                    .with_error_code(code),
            );
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    let line = format!("delete_records v{version} {}", summary.join(", "));
    (DeleteRecordsResponse::default().with_topics(topics), line)
}

/// Deletes the records of one partition below `offset`; the new log start offset, or
/// Kafka's error code.
async fn delete_one(ctx: &BrokerContext, topic: &str, index: i32, offset: i64) -> Result<i64, i16> {
    if is_internal(topic) {
        return Err(ResponseError::InvalidTopicException.code());
    }
    let partition = ctx
        .topics
        .partition(topic, index)
        .ok_or(ResponseError::UnknownTopicOrPartition.code())?;
    let offset = if offset == HIGH_WATERMARK {
        partition.high_watermark()
    } else {
        offset
    };
    let done = tokio::task::spawn_blocking(move || partition.delete_records(offset))
        .await
        .map_err(|_| ResponseError::UnknownServerError.code())?;
    done.map_err(|e| match e {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
        e => {
            tracing::error!("{topic}-{index}: DeleteRecords: {e}");
            ResponseError::KafkaStorageError.code()
        }
    })
}
