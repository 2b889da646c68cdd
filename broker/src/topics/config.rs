//! Topic configs: Kafka's per-topic overrides (`retention.ms`, `segment.bytes`, ...)
//! applied over the broker-wide `LogConfig` defaults.
//!
//! Flow: CreateTopics (or `topics.json` on open) → **log_config** → the `LogConfig` each
//! partition log of the topic is opened with.
//!
//! What must stay true: an unknown key or a value out of range is an error naming the
//! key, and nothing is created; the configs Kafka has but minikafka does not act on
//! ([`STORED_ONLY`]) are accepted and stored as they are, so clients that set them work.

use std::collections::BTreeMap;
use std::time::Duration;

use super::TopicError;
use crate::config::{FsyncPolicy, LogConfig};
use crate::log::record_batch::Compression;

/// Topic configs that are accepted and stored but not acted on by minikafka
/// (`flush.messages=1` is the exception: it means `fsync always`).
pub const STORED_ONLY: &[&str] = &[
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "max.compaction.lag.ms",
    "message.downconversion.enable",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "min.insync.replicas",
    "preallocate",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
];

/// The log settings of a topic: `defaults` with the topic's overrides applied.
pub fn log_config(
    defaults: &LogConfig,
    config: &BTreeMap<String, String>,
) -> Result<LogConfig, TopicError> {
    let mut c = defaults.clone();
    for (key, value) in config {
        let bad = |reason: &str| TopicError::InvalidConfig {
            key: key.clone(),
            value: value.clone(),
            reason: reason.to_string(),
        };
        let int = || {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| bad("not an integer"))
        };
        let at_least = |min: i64| {
            let v = int()?;
            if v < min {
                return Err(bad(&format!("must be at least {min}")));
            }
            Ok(v)
        };
        let u32_at_least =
            |min: i64| u32::try_from(at_least(min)?).map_err(|_| bad("larger than 2^32-1"));
        // Kafka's name and type first (see `catalog.rs`), then the ranges of the knobs
        // minikafka acts on.
        super::catalog::check(key, value).map_err(|reason| bad(&reason))?;
        match key.as_str() {
            "retention.ms" => {
                let v = at_least(-1)?;
                c.retention_ms = (v >= 0).then(|| Duration::from_millis(v as u64));
            }
            "retention.bytes" => {
                let v = at_least(-1)?;
                c.retention_bytes = (v >= 0).then_some(v as u64);
            }
            "segment.bytes" => c.segment_bytes = at_least(14)? as u64,
            "segment.ms" => c.segment_ms = Some(Duration::from_millis(at_least(1)? as u64)),
            "index.interval.bytes" => c.index_interval_bytes = u32_at_least(0)?,
            "segment.index.bytes" => c.max_index_bytes = u32_at_least(8)?,
            "max.message.bytes" => c.max_message_bytes = u32_at_least(0)?,
            "compression.type" => {
                c.compression = match value.as_str() {
                    "producer" => None,
                    "uncompressed" => Some(Compression::None),
                    "gzip" => Some(Compression::Gzip),
                    "snappy" => Some(Compression::Snappy),
                    "lz4" => Some(Compression::Lz4),
                    "zstd" => Some(Compression::Zstd),
                    _ => {
                        return Err(bad(
                            "must be one of uncompressed, zstd, lz4, snappy, gzip, producer",
                        ))
                    }
                }
            }
            "message.timestamp.type" => c.log_append_time = value == "LogAppendTime",
            "cleanup.policy" => {
                c.retention_deletes = value.split(',').any(|p| p.trim() == "delete");
                c.compact = value.split(',').any(|p| p.trim() == "compact");
            }
            "delete.retention.ms" => {
                c.delete_retention = Duration::from_millis(at_least(0)? as u64);
            }
            "min.compaction.lag.ms" => {
                c.min_compaction_lag = Duration::from_millis(at_least(0)? as u64);
            }
            "min.cleanable.dirty.ratio" => {
                let ratio = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad("must be a number between 0 and 1"))?;
                c.min_cleanable_dirty_ratio = ratio;
            }
            "flush.messages" if int()? == 1 => c.fsync = FsyncPolicy::Always,
            // Known to Kafka (checked above; the STORED_ONLY ones and the rest of
            // `catalog.rs`), not acted on by minikafka: stored as is.
            _ => {}
        }
    }
    Ok(c)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A topic config from `(key, value)` pairs (also used by the registry's tests).
    pub(in crate::topics) fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_apply_over_the_defaults() {
        let d = LogConfig::default();
        let c = log_config(
            &d,
            &cfg(&[
                ("retention.ms", "-1"),
                ("segment.bytes", "4096"),
                ("flush.messages", "1"),
                ("cleanup.policy", "compact"),
            ]),
        )
        .unwrap();
        assert_eq!(c.retention_ms, None);
        assert_eq!(c.segment_bytes, 4096);
        assert_eq!(c.fsync, FsyncPolicy::Always);
        assert!(
            !c.retention_deletes,
            "compact only: retention deletes nothing"
        );
        assert!(c.compact);
        assert_eq!(c.max_message_bytes, d.max_message_bytes);
        assert_eq!(c.compression, None, "producer, the default");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let d = LogConfig::default();
        for (k, v) in [
            ("no.such", "1"),
            ("retention.ms", "x"),
            ("segment.bytes", "13"),
            ("segment.index.bytes", "99999999999"),
            ("compression.type", "brotli"),
            ("compression.type", "none"), // Kafka's name for it is `uncompressed`
            ("min.cleanable.dirty.ratio", "1.5"),
            ("delete.retention.ms", "-1"),
        ] {
            assert!(matches!(
                log_config(&d, &cfg(&[(k, v)])),
                Err(TopicError::InvalidConfig { .. })
            ));
        }
    }

    #[test]
    fn compression_type_names_a_codec_or_producer() {
        let d = LogConfig::default();
        for (v, want) in [
            ("producer", None),
            ("uncompressed", Some(Compression::None)),
            ("gzip", Some(Compression::Gzip)),
            ("snappy", Some(Compression::Snappy)),
            ("lz4", Some(Compression::Lz4)),
            ("zstd", Some(Compression::Zstd)),
        ] {
            let c = log_config(&d, &cfg(&[("compression.type", v)])).unwrap();
            assert_eq!(c.compression, want, "{v}");
        }
    }
}
