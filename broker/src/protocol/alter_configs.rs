//! AlterConfigs (key 33): replace a topic's config overrides with the ones given.
//! Also the part both config-altering APIs share ([`apply_topic`], [`refuse_broker`]),
//! used by IncrementalAlterConfigs (`incremental_alter_configs.rs`) too.
//!
//! Flow: an admin client → **AlterConfigs** → checked by `topics/catalog.rs: check` and
//! `topics/config.rs: log_config` → `Topics::alter_config` writes `topics.json` and
//! hands each partition of the live topic its new `LogConfig` → the next append, roll
//! and retention check use it (retention runs once at once).
//!
//! What must stay true:
//! - AlterConfigs replaces the whole set: a topic override not in the request is gone
//!   (Kafka's semantics; IncrementalAlterConfigs changes one key at a time).
//! - An unknown name or a bad value is INVALID_CONFIG with a message naming it, and
//!   nothing of that resource changes; other resources are not affected.
//! - `validate_only` checks everything and changes nothing.
//! - No broker config is dynamic in minikafka: altering one is INVALID_REQUEST
//!   ("Cannot update these configs dynamically"), as Kafka answers for a static one.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::describe_configs::{BROKER, TOPIC};
use super::{topic_error_code, BrokerContext};
use crate::topics::{catalog, log_config, TopicError};

/// A failed resource: Kafka's error code and the message sent with it.
pub(super) type Failure = (i16, String);

/// AlterConfigs v0–v2.
pub async fn handle(
    ctx: &BrokerContext,
    req: AlterConfigsRequest,
    version: i16,
) -> (AlterConfigsResponse, String) {
    let mut responses = Vec::with_capacity(req.resources.len());
    let mut summary = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let name = resource.resource_name.as_str().to_string();
        let asked: Vec<String> = resource
            .configs
            .iter()
            .map(|c| c.name.as_str().to_string())
            .collect();
        let outcome = match resource.resource_type {
            TOPIC => {
                let config: BTreeMap<String, String> = resource
                    .configs
                    .iter()
                    .filter_map(|c| {
                        let value = c.value.as_ref()?;
                        Some((c.name.as_str().to_string(), value.as_str().to_string()))
                    })
                    .collect();
                apply_topic(ctx, &name, config, req.validate_only).await
            }
            BROKER => refuse_broker(ctx, &name, &asked),
            other => Err(unsupported_type(other)),
        };
        summary.push(describe(&name, &asked, req.validate_only, &outcome));
        let (code, message) = outcome.err().unwrap_or((0, String::new()));
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message((code != 0).then(|| StrBytes::from_string(message)))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    let line = format!("alter_configs v{version} {}", summary.join("; "));
    (
        AlterConfigsResponse::default().with_responses(responses),
        line,
    )
}

/// The log line's words for one resource.
pub(super) fn describe(
    name: &str,
    asked: &[String],
    validate_only: bool,
    outcome: &Result<(), Failure>,
) -> String {
    match outcome {
        Ok(()) if validate_only => format!("{name:?} [{}] validated", asked.join(", ")),
        Ok(()) => format!("{name:?} [{}] altered", asked.join(", ")),
        Err((_, message)) => format!("{name:?}: {message}"),
    }
}

/// Makes `config` the whole set of overrides of topic `name`, after checking every
/// name and value; with `validate_only`, only checks.
pub(super) async fn apply_topic(
    ctx: &BrokerContext,
    name: &str,
    config: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Failure> {
    if ctx.topics.get(name).is_none() {
        return Err((
            ResponseError::UnknownTopicOrPartition.code(),
            format!("Topic {name} does not exist"),
        ));
    }
    let invalid = |message: String| (ResponseError::InvalidConfig.code(), message);
    for (key, value) in &config {
        catalog::check(key, value).map_err(invalid)?;
    }
    log_config(ctx.topics.defaults(), &config).map_err(|e| invalid(e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    let registry = ctx.topics.clone();
    let name = name.to_string();
    let done = tokio::task::spawn_blocking(move || registry.alter_config(&name, config))
        .await
        .map_err(|e| {
            (
                ResponseError::UnknownServerError.code(),
                format!("altering the config did not finish: {e}"),
            )
        })?;
    done.map(|_| ()).map_err(|e: TopicError| {
        let code = topic_error_code(&e);
        (code, e.to_string())
    })
}

/// A broker resource: no config can change while minikafka runs, so any change is
/// refused as Kafka refuses a static (read-only) broker config; an empty set succeeds.
pub(super) fn refuse_broker(
    ctx: &BrokerContext,
    name: &str,
    asked: &[String],
) -> Result<(), Failure> {
    let ours = name.is_empty() || name.parse::<i32>().ok() == Some(ctx.node.node_id);
    if !ours {
        return Err((
            ResponseError::InvalidRequest.code(),
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                ctx.node.node_id
            ),
        ));
    }
    if asked.is_empty() {
        return Ok(());
    }
    Err((
        ResponseError::InvalidRequest.code(),
        format!(
            "Cannot update these configs dynamically: Set({}) (minikafka has no dynamic \
             broker configs: restart it with other flags)",
            asked.join(", ")
        ),
    ))
}

/// A resource type neither config API handles here (BROKER_LOGGER, CLIENT_METRICS, …).
pub(super) fn unsupported_type(resource_type: i8) -> Failure {
    (
        ResponseError::InvalidRequest.code(),
        format!("Unsupported resource type: {resource_type} (minikafka alters topics (2) only)"),
    )
}
