//! Produce (key 0): record batches in, offsets out.
//!
//! Flow: producer → partitioner → wire → server → connection → **produce** →
//! `Partition::append` (partition log → segment) → wakes fetches waiting on
//! `Partition::appended` → fetch → consumer.
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
//!   magic, CRC-32C), INVALID_RECORD (inconsistent records) or MESSAGE_TOO_LARGE
//!   (`BatchError::kafka_error_code`), and **nothing** of that partition's records is
//!   stored: all batches are checked before the first one is appended.
//! - The batches are stored byte for byte as sent, except the base offset (bytes
//!   0–7), which the log assigns. The CRC does not cover it, so it stays valid.
//! - The response carries the base offset of the first batch and the log start offset.
//! - Appends (disk I/O, maybe fsync) run on the blocking pool.

use std::ops::Range;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::log::record_batch::{self, BatchError, HEADER_LEN, LOG_OVERHEAD};
use crate::log::{AppendInfo, LogError};

/// One partition's outcome: where its records landed, or a Kafka error.
type PartitionOutcome = Result<Vec<AppendInfo>, (i16, String)>;

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

/// Checks and appends the records of one partition.
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
        let batches = split_batches(&records)?;
        if batches.is_empty() {
            return Err(BatchError::InvalidRecords("no record batch in the request".into()).into());
        }
        // `append` validates each batch it gets. With several batches, check them all
        // first, so that a bad second batch does not leave the first one stored.
        if batches.len() > 1 {
            let max = partition.log.config().max_message_bytes as usize;
            for range in &batches {
                record_batch::validate(&records[range.clone()], max)?;
            }
        }
        // `append` writes the base offset in place, so each batch is copied out of
        // the shared request buffer once.
        let mut infos = Vec::with_capacity(batches.len());
        for range in batches {
            let mut batch = records[range].to_vec();
            infos.push(partition.append(&mut batch)?);
        }
        Ok::<_, LogError>(infos)
    })
    .await;
    match appended {
        Ok(Ok(infos)) => Ok(infos),
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

/// Splits `records` into the byte ranges of its batches using each batch's
/// `batchLength` (bytes 8–11). Only the framing is checked here; magic, CRC-32C,
/// records and size are `record_batch::validate`'s job.
pub fn split_batches(records: &[u8]) -> Result<Vec<Range<usize>>, BatchError> {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() < HEADER_LEN {
            return Err(BatchError::BadLength(format!(
                "{} bytes at position {at} are too few for a batch header ({HEADER_LEN})",
                rest.len()
            )));
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let total = usize::try_from(length)
            .ok()
            .map(|l| l + LOG_OVERHEAD)
            .filter(|&t| t >= HEADER_LEN && t <= rest.len())
            .ok_or_else(|| {
                BatchError::BadLength(format!(
                    "batch at position {at} declares batchLength {length}, but {} bytes follow",
                    rest.len() - LOG_OVERHEAD
                ))
            })?;
        batches.push(at..at + total);
        at += total;
    }
    Ok(batches)
}

fn partition_response(
    index: i32,
    outcome: PartitionOutcome,
    version: i16,
) -> PartitionProduceResponse {
    let resp = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(infos) => {
            let base = infos.first().map_or(-1, |i| i.base_offset);
            let log_start = infos.last().map_or(-1, |i| i.log_start_offset);
            resp.with_base_offset(base).with_log_start_offset(log_start)
        }
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

/// `demo-topic[1] 3 records -> offsets 12..14 (segment 0, byte 4096)`.
fn describe(topic: &str, index: i32, outcome: &PartitionOutcome) -> String {
    match outcome {
        Ok(infos) => {
            let (Some(first), Some(last)) = (infos.first(), infos.last()) else {
                return format!("{topic}[{index}] nothing stored");
            };
            let records: i64 = infos.iter().map(|i| i64::from(i.record_count)).sum();
            let batches = if infos.len() > 1 {
                format!(" in {} batches", infos.len())
            } else {
                String::new()
            };
            format!(
                "{topic}[{index}] {records} records{batches} -> offsets {}..{} (segment {}, byte {})",
                first.base_offset, last.last_offset, first.segment_base, first.position
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

#[cfg(test)]
mod tests {
    use super::split_batches;
    use crate::log::record_batch::{build, Compression, NewRecord};

    fn one_batch(value: &str) -> Vec<u8> {
        let record = NewRecord {
            key: None,
            value: Some(value.as_bytes().to_vec().into()),
            headers: Vec::new(),
            timestamp: 1000,
        };
        build(&[record], 1000, Compression::None)
    }

    #[test]
    fn splits_back_to_back_batches() {
        let a = one_batch("a");
        let b = one_batch("bb");
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let ranges = split_batches(&both).expect("valid framing");
        assert_eq!(ranges, [0..a.len(), a.len()..a.len() + b.len()]);
        assert_eq!(split_batches(&[]).expect("empty is fine"), []);
    }

    #[test]
    fn rejects_bad_framing() {
        let a = one_batch("a");
        assert!(split_batches(&a[..a.len() - 1]).is_err(), "cut short");
        assert!(split_batches(&a[..20]).is_err(), "shorter than a header");
        let mut lying = a.clone();
        lying[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(split_batches(&lying).is_err(), "negative length");
    }
}
