//! DescribeConfigs (key 32): the configs of a topic or of this broker, each with its
//! value, where the value comes from, and (when asked) its synonyms and documentation.
//! `kafka-topics --describe`, sarama's `ListTopics` and Spring's `KafkaAdmin` send it.
//!
//! Flow: an admin client → **DescribeConfigs** → topics: the topic's overrides and the
//! broker's log defaults, laid over Kafka's defaults by `topics/catalog.rs:
//! describe_topic`; the broker's own configs come from [`crate::Config`] (below).
//!
//! # Resource types (request `resource_type`)
//!
//! | type | what             | name                     | answered with                     |
//! |------|------------------|--------------------------|-----------------------------------|
//! | 2    | TOPIC            | the topic                | every topic config of Kafka 3.9   |
//! | 4    | BROKER           | `"0"` (this broker)      | the broker configs listed below   |
//! | 4    | BROKER           | `""` (cluster default)   | none: no dynamic defaults are set |
//! | else | BROKER_LOGGER, … | —                        | INVALID_REQUEST                   |
//!
//! What must stay true:
//! - Each resource gets its own result; an unknown topic fails only its own.
//! - `configuration_keys` null means all; a list keeps only the names in it.
//! - Synonyms are sent only with `include_synonyms`, documentation only with
//!   `include_documentation` (v3+).
//! - No broker config is dynamic here: each is read-only, and comes from the command
//!   line (STATIC_BROKER_CONFIG) when it differs from Kafka's default, else DEFAULT_CONFIG.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::topics::catalog::{self, ConfigSource, ConfigType, Sourced};

/// `resource_type` of a topic.
pub const TOPIC: i8 = 2;
/// `resource_type` of a broker.
pub const BROKER: i8 = 4;

fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// One config as it goes in the answer.
struct Entry {
    value: Sourced,
    synonyms: Vec<Sourced>,
    kind: ConfigType,
    read_only: bool,
    doc: String,
}

/// DescribeConfigs v1–v4.
pub async fn handle(
    ctx: &BrokerContext,
    req: DescribeConfigsRequest,
    version: i16,
) -> (DescribeConfigsResponse, String) {
    let mut results = Vec::with_capacity(req.resources.len());
    let mut summary = Vec::with_capacity(req.resources.len());
    for resource in &req.resources {
        let name = resource.resource_name.as_str();
        let result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let result = match entries(ctx, resource) {
            Ok(entries) => {
                let configs: Vec<_> = entries
                    .into_iter()
                    .filter(|e| wanted(resource, &e.value.name))
                    .map(|e| encode(e, req.include_synonyms, req.include_documentation))
                    .collect();
                summary.push(format!(
                    "{} {name:?}: {}",
                    kind_name(resource.resource_type),
                    crate::explain::count(configs.len(), "config")
                ));
                result.with_configs(configs)
            }
            Err((code, message)) => {
                summary.push(format!(
                    "{} {name:?}: {}",
                    kind_name(resource.resource_type),
                    message
                ));
                result
                    .with_error_code(code)
                    .with_error_message(Some(s(message)))
            }
        };
        results.push(result);
    }
    let line = format!("describe_configs v{version} {}", summary.join("; "));
    (
        DescribeConfigsResponse::default().with_results(results),
        line,
    )
}

fn kind_name(resource_type: i8) -> &'static str {
    match resource_type {
        TOPIC => "topic",
        BROKER => "broker",
        _ => "resource",
    }
}

fn wanted(resource: &DescribeConfigsResource, name: &str) -> bool {
    resource
        .configuration_keys
        .as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
}

fn entries(
    ctx: &BrokerContext,
    resource: &DescribeConfigsResource,
) -> Result<Vec<Entry>, (i16, String)> {
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        TOPIC => {
            let topic = ctx.topics.get(name).ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition.code(),
                    format!("Topic {name} does not exist"),
                )
            })?;
            Ok(catalog::describe_topic(&topic.config, ctx.topics.defaults())
                .into_iter()
                .map(|d| Entry {
                    value: d.value,
                    synonyms: d.synonyms,
                    kind: d.def.kind,
                    read_only: false,
                    doc: catalog::documentation(d.def),
                })
                .collect())
        }
        BROKER if name.is_empty() => Ok(Vec::new()),
        BROKER if name.parse::<i32>().ok() == Some(ctx.node.node_id) => Ok(broker_configs(ctx)),
        BROKER => Err((
            ResponseError::InvalidRequest.code(),
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                ctx.node.node_id
            ),
        )),
        other => Err((
            ResponseError::InvalidRequest.code(),
            format!("Unsupported resource type: {other} (minikafka describes topics (2) and brokers (4))"),
        )),
    }
}

fn encode(e: Entry, synonyms: bool, documentation: bool) -> DescribeConfigsResourceResult {
    let synonyms = if synonyms {
        e.synonyms
            .iter()
            .map(|syn| {
                DescribeConfigsSynonym::default()
                    .with_name(s(syn.name.clone()))
                    .with_value(Some(s(syn.value.clone())))
                    .with_source(syn.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(s(e.value.name))
        .with_value(Some(s(e.value.value)))
        .with_read_only(e.read_only)
        .with_config_source(e.value.source as i8)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(e.kind as i8)
        .with_documentation(documentation.then(|| s(e.doc)))
}

/// This broker's configs: its own knobs (`config.rs`), then the broker-wide defaults of
/// every topic config (`log.retention.ms`, ...), each under Kafka's broker name.
fn broker_configs(ctx: &BrokerContext) -> Vec<Entry> {
    let c = &ctx.config;
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let own: Vec<(&str, String, &str, ConfigType, &str)> = vec![
        (
            "advertised.listeners",
            ctx.listeners
                .iter()
                .map(|l| format!("{}://{}:{}", l.config.name, l.node.host, l.node.port))
                .collect::<Vec<_>>()
                .join(","),
            "",
            ConfigType::String,
            "Where clients are told to connect, per listener (--advertised-listeners, --advertised-host, --advertised-port).",
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            "true",
            ConfigType::Boolean,
            "Create a topic on its first Metadata or Produce.",
        ),
        (
            "broker.id",
            ctx.node.node_id.to_string(),
            "-1",
            ConfigType::Int,
            "This broker's id; minikafka is always broker 0.",
        ),
        (
            "connection.failed.authentication.delay.ms",
            ms(c.sasl.failed_authentication_delay),
            "100",
            ConfigType::Int,
            "How long a failed SASL authentication waits before its answer (--connection-failed-authentication-delay-ms).",
        ),
        (
            "connections.max.idle.ms",
            ms(c.connections_max_idle),
            "600000",
            ConfigType::Long,
            "Close a connection idle this long.",
        ),
        (
            "default.replication.factor",
            "1".into(),
            "1",
            ConfigType::Int,
            "Replicas of an auto-created topic; one broker, so 1.",
        ),
        (
            "delete.topic.enable",
            "true".into(),
            "true",
            ConfigType::Boolean,
            "DeleteTopics is allowed.",
        ),
        (
            "fetch.max.bytes",
            c.fetch_max_bytes.to_string(),
            "57671680",
            ConfigType::Int,
            "The most one Fetch answer carries (--fetch-max-bytes).",
        ),
        (
            "group.initial.rebalance.delay.ms",
            ms(c.group_initial_rebalance_delay),
            "3000",
            ConfigType::Int,
            "Wait this long for more members before the first rebalance of an empty group.",
        ),
        (
            "group.max.session.timeout.ms",
            ms(c.group_max_session_timeout),
            "1800000",
            ConfigType::Int,
            "The longest session timeout a member may ask for.",
        ),
        (
            "group.min.session.timeout.ms",
            ms(c.group_min_session_timeout),
            "6000",
            ConfigType::Int,
            "The shortest session timeout a member may ask for.",
        ),
        (
            "listener.security.protocol.map",
            c.listeners
                .iter()
                .map(|l| format!("{}:{}", l.name, l.protocol))
                .collect::<Vec<_>>()
                .join(","),
            "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            ConfigType::String,
            "The security protocol of each listener (--listener-security-protocol-map).",
        ),
        (
            "listeners",
            c.listeners
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "PLAINTEXT://:9092",
            ConfigType::String,
            "Where the broker accepts connections, and how each listener is secured (--listen, --listeners).",
        ),
        (
            "log.cleaner.backoff.ms",
            ms(c.log_cleaner_backoff),
            "15000",
            ConfigType::Long,
            "How often the log cleaner looks for compacted logs to clean (--log-cleaner-backoff-ms).",
        ),
        (
            "log.dirs",
            c.data_dir.display().to_string(),
            "/tmp/kafka-logs",
            ConfigType::String,
            "The data directory (--data-dir).",
        ),
        (
            "log.retention.check.interval.ms",
            ms(c.retention_check_interval),
            "300000",
            ConfigType::Long,
            "How often retention runs.",
        ),
        (
            "max.connections",
            c.max_connections.to_string(),
            "2147483647",
            ConfigType::Int,
            "The most client connections open at once.",
        ),
        (
            "max.connections.per.ip",
            if c.max_connections_per_ip == usize::MAX {
                "2147483647".to_string()
            } else {
                c.max_connections_per_ip.to_string()
            },
            "2147483647",
            ConfigType::Int,
            "The most connections open at once from one client address (--max-connections-per-ip).",
        ),
        (
            "producer.id.expiration.check.interval.ms",
            ms(c.producer_id_expiration_check_interval),
            "600000",
            ConfigType::Int,
            "How often idle idempotent producers are looked for (--producer-id-expiration-check-interval-ms).",
        ),
        (
            "producer.id.expiration.ms",
            ms(c.producer_id_expiration),
            "86400000",
            ConfigType::Int,
            "A partition forgets an idempotent producer idle this long (--producer-id-expiration-ms).",
        ),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            ms(c.transaction_abort_interval),
            "10000",
            ConfigType::Int,
            "How often transactions open past their timeout are aborted (--transaction-abort-interval-ms).",
        ),
        (
            "transaction.max.timeout.ms",
            ms(c.transaction_max_timeout),
            "900000",
            ConfigType::Int,
            "The longest transaction.timeout.ms a producer may ask for (--transaction-max-timeout-ms).",
        ),
        (
            "transactional.id.expiration.ms",
            ms(c.transactional_id_expiration),
            "604800000",
            ConfigType::Int,
            "A transactional id unused this long is forgotten (--transactional-id-expiration-ms).",
        ),
        (
            "node.id",
            ctx.node.node_id.to_string(),
            "-1",
            ConfigType::Int,
            "This broker's id; minikafka is always node 0.",
        ),
        (
            "num.partitions",
            c.num_partitions.to_string(),
            "1",
            ConfigType::Int,
            "Partitions of an auto-created topic.",
        ),
        (
            "offsets.topic.num.partitions",
            "1".into(),
            "50",
            ConfigType::Int,
            "Partitions of __consumer_offsets; minikafka uses 1.",
        ),
        (
            "offsets.topic.replication.factor",
            "1".into(),
            "3",
            ConfigType::Short,
            "Replicas of __consumer_offsets; one broker, so 1.",
        ),
        (
            "offsets.topic.segment.bytes",
            c.offsets_topic_segment_bytes.to_string(),
            "104857600",
            ConfigType::Int,
            "Segment size of __consumer_offsets (--offsets-topic-segment-bytes).",
        ),
        (
            "sasl.enabled.mechanisms",
            c.sasl
                .mechanisms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "GSSAPI",
            ConfigType::List,
            "The SASL mechanisms the SASL listeners offer (--sasl-enabled-mechanisms).",
        ),
        (
            "socket.request.max.bytes",
            c.max_request_bytes.to_string(),
            "104857600",
            ConfigType::Int,
            "The largest request accepted.",
        ),
        (
            "ssl.client.auth",
            c.tls
                .as_ref()
                .map_or("none".to_string(), |t| t.client_auth.to_string()),
            "none",
            ConfigType::String,
            "Whether SSL listeners ask clients for a certificate (--ssl-client-auth).",
        ),
    ];
    let mut rows: Vec<(&str, String, &str, ConfigType, String)> = own
        .into_iter()
        .map(|(name, value, default, kind, doc)| (name, value, default, kind, doc.to_string()))
        .collect();
    for def in catalog::TOPIC_CONFIGS {
        let Some(name) = def.broker else { continue };
        if rows.iter().any(|row| row.0 == name) {
            continue;
        }
        let doc = format!(
            "The default of topic config {} for every topic. {}",
            def.name,
            catalog::documentation(def)
        );
        let value = catalog::broker_value(def, ctx.topics.defaults());
        rows.push((name, value, def.default, def.kind, doc));
    }
    let mut entries: Vec<Entry> = rows
        .into_iter()
        .map(|(name, value, default, kind, doc)| {
            let source = if value == default {
                ConfigSource::Default
            } else {
                ConfigSource::StaticBroker
            };
            let value = Sourced {
                name: name.to_string(),
                value,
                source,
            };
            Entry {
                synonyms: vec![value.clone()],
                value,
                kind,
                read_only: true,
                doc,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.value.name.cmp(&b.value.name));
    entries
}
