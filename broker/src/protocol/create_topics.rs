//! CreateTopics (key 19): the admin side of the topic registry in [`crate::topics`].
//!
//! Flow: an admin client (or kcat, or a test) → **CreateTopics** → `Topics::create`
//! makes `<data>/<topic>-<n>/` for each partition → producers can write.
//!
//! What must stay true:
//! - Each topic in a request gets its own result; one bad topic never fails the
//!   others.
//! - One broker means replication factor 1: `-1` (the broker default) and `1` are
//!   accepted, anything larger is INVALID_REPLICATION_FACTOR, as Kafka answers when
//!   there are fewer brokers than replicas.
//! - Disk work (creating directories) runs on the blocking pool.
//! - `validate_only` checks the name, the partition count, the replication factor and
//!   the configs, and then stops: nothing is created.
//! - The answer (v5+) lists every config of the new topic with its source, as
//!   DescribeConfigs shows it (`topics/catalog.rs`).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{topic_error_code, BrokerContext};
use crate::topics::{catalog, validate_topic_name, TopicError};

/// CreateTopics v2–v7.
pub async fn handle(
    ctx: &BrokerContext,
    req: CreateTopicsRequest,
    _version: i16,
) -> (CreateTopicsResponse, String) {
    let mut results = Vec::with_capacity(req.topics.len());
    let mut summary = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.0.as_str().to_string();
        let result = match create_one(ctx, &topic, req.validate_only).await {
            Ok((partitions, configs)) => {
                summary.push(format!(
                    "{name} ({}){}",
                    crate::explain::count(partitions, "partition"),
                    if req.validate_only {
                        " validated"
                    } else {
                        " created"
                    }
                ));
                CreatableTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_message(None)
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
                    .with_configs(Some(configs))
            }
            Err((code, message)) => {
                summary.push(format!("{name}: {message}"));
                CreatableTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(message)))
                    .with_configs(None)
            }
        };
        results.push(result);
    }
    let line = format!("create_topics {}", summary.join("; "));
    (CreateTopicsResponse::default().with_topics(results), line)
}

type Created = (i32, Vec<CreatableTopicConfigs>);

/// Manual replica assignments (CreateTopics, CreatePartitions): with one broker, each
/// partition must have exactly one replica, this broker; else INVALID_REPLICA_ASSIGNMENT.
pub(super) fn only_this_broker<'a>(
    ctx: &BrokerContext,
    mut assignments: impl Iterator<Item = &'a [BrokerId]>,
) -> Result<(), (i16, String)> {
    let node = ctx.node.node_id;
    if assignments.all(|replicas| replicas.len() == 1 && replicas[0].0 == node) {
        return Ok(());
    }
    Err((
        ResponseError::InvalidReplicaAssignment.code(),
        format!("every partition must have exactly one replica, broker {node}"),
    ))
}

async fn create_one(
    ctx: &BrokerContext,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<Created, (i16, String)> {
    let name = topic.name.0.as_str().to_string();
    let fail = |e: TopicError| (topic_error_code(&e), e.to_string());
    validate_topic_name(&name).map_err(fail)?;

    if topic.replication_factor != -1 && topic.replication_factor != 1 {
        return Err((
            ResponseError::InvalidReplicationFactor.code(),
            format!(
                "replication factor {} is larger than the 1 available broker",
                topic.replication_factor
            ),
        ));
    }
    // With manual assignments the partition count is the number of assignments, and
    // every replica must be this broker.
    let partitions = if topic.assignments.is_empty() {
        match topic.num_partitions {
            -1 => ctx.config.num_partitions,
            n => n,
        }
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest.code(),
                "both assignments and a partition count or replication factor were given".into(),
            ));
        }
        only_this_broker(ctx, topic.assignments.iter().map(|a| &a.broker_ids[..]))?;
        i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX)
    };
    if partitions < 1 {
        return Err(fail(TopicError::InvalidPartitions(partitions)));
    }
    if ctx.topics.get(&name).is_some() {
        return Err(fail(TopicError::AlreadyExists(name)));
    }

    let configs: BTreeMap<String, String> = topic
        .configs
        .iter()
        .filter_map(|c| {
            c.value
                .as_ref()
                .map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
        })
        .collect();
    // Bad configs fail a validate_only request too, as in Kafka.
    crate::topics::log_config(ctx.topics.defaults(), &configs).map_err(fail)?;
    // v5+: every config of the new topic, as DescribeConfigs would show it.
    let described: Vec<CreatableTopicConfigs> =
        catalog::describe_topic(&configs, ctx.topics.defaults())
            .into_iter()
            .map(|d| {
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_string(d.value.name))
                    .with_value(Some(StrBytes::from_string(d.value.value)))
                    .with_config_source(d.value.source as i8)
            })
            .collect();
    if validate_only {
        return Ok((partitions, described));
    }

    let registry = ctx.topics.clone();
    let created = tokio::task::spawn_blocking(move || registry.create(&name, partitions, configs))
        .await
        .map_err(|e| {
            (
                ResponseError::UnknownServerError.code(),
                format!("creating the topic did not finish: {e}"),
            )
        })?;
    let topic = created.map_err(fail)?;
    let partitions = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    Ok((partitions, described))
}
