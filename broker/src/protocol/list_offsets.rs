//! ListOffsets (key 2): where a consumer should start reading.
//!
//! Flow: consumer with no committed offset → **ListOffsets** (earliest or latest, as
//! its `auto.offset.reset` says) → fetch from that offset.
//!
//! | timestamp asked | answer                                                      |
//! |-----------------|-------------------------------------------------------------|
//! | -2 (EARLIEST)   | the log start offset                                        |
//! | -1 (LATEST)     | the high watermark (= the log end offset on one replica):   |
//! |                 | the offset the next record will get                         |
//! | -3 (MAX_TIMESTAMP, v7+) | the record with the largest timestamp (the first of |
//! |                 | several), with that timestamp; -1 and -1 on an empty log    |
//! | t >= 0          | the first offset whose timestamp is >= t, with its timestamp; |
//! |                 | offset -1 and timestamp -1 when no record is that new       |
//!
//! With `isolation_level=1` (read_committed, v2+), LATEST is the last stable offset,
//! and a timestamp lookup answers only below it, as Kafka's `lastFetchableOffset`.
//!
//! What must stay true: one result per requested partition; an unknown partition gets
//! UNKNOWN_TOPIC_OR_PARTITION; every answer comes from `topics::Partition`
//! (`log_start_offset`, `high_watermark`, `offset_for_timestamp`,
//! `offset_of_max_timestamp`); the timestamp lookups read the log on the blocking pool.
//! -3 before v7 is INVALID_REQUEST, as other negative timestamps are (a client may ask
//! for it only once the broker advertises v7).

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::metadata::LEADER_EPOCH;
use super::BrokerContext;

/// ListOffsets' special timestamps.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;
pub const MAX_TIMESTAMP: i64 = -3;

/// ListOffsets v1–v7.
pub async fn handle(
    ctx: &BrokerContext,
    req: ListOffsetsRequest,
    version: i16,
) -> (ListOffsetsResponse, String) {
    // leader_epoch exists from v4 on; the codec refuses a non-default value before.
    let leader_epoch = if version >= 4 { LEADER_EPOCH } else { -1 };
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut lines = Vec::new();
    for topic in req.topics {
        let name = topic.name.0.as_str().to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let resp = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_leader_epoch(leader_epoch);
            let what = match p.timestamp {
                EARLIEST => "earliest".to_string(),
                LATEST => "latest".to_string(),
                MAX_TIMESTAMP => "max timestamp".to_string(),
                ts => format!("timestamp {ts}"),
            };
            let looked_up = lookup(
                ctx,
                &name,
                p.partition_index,
                p.timestamp,
                version,
                req.isolation_level,
            )
            .await;
            let (resp, outcome) = match looked_up {
                Ok((offset, timestamp)) => (
                    resp.with_offset(offset).with_timestamp(timestamp),
                    if timestamp >= 0 {
                        format!("{offset} (timestamp {timestamp})")
                    } else {
                        offset.to_string()
                    },
                ),
                Err(code) => (
                    resp.with_error_code(code)
                        .with_offset(-1)
                        .with_timestamp(-1)
                        .with_leader_epoch(-1),
                    super::error_name(code),
                ),
            };
            lines.push(format!("{name}[{}] {what} -> {outcome}", p.partition_index));
            partitions.push(resp);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    let line = format!("list_offsets {}", lines.join("; "));
    (ListOffsetsResponse::default().with_topics(topics), line)
}

/// `(offset, timestamp)` for one partition, or a Kafka error code.
async fn lookup(
    ctx: &BrokerContext,
    topic: &str,
    index: i32,
    timestamp: i64,
    version: i16,
    isolation: i8,
) -> Result<(i64, i64), i16> {
    let partition = ctx
        .topics
        .partition(topic, index)
        .ok_or(ResponseError::UnknownTopicOrPartition.code())?;
    // What a consumer of this isolation level may read up to (Kafka's
    // lastFetchableOffset): the last stable offset for read_committed (1).
    let fetchable = if isolation == 1 {
        partition.last_stable_offset()
    } else {
        partition.high_watermark()
    };
    match timestamp {
        EARLIEST => Ok((partition.log_start_offset(), -1)),
        LATEST => Ok((fetchable, -1)),
        ts if ts >= 0 || (ts == MAX_TIMESTAMP && version >= 7) => {
            let found = tokio::task::spawn_blocking(move || {
                if ts == MAX_TIMESTAMP {
                    partition.offset_of_max_timestamp()
                } else {
                    partition.offset_for_timestamp(ts)
                }
            })
            .await;
            match found {
                Ok(Ok(Some((offset, timestamp)))) if offset < fetchable => Ok((offset, timestamp)),
                Ok(Ok(Some(_))) => Ok((-1, -1)),
                Ok(Ok(None)) => Ok((-1, -1)),
                Ok(Err(e)) => {
                    tracing::warn!("offset lookup in {topic}[{index}] failed: {e}");
                    Err(ResponseError::KafkaStorageError.code())
                }
                Err(_) => Err(ResponseError::UnknownServerError.code()),
            }
        }
        // -3 before v7, and any other negative timestamp, is not a question Kafka answers.
        _ => Err(ResponseError::InvalidRequest.code()),
    }
}
