//! IncrementalAlterConfigs (key 44): change some of a topic's config overrides, one
//! operation per key: SET, DELETE (back to the broker's default), APPEND and SUBTRACT
//! (list configs only, such as `cleanup.policy`). Spring's `KafkaAdmin` and the Java
//! `Admin.incrementalAlterConfigs` send it.
//!
//! Flow: an admin client → **IncrementalAlterConfigs** → the topic's overrides with the
//! operations applied → `alter_configs.rs: apply_topic` (the same checks and the same
//! `Topics::alter_config` as AlterConfigs).
//!
//! # Operations (`config_operation`)
//!
//! | op | name     | effect on the override                                         |
//! |----|----------|----------------------------------------------------------------|
//! | 0  | SET      | set to `value`                                                 |
//! | 1  | DELETE   | remove it: the broker's value (or Kafka's default) shows again |
//! | 2  | APPEND   | add the items of `value` to the list (from the default if unset) |
//! | 3  | SUBTRACT | remove the items of `value` from the list                      |
//!
//! What must stay true:
//! - Keys the request does not name keep their overrides.
//! - A key named twice in one resource is INVALID_REQUEST; APPEND or SUBTRACT on a
//!   config that is not a list is INVALID_CONFIG; both change nothing, as in Kafka.
//! - `validate_only` checks everything and changes nothing.

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::alter_configs::{apply_topic, describe, refuse_broker, unsupported_type, Failure};
use super::describe_configs::{BROKER, TOPIC};
use super::BrokerContext;
use crate::topics::catalog::{self, ConfigType};

/// IncrementalAlterConfigs v0–v1.
pub async fn handle(
    ctx: &BrokerContext,
    req: IncrementalAlterConfigsRequest,
    version: i16,
) -> (IncrementalAlterConfigsResponse, String) {
    let mut responses = Vec::with_capacity(req.resources.len());
    let mut summary = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let name = resource.resource_name.as_str().to_string();
        let asked: Vec<String> = resource
            .configs
            .iter()
            .map(|c| format!("{} {}", op_name(c.config_operation), c.name.as_str()))
            .collect();
        let outcome = match resource.resource_type {
            TOPIC => match new_overrides(ctx, &name, &resource.configs) {
                Ok(config) => apply_topic(ctx, &name, config, req.validate_only).await,
                Err(failure) => Err(failure),
            },
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
    let line = format!(
        "incremental_alter_configs v{version} {}",
        summary.join("; ")
    );
    (
        IncrementalAlterConfigsResponse::default().with_responses(responses),
        line,
    )
}

fn op_name(op: i8) -> &'static str {
    match op {
        0 => "SET",
        1 => "DELETE",
        2 => "APPEND",
        3 => "SUBTRACT",
        _ => "UNKNOWN",
    }
}

/// The topic's overrides with `ops` applied (not yet checked against the catalog's
/// types and ranges: `apply_topic` does that).
fn new_overrides(
    ctx: &BrokerContext,
    name: &str,
    ops: &[AlterableConfig],
) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    let topic = ctx.topics.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition.code(),
            format!("Topic {name} does not exist"),
        )
    })?;
    let invalid = |message: String| (ResponseError::InvalidConfig.code(), message);
    let mut seen = std::collections::BTreeSet::new();
    if !ops.iter().all(|op| seen.insert(op.name.as_str())) {
        return Err((
            ResponseError::InvalidRequest.code(),
            "Error due to duplicate config keys".to_string(),
        ));
    }
    let mut config = topic.config.clone();
    for op in ops {
        let key = op.name.as_str();
        let def = catalog::find(key)
            .ok_or_else(|| invalid(format!("Unknown topic config name: {key}")))?;
        let value = op.value.as_ref().map(|v| v.as_str().to_string());
        match op.config_operation {
            0 => {
                let value = value
                    .ok_or_else(|| invalid(format!("Null value not supported for : {key}")))?;
                config.insert(key.to_string(), value);
            }
            1 => {
                config.remove(key);
            }
            2 | 3 => {
                if def.kind != ConfigType::List {
                    let verb = if op.config_operation == 2 {
                        "append"
                    } else {
                        "subtract"
                    };
                    return Err(invalid(format!(
                        "Config value {verb} is not allowed for config key: {key}"
                    )));
                }
                let current = config
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| def.default.to_string());
                let mut items: Vec<String> = split(&current);
                let given = split(value.as_deref().unwrap_or(""));
                if op.config_operation == 2 {
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|item| !given.contains(item));
                }
                config.insert(key.to_string(), items.join(","));
            }
            other => {
                return Err((
                    ResponseError::InvalidRequest.code(),
                    format!("Unknown config operation {other} for {key}"),
                ))
            }
        }
    }
    Ok(config)
}

/// The items of a list config's value (`compact,delete`), without blanks.
fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
