//! CreatePartitions (key 37): grow a live topic. aiokafka's `create_partitions`,
//! Spring's `KafkaAdmin` and `kafka-topics --alter --partitions` send it.
//!
//! Flow: an admin client → **CreatePartitions** → `Topics::add_partitions` opens
//! `<data>/<topic>-<n>/` for each new partition and rewrites `topics.json` → producers
//! and consumers see the new partitions at their next Metadata; a consumer group whose
//! members subscribe to the topic rejoins when they notice (the clients do that: Kafka's
//! coordinator is not told either).
//!
//! What must stay true:
//! - Partitions are only ever added: a count equal to or below the current one is
//!   INVALID_PARTITIONS, with Kafka's message.
//! - Manual assignments must name one replica, this broker, per new partition.
//! - `validate_only` checks and stops. Each topic gets its own result.
//! - `__consumer_offsets` keeps its one partition (the group coordinator reads only 0).

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::create_topics::only_this_broker;
use super::{topic_error_code, BrokerContext};
use crate::topics::name::is_internal;

/// CreatePartitions v0–v3.
pub async fn handle(
    ctx: &BrokerContext,
    req: CreatePartitionsRequest,
    version: i16,
) -> (CreatePartitionsResponse, String) {
    let mut results = Vec::with_capacity(req.topics.len());
    let mut summary = Vec::with_capacity(req.topics.len());
    for (i, topic) in req.topics.iter().enumerate() {
        let name = topic.name.0.as_str();
        let repeated = req.topics[..i].iter().any(|t| t.name == topic.name);
        let outcome = if repeated {
            Err((
                ResponseError::InvalidRequest.code(),
                format!("Duplicate topic name {name}"),
            ))
        } else {
            grow(ctx, topic, req.validate_only).await
        };
        let (code, message) = match outcome {
            Ok(from) => {
                let verb = if req.validate_only {
                    "validated"
                } else {
                    "grown"
                };
                summary.push(format!("{name} {from} → {} partitions {verb}", topic.count));
                (0, None)
            }
            Err((code, message)) => {
                summary.push(format!("{name}: {message}"));
                (code, Some(StrBytes::from_string(message)))
            }
        };
        results.push(
            CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    let line = format!("create_partitions v{version} {}", summary.join("; "));
    (
        CreatePartitionsResponse::default().with_results(results),
        line,
    )
}

/// Checks one topic's request and (unless `validate_only`) grows it; returns the
/// partition count it had.
async fn grow(
    ctx: &BrokerContext,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<usize, (i16, String)> {
    let name = topic.name.0.as_str().to_string();
    let current = ctx.topics.get(&name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition.code(),
            format!("Topic {name} does not exist"),
        )
    })?;
    let have = current.partitions.len();
    let invalid = |message: String| (ResponseError::InvalidPartitions.code(), message);
    if is_internal(&name) {
        return Err((
            ResponseError::InvalidRequest.code(),
            format!("{name} is internal: minikafka keeps it at {have} partition(s)"),
        ));
    }
    let count = usize::try_from(topic.count).unwrap_or(0);
    if count == have {
        return Err(invalid(format!("Topic already has {have} partition(s).")));
    }
    if count < have {
        return Err(invalid(format!(
            "The topic {name} currently has {have} partition(s); {} would not be an increase.",
            topic.count
        )));
    }
    if let Some(assignments) = &topic.assignments {
        let adding = count - have;
        if assignments.len() != adding {
            return Err((
                ResponseError::InvalidReplicaAssignment.code(),
                format!(
                    "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        only_this_broker(ctx, assignments.iter().map(|a| &a.broker_ids[..]))?;
    }
    if validate_only {
        return Ok(have);
    }
    let registry = ctx.topics.clone();
    let count = topic.count;
    tokio::task::spawn_blocking(move || registry.add_partitions(&name, count))
        .await
        .map_err(|e| {
            (
                ResponseError::UnknownServerError.code(),
                format!("adding partitions did not finish: {e}"),
            )
        })?
        .map_err(|e| (topic_error_code(&e), e.to_string()))?;
    Ok(have)
}
