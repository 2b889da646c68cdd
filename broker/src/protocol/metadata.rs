//! Metadata (key 3): which brokers exist, which topics, and who leads each partition.
//!
//! Flow: producer → **metadata** (where is `demo-topic`, how many partitions?) →
//! partitioner picks a partition → produce goes to its leader.
//!
//! What must stay true:
//! - There is one broker, node 0, reachable at the advertised address; it is the
//!   controller and leads every partition, with itself as the only replica and ISR.
//! - An unknown topic is created on first mention when `auto.create.topics.enable`
//!   is on and the client allows it (v4+: `allow_auto_topic_creation`), with
//!   `num.partitions` partitions. Unlike Kafka, which creates it in the background and
//!   first answers LEADER_NOT_AVAILABLE, the topic exists before the answer goes out.
//! - `__consumer_offsets` is listed with `is_internal = true`.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::group::NodeInfo;
use crate::topics::{Topic, TopicError};

/// What Metadata calls the cluster. Clients only compare it between responses.
pub const CLUSTER_ID: &str = "minikafka-cluster-0000";

/// The leader epoch of every partition. One node, no elections: it never changes.
pub const LEADER_EPOCH: i32 = crate::log::partition_log::LEADER_EPOCH;

/// Metadata v1–v12.
pub async fn handle(
    ctx: &BrokerContext,
    req: MetadataRequest,
    version: i16,
    node: &NodeInfo,
) -> (MetadataResponse, String) {
    // v4+ lets the client forbid auto-creation (the Java consumer does).
    let client_allows_create = version < 4 || req.allow_auto_topic_creation;
    let mut topics = Vec::new();
    let mut created = Vec::new();
    // v0's list is not nullable: empty means every topic (v1+: null does, and empty
    // means none), as Kafka reads it.
    let requested = match req.topics {
        Some(list) if version == 0 && list.is_empty() => None,
        other => other,
    };
    let asked = match &requested {
        None => "all topics".to_string(),
        Some(list) => format!("{} topic(s)", list.len()),
    };

    match requested {
        None => {
            for topic in ctx.topics.list() {
                topics.push(describe(&topic));
            }
        }
        Some(requested) => {
            for requested in requested {
                let Some(name) = requested.name else {
                    // A lookup by topic id (v10+): this broker has no topic ids.
                    topics.push(
                        MetadataResponseTopic::default()
                            .with_error_code(ResponseError::UnknownTopicId.code())
                            .with_name(None)
                            .with_topic_id(requested.topic_id),
                    );
                    continue;
                };
                let name_str = name.0.as_str().to_string();
                match ctx.topics.get(&name_str) {
                    Some(topic) => topics.push(describe(&topic)),
                    None if ctx.config.auto_create_topics && client_allows_create => {
                        match create_topic(ctx, &name_str, ctx.config.num_partitions).await {
                            Ok(topic) => {
                                created.push(name_str);
                                topics.push(describe(&topic));
                            }
                            Err(code) => topics.push(missing(name, code)),
                        }
                    }
                    None => {
                        topics.push(missing(name, ResponseError::UnknownTopicOrPartition.code()))
                    }
                }
            }
        }
    }

    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(node.node_id))
        .with_host(StrBytes::from_string(node.host.clone()))
        .with_port(node.port);
    let line = format!(
        "metadata {asked} -> {} topic(s){}",
        topics.len(),
        if created.is_empty() {
            String::new()
        } else {
            format!(", auto-created {}", created.join(", "))
        }
    );
    let resp = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_controller_id(BrokerId(ctx.node.node_id))
        .with_topics(topics);
    (resp, line)
}

/// Creates a topic on the blocking pool. If another request created it meanwhile,
/// returns that one. Errors are Kafka error codes, ready for a response.
pub async fn create_topic(
    ctx: &BrokerContext,
    name: &str,
    partitions: i32,
) -> Result<Arc<Topic>, i16> {
    let registry = ctx.topics.clone();
    let owned = name.to_string();
    let result =
        tokio::task::spawn_blocking(move || registry.create(&owned, partitions, BTreeMap::new()))
            .await;
    match result {
        Ok(Ok(topic)) => Ok(topic),
        Ok(Err(TopicError::AlreadyExists(_))) => ctx
            .topics
            .get(name)
            .ok_or(ResponseError::UnknownTopicOrPartition.code()),
        Ok(Err(e)) => {
            tracing::warn!("cannot auto-create topic {name:?}: {e}");
            Err(super::topic_error_code(&e))
        }
        Err(e) => {
            tracing::warn!("auto-creating topic {name:?} did not finish: {e}");
            Err(ResponseError::UnknownServerError.code())
        }
    }
}

/// A topic as Metadata describes it: every partition led by node 0.
fn describe(topic: &Topic) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(0))
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(vec![BrokerId(0)])
                .with_isr_nodes(vec![BrokerId(0)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
}

fn missing(name: TopicName, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(Some(name))
}
