//! The catalog of topic configs as Kafka 3.9 knows them (`TopicConfig`, `LogConfig`):
//! each name with its type, Kafka's default, the broker config that sets it for every
//! topic (its "synonym"), one line of documentation, and whether minikafka acts on it.
//!
//! Flow: DescribeConfigs (`protocol/describe_configs.rs`) asks [`describe_topic`] what a
//! topic's configs are and where each value comes from; AlterConfigs and
//! IncrementalAlterConfigs (`protocol/alter_configs.rs`, `incremental_alter_configs.rs`)
//! check names and values with [`check`] before `Topics::alter_config` applies them
//! (`topics/config.rs: log_config` turns the ones minikafka acts on into a `LogConfig`).
//!
//! What must stay true:
//! - Every name `topics/config.rs: log_config` accepts is in [`TOPIC_CONFIGS`], and the
//!   other way round: a client can set what it can describe.
//! - A value minikafka does not act on still shows with Kafka's default, and its
//!   documentation says that minikafka stores it but ignores it (docs/protocol.md).
//! - The value a topic shows is, in order: its own override (TOPIC_CONFIG), the broker's
//!   setting when it differs from Kafka's default (STATIC_BROKER_CONFIG), Kafka's
//!   default (DEFAULT_CONFIG); the synonyms list those same layers, most specific first.

use std::collections::BTreeMap;

use crate::config::{FsyncPolicy, LogConfig};

/// DescribeConfigs' `config_type` (Kafka's `ConfigDef.Type`, as sent on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
}

/// DescribeConfigs' `config_source`: where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic (`DYNAMIC_TOPIC_CONFIG`).
    Topic = 1,
    /// Set on the broker's command line (`STATIC_BROKER_CONFIG`).
    StaticBroker = 4,
    /// Kafka's default (`DEFAULT_CONFIG`).
    Default = 5,
}

/// One topic config.
#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default, as DescribeConfigs shows it.
    pub default: &'static str,
    /// The broker config that sets it for every topic (`log.retention.ms`, ...).
    pub broker: Option<&'static str>,
    /// `true` when minikafka acts on the value (see `topics/config.rs: log_config`).
    pub acted_on: bool,
    pub doc: &'static str,
    /// The values a string or list config may take; empty means any.
    pub choices: &'static [&'static str],
}

const MAX: &str = "9223372036854775807";

macro_rules! def {
    ($name:literal, $kind:ident, $default:expr, $broker:expr, $acted:literal, $doc:literal $(, [$($c:literal),*])?) => {
        ConfigDef {
            name: $name,
            kind: ConfigType::$kind,
            default: $default,
            broker: $broker,
            acted_on: $acted,
            doc: $doc,
            choices: &[$($($c),*)?],
        }
    };
}

/// Every topic config of Kafka 3.9, sorted by name.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def!("cleanup.policy", List, "delete", Some("log.cleanup.policy"), true,
        "The retention policy of old segments: delete, compact (the log cleaner keeps the latest record per key), or both.", ["delete", "compact"]),
    def!("compression.gzip.level", Int, "-1", Some("compression.gzip.level"), false,
        "The gzip level used when compression.type is gzip."),
    def!("compression.lz4.level", Int, "9", Some("compression.lz4.level"), false,
        "The lz4 level used when compression.type is lz4."),
    def!("compression.type", String, "producer", Some("compression.type"), true,
        "The codec batches are stored with; producer keeps the producer's.",
        ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    def!("compression.zstd.level", Int, "3", Some("compression.zstd.level"), false,
        "The zstd level used when compression.type is zstd."),
    def!("delete.retention.ms", Long, "86400000", Some("log.cleaner.delete.retention.ms"), true,
        "How long tombstones are kept on a compacted topic."),
    def!("file.delete.delay.ms", Long, "60000", Some("log.segment.delete.delay.ms"), false,
        "How long to wait before deleting a file from the filesystem."),
    def!("flush.messages", Long, MAX, Some("log.flush.interval.messages"), true,
        "Force an fsync after this many messages; minikafka acts on 1 only (fsync on every append)."),
    def!("flush.ms", Long, MAX, Some("log.flush.interval.ms"), false,
        "Force an fsync after this many milliseconds."),
    def!("follower.replication.throttled.replicas", List, "", None, false,
        "Replicas whose log replication is throttled on the follower side."),
    def!("index.interval.bytes", Int, "4096", Some("log.index.interval.bytes"), true,
        "Bytes of log between two entries of the offset index."),
    def!("leader.replication.throttled.replicas", List, "", None, false,
        "Replicas whose log replication is throttled on the leader side."),
    def!("local.retention.bytes", Long, "-2", Some("log.local.retention.bytes"), false,
        "Tiered storage: bytes kept locally (-2: retention.bytes)."),
    def!("local.retention.ms", Long, "-2", Some("log.local.retention.ms"), false,
        "Tiered storage: milliseconds kept locally (-2: retention.ms)."),
    def!("max.compaction.lag.ms", Long, MAX, Some("log.cleaner.max.compaction.lag.ms"), false,
        "The longest a record stays uncompacted."),
    def!("max.message.bytes", Int, "1048588", Some("message.max.bytes"), true,
        "The largest record batch accepted."),
    def!("message.downconversion.enable", Boolean, "true", Some("log.message.downconversion.enable"), false,
        "Whether old consumers get down-converted batches."),
    def!("message.format.version", String, "3.0-IV1", Some("log.message.format.version"), false,
        "Deprecated: the message format version."),
    def!("message.timestamp.after.max.ms", Long, MAX, Some("log.message.timestamp.after.max.ms"), false,
        "How far in the future a record timestamp may be."),
    def!("message.timestamp.before.max.ms", Long, MAX, Some("log.message.timestamp.before.max.ms"), false,
        "How far in the past a record timestamp may be."),
    def!("message.timestamp.difference.max.ms", Long, MAX, Some("log.message.timestamp.difference.max.ms"), false,
        "Deprecated: the largest difference between a record's timestamp and the broker's clock."),
    def!("message.timestamp.type", String, "CreateTime", Some("log.message.timestamp.type"), true,
        "Whether a record's timestamp is the producer's (CreateTime) or the broker's (LogAppendTime).",
        ["CreateTime", "LogAppendTime"]),
    def!("min.cleanable.dirty.ratio", Double, "0.5", Some("log.cleaner.min.cleanable.ratio"), true,
        "How dirty a compacted log gets before it is cleaned."),
    def!("min.compaction.lag.ms", Long, "0", Some("log.cleaner.min.compaction.lag.ms"), true,
        "The least time a record stays uncompacted."),
    def!("min.insync.replicas", Int, "1", Some("min.insync.replicas"), false,
        "Replicas that must acknowledge an acks=all write (one broker: 1)."),
    def!("preallocate", Boolean, "false", Some("log.preallocate"), false,
        "Preallocate the file of a new segment."),
    def!("remote.log.copy.disable", Boolean, "false", None, false,
        "Tiered storage: stop copying segments to remote storage."),
    def!("remote.log.delete.on.disable", Boolean, "false", None, false,
        "Tiered storage: delete remote segments when tiering is turned off."),
    def!("remote.storage.enable", Boolean, "false", None, false,
        "Tiered storage for this topic."),
    def!("retention.bytes", Long, "-1", Some("log.retention.bytes"), true,
        "Delete old segments while a partition is larger than this (-1: no limit)."),
    def!("retention.ms", Long, "604800000", Some("log.retention.ms"), true,
        "Delete segments whose newest record is older than this (-1: no limit)."),
    def!("segment.bytes", Int, "1073741824", Some("log.segment.bytes"), true,
        "Roll the active segment once it reaches this size."),
    def!("segment.index.bytes", Int, "10485760", Some("log.index.size.max.bytes"), true,
        "The size the offset index of a new segment is preallocated to."),
    def!("segment.jitter.ms", Long, "0", Some("log.roll.jitter.ms"), false,
        "Random jitter subtracted from segment.ms."),
    def!("segment.ms", Long, "604800000", Some("log.roll.ms"), true,
        "Roll the active segment once it is this old."),
    def!("unclean.leader.election.enable", Boolean, "false", Some("unclean.leader.election.enable"), false,
        "Whether an out-of-sync replica may become leader."),
];

/// The config named `name`, if Kafka has one.
pub fn find(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The documentation DescribeConfigs v3+ sends: Kafka's sentence, and whether
/// minikafka acts on it.
pub fn documentation(def: &ConfigDef) -> String {
    if def.acted_on {
        def.doc.to_string()
    } else {
        format!(
            "{} minikafka stores this value but does not act on it.",
            def.doc
        )
    }
}

/// Checks `value` against the type (and choices) of the config named `name`: the
/// message names what is wrong, as Kafka's INVALID_CONFIG answers do. Ranges of the
/// configs minikafka acts on are checked by `topics/config.rs: log_config`.
pub fn check(name: &str, value: &str) -> Result<&'static ConfigDef, String> {
    let def = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let v = value.trim();
    let ok = match def.kind {
        ConfigType::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        ConfigType::Int => v.parse::<i32>().is_ok(),
        ConfigType::Short => v.parse::<i16>().is_ok(),
        ConfigType::Long => v.parse::<i64>().is_ok(),
        ConfigType::Double => v.parse::<f64>().is_ok(),
        ConfigType::String => def.choices.is_empty() || def.choices.contains(&v),
        ConfigType::List => {
            def.choices.is_empty()
                || v.split(',')
                    .map(str::trim)
                    .all(|item| def.choices.contains(&item))
        }
    };
    if ok {
        Ok(def)
    } else {
        let expected = if def.choices.is_empty() {
            format!("{:?}", def.kind).to_lowercase()
        } else {
            format!("one of {}", def.choices.join(", "))
        };
        Err(format!(
            "Invalid value {value} for configuration {name}: expected {expected}"
        ))
    }
}

/// The broker-wide value of a topic config: what `defaults` (the broker's command
/// line, over `Config::default()`) sets, or Kafka's default for the configs minikafka
/// does not act on.
pub fn broker_value(def: &ConfigDef, defaults: &LogConfig) -> String {
    let ms = |d: Option<std::time::Duration>, none: &str| {
        d.map_or_else(|| none.to_string(), |d| d.as_millis().to_string())
    };
    match def.name {
        "retention.ms" => ms(defaults.retention_ms, "-1"),
        "retention.bytes" => defaults
            .retention_bytes
            .map_or_else(|| "-1".to_string(), |b| b.to_string()),
        "segment.bytes" => defaults.segment_bytes.to_string(),
        "segment.ms" => ms(defaults.segment_ms, MAX),
        "index.interval.bytes" => defaults.index_interval_bytes.to_string(),
        "segment.index.bytes" => defaults.max_index_bytes.to_string(),
        "max.message.bytes" => defaults.max_message_bytes.to_string(),
        "flush.messages" if defaults.fsync == FsyncPolicy::Always => "1".to_string(),
        "message.timestamp.type" if defaults.log_append_time => "LogAppendTime".to_string(),
        "cleanup.policy" => match (defaults.compact, defaults.retention_deletes) {
            (true, true) => "compact,delete".to_string(),
            (true, false) => "compact".to_string(),
            _ => "delete".to_string(),
        },
        "delete.retention.ms" => defaults.delete_retention.as_millis().to_string(),
        "min.compaction.lag.ms" => defaults.min_compaction_lag.as_millis().to_string(),
        "min.cleanable.dirty.ratio" => defaults.min_cleanable_dirty_ratio.to_string(),
        "compression.type" => defaults.compression.map_or_else(
            || "producer".to_string(),
            |c| match c {
                crate::log::record_batch::Compression::None => "uncompressed".to_string(),
                other => other.name().to_string(),
            },
        ),
        "flush.ms" => match defaults.fsync {
            FsyncPolicy::Interval(d) => d.as_millis().to_string(),
            _ => MAX.to_string(),
        },
        _ => def.default.to_string(),
    }
}

/// One value with where it comes from: a described config, or one of its synonyms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
}

/// One config of a topic as DescribeConfigs shows it.
#[derive(Debug, Clone)]
pub struct Described {
    pub def: &'static ConfigDef,
    pub value: Sourced,
    /// Most specific first: the topic's override, the broker's setting, Kafka's default.
    pub synonyms: Vec<Sourced>,
}

/// Every config of a topic whose overrides are `overrides`, on a broker whose log
/// defaults are `defaults`, sorted by name.
pub fn describe_topic(
    overrides: &BTreeMap<String, String>,
    defaults: &LogConfig,
) -> Vec<Described> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push(Sourced {
                    name: def.name.to_string(),
                    value: v.clone(),
                    source: ConfigSource::Topic,
                });
            }
            let broker_name = def.broker.unwrap_or(def.name);
            let broker = broker_value(def, defaults);
            if broker != def.default {
                synonyms.push(Sourced {
                    name: broker_name.to_string(),
                    value: broker,
                    source: ConfigSource::StaticBroker,
                });
            }
            synonyms.push(Sourced {
                name: broker_name.to_string(),
                value: def.default.to_string(),
                source: ConfigSource::Default,
            });
            let first = &synonyms[0];
            let value = Sourced {
                name: def.name.to_string(),
                value: first.value.clone(),
                source: first.source,
            };
            Described {
                def,
                value,
                synonyms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_sorted_and_accepts_its_own_defaults() {
        let names: Vec<_> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        for d in TOPIC_CONFIGS {
            if d.kind != ConfigType::List || !d.choices.is_empty() || !d.default.is_empty() {
                check(d.name, d.default).unwrap();
            }
        }
        // Every knob of the broker's LogConfig shows as Kafka's default out of the box.
        let shown = describe_topic(&BTreeMap::new(), &LogConfig::default());
        assert!(shown
            .iter()
            .all(|d| d.value.source == ConfigSource::Default));
    }

    /// A valid value other than Kafka's default, for `def`.
    fn another_value(def: &ConfigDef) -> String {
        match def.kind {
            ConfigType::Boolean if def.default == "true" => "false".into(),
            ConfigType::Boolean => "true".into(),
            // flush.messages is acted on for 1 only.
            _ if def.name == "flush.messages" => "1".into(),
            ConfigType::Int | ConfigType::Short | ConfigType::Long => "20000".into(),
            ConfigType::Double => "0.75".into(),
            ConfigType::String | ConfigType::List => def
                .choices
                .iter()
                .find(|c| **c != def.default)
                .map_or_else(|| "0:0".to_string(), |c| c.to_string()),
        }
    }

    /// `acted_on` says the truth: a config marked as ignored changes nothing in the
    /// `LogConfig` (so its documentation may say "does not act on it"), and one marked
    /// as acted on changes it. When a config starts to be acted on, flip its flag.
    #[test]
    fn acted_on_matches_what_log_config_does() {
        let d = LogConfig::default();
        for def in TOPIC_CONFIGS {
            let value = another_value(def);
            let set = BTreeMap::from([(def.name.to_string(), value.clone())]);
            let applied = super::super::config::log_config(&d, &set)
                .unwrap_or_else(|e| panic!("{}={value}: {e}", def.name));
            let changed = applied != d;
            assert_eq!(changed, def.acted_on, "{}={value}", def.name);
        }
    }

    #[test]
    fn overrides_and_broker_settings_show_their_source() {
        let defaults = LogConfig {
            segment_bytes: 4096,
            ..LogConfig::default()
        };
        let overrides = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let shown = describe_topic(&overrides, &defaults);
        let get = |n: &str| shown.iter().find(|d| d.def.name == n).unwrap();
        let r = get("retention.ms");
        assert_eq!(
            (r.value.value.as_str(), r.value.source),
            ("1000", ConfigSource::Topic)
        );
        assert_eq!(r.synonyms.len(), 2);
        assert_eq!(r.synonyms[1].name, "log.retention.ms");
        let s = get("segment.bytes");
        assert_eq!(
            (s.value.value.as_str(), s.value.source),
            ("4096", ConfigSource::StaticBroker)
        );
        assert_eq!(s.synonyms[0].name, "log.segment.bytes");
        assert!(check("cleanup.policy", "compact,delete").is_ok());
        assert!(check("cleanup.policy", "sometimes").is_err());
        assert!(check("preallocate", "yes").is_err());
        assert!(check("no.such", "1").unwrap_err().contains("no.such"));
    }
}
