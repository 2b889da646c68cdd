//! OffsetForLeaderEpoch (key 23): "where does leader epoch N end?". A consumer asks it
//! after a leader change to check that its position is still on the log (KIP-320);
//! librdkafka and the Java client send it when Metadata shows a new leader epoch.
//!
//! Flow: a consumer → **OffsetForLeaderEpoch** → the partition's log end offset.
//!
//! One broker is leader of everything forever, so there is one epoch, 0
//! (`log/partition_log.rs: LEADER_EPOCH`, stamped into every appended batch), and it
//! covers the whole log. The answer follows Kafka's `LeaderEpochFileCache.endOffsetFor`:
//!
//! | asked `leader_epoch`                | answer (`leader_epoch`, `end_offset`) |
//! |-------------------------------------|---------------------------------------|
//! | 0 (the latest)                      | (0, log end offset)                   |
//! | anything else (later or undefined)  | (-1, -1)                              |
//!
//! What must stay true:
//! - `current_leader_epoch` (the client's view) other than -1 or 0 is fenced:
//!   FENCED_LEADER_EPOCH when older, UNKNOWN_LEADER_EPOCH when newer.
//! - An unknown partition is UNKNOWN_TOPIC_OR_PARTITION; each partition is answered
//!   on its own.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::log::partition_log::LEADER_EPOCH;

/// OffsetForLeaderEpoch v2–v4.
pub async fn handle(
    ctx: &BrokerContext,
    req: OffsetForLeaderEpochRequest,
    version: i16,
) -> (OffsetForLeaderEpochResponse, String) {
    let mut summary = Vec::new();
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.as_str().to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let (code, epoch, end) = end_of(
                        ctx,
                        &name,
                        p.partition,
                        p.current_leader_epoch,
                        p.leader_epoch,
                    );
                    summary.push(if code == 0 {
                        format!(
                            "{name}[{}] epoch {} ends at {end}",
                            p.partition, p.leader_epoch
                        )
                    } else {
                        format!("{name}[{}] {}", p.partition, super::error_name(code))
                    });
                    EpochEndOffset::default()
                        .with_error_code(code)
                        .with_partition(p.partition)
                        .with_leader_epoch(epoch)
                        .with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    let line = format!("offset_for_leader_epoch v{version} {}", summary.join(", "));
    (
        OffsetForLeaderEpochResponse::default().with_topics(topics),
        line,
    )
}

/// `(error_code, leader_epoch, end_offset)` for one partition.
fn end_of(
    ctx: &BrokerContext,
    topic: &str,
    index: i32,
    current: i32,
    asked: i32,
) -> (i16, i32, i64) {
    let Some(partition) = ctx.topics.partition(topic, index) else {
        return (ResponseError::UnknownTopicOrPartition.code(), -1, -1);
    };
    if current != -1 && current < LEADER_EPOCH {
        return (ResponseError::FencedLeaderEpoch.code(), -1, -1);
    }
    if current > LEADER_EPOCH {
        return (ResponseError::UnknownLeaderEpoch.code(), -1, -1);
    }
    if asked == LEADER_EPOCH {
        (0, LEADER_EPOCH, partition.log_end_offset())
    } else {
        (0, -1, -1)
    }
}
