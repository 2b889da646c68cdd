//! `/metrics`: one prometheus-client [`Registry`] per scrape, holding the live
//! counters of `stats.rs` (requests, latency, bytes, connections) and gauges read at
//! scrape time: per partition through [`crate::topics::Partition`]'s methods, per group
//! and committed offset from the group coordinator, and the process's CPU and memory
//! from `/proc`. The names and labels are listed in `docs/metrics.md`.
//!
//! Where it sits: called by `http/mod.rs` for `GET /metrics`, on the blocking pool.
//!
//! What must stay true:
//! - The exposition format is written by prometheus-client's text encoder, never by
//!   hand (it writes OpenMetrics text, which Prometheus reads).
//! - Lag = log end offset - committed offset, never below 0; a partition that no longer
//!   exists shows its committed offset without a lag.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::protocol::BrokerContext;
use crate::snapshot::{snapshot, Snapshot};

/// The content type of the answer, as prometheus-client's encoder writes it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupPartitionLabels {
    group: String,
    topic: String,
    partition: i32,
}

/// The whole `/metrics` answer, in the text format.
pub fn scrape(ctx: &BrokerContext) -> String {
    let mut registry = Registry::default();
    let stats = &ctx.stats;
    registry.register(
        "kafka_server_requests",
        "Requests answered, by API, version and error code (0 = none)",
        stats.requests.clone(),
    );
    registry.register(
        "kafka_server_request_duration_seconds",
        "Time from a request's frame to its answer, by API",
        stats.latency.clone(),
    );
    registry.register(
        "kafka_server_bytes_in",
        "Request frame bytes read (with the 4-byte size)",
        stats.bytes_in.clone(),
    );
    registry.register(
        "kafka_server_bytes_out",
        "Response frame bytes written (with the 4-byte size)",
        stats.bytes_out.clone(),
    );
    registry.register(
        "kafka_server_connections",
        "Open client connections",
        stats.connections.clone(),
    );
    let now = snapshot(ctx);
    partitions(&now, &mut registry);
    groups(&now, &mut registry);
    process(&mut registry);

    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Log start and end offsets, segment count and size of every partition.
fn partitions(now: &Snapshot, registry: &mut Registry) {
    let start = Family::<PartitionLabels, Gauge>::default();
    let end = Family::<PartitionLabels, Gauge>::default();
    let segments = Family::<PartitionLabels, Gauge>::default();
    let size = Family::<PartitionLabels, Gauge>::default();
    let cleaned_up_to = Family::<PartitionLabels, Gauge>::default();
    let recopy = Family::<PartitionLabels, Gauge<f64, AtomicU64>>::default();
    let cleaned_records = Family::<PartitionLabels, Gauge>::default();
    for topic in &now.topics {
        for p in &topic.partitions {
            let labels = PartitionLabels {
                topic: topic.name.clone(),
                partition: p.partition,
            };
            start.get_or_create(&labels).set(p.log_start_offset);
            end.get_or_create(&labels).set(p.log_end_offset);
            let n = i64::try_from(p.segments.len()).unwrap_or(i64::MAX);
            segments.get_or_create(&labels).set(n);
            let bytes = i64::try_from(p.size_bytes).unwrap_or(i64::MAX);
            size.get_or_create(&labels).set(bytes);
            if let Some(c) = &p.last_clean {
                cleaned_up_to.get_or_create(&labels).set(c.cleaned_up_to);
                if c.bytes_before > 0 {
                    let ratio = c.bytes_after as f64 / c.bytes_before as f64;
                    recopy.get_or_create(&labels).set(ratio);
                }
                let removed = c.records_before.saturating_sub(c.records_after);
                cleaned_records
                    .get_or_create(&labels)
                    .set(i64::try_from(removed).unwrap_or(i64::MAX));
            }
        }
    }
    registry.register(
        "kafka_log_cleaner_cleaned_up_to_offset",
        "Compacted topics: the log cleaner's checkpoint after its last pass (offsets below it are cleaned)",
        cleaned_up_to,
    );
    registry.register(
        "kafka_log_cleaner_recopy_ratio",
        "Compacted topics: bytes written / bytes read by the last cleaning pass (Kafka's cleaner-recopy-percent, as a ratio)",
        recopy,
    );
    registry.register(
        "kafka_log_cleaner_records_removed",
        "Compacted topics: records the last cleaning pass removed",
        cleaned_records,
    );
    registry.register(
        "kafka_log_log_start_offset",
        "First offset still in the partition's log (moves with retention)",
        start,
    );
    registry.register(
        "kafka_log_log_end_offset",
        "Offset the partition's next record will get",
        end,
    );
    registry.register(
        "kafka_log_segments",
        "Segment files of the partition",
        segments,
    );
    registry.register(
        "kafka_log_size_bytes",
        "Bytes of the partition's segment files",
        size,
    );
}

/// Members and generation of every group; committed offset and lag per partition.
fn groups(now: &Snapshot, registry: &mut Registry) {
    let members = Family::<GroupLabels, Gauge>::default();
    let generation = Family::<GroupLabels, Gauge>::default();
    let committed = Family::<GroupPartitionLabels, Gauge>::default();
    let lag = Family::<GroupPartitionLabels, Gauge>::default();
    for g in &now.groups {
        let labels = GroupLabels {
            group: g.group_id.clone(),
        };
        members
            .get_or_create(&labels)
            .set(i64::try_from(g.members.len()).unwrap_or(i64::MAX));
        generation
            .get_or_create(&labels)
            .set(i64::from(g.generation));
        for o in &g.offsets {
            let labels = GroupPartitionLabels {
                group: g.group_id.clone(),
                topic: o.topic.clone(),
                partition: o.partition,
            };
            committed.get_or_create(&labels).set(o.committed_offset);
            if let Some(l) = o.lag {
                lag.get_or_create(&labels).set(l);
            }
        }
    }
    registry.register(
        "kafka_consumer_group_members",
        "Members of the consumer group",
        members,
    );
    registry.register(
        "kafka_consumer_group_generation",
        "Generation of the consumer group (one more per rebalance)",
        generation,
    );
    registry.register(
        "kafka_consumer_group_committed_offset",
        "Offset the group committed for the partition (the next one it will read)",
        committed,
    );
    registry.register(
        "kafka_consumer_group_lag",
        "Log end offset minus committed offset",
        lag,
    );
}

/// The process's CPU seconds and resident memory. Linux only: read from
/// `/proc/self/stat` and `/proc/self/status`; elsewhere (or if they cannot be read)
/// these metrics are left out.
fn process(registry: &mut Registry) {
    if let Some(seconds) = cpu_seconds() {
        let cpu = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        cpu.inc_by(seconds);
        registry.register(
            "process_cpu_seconds",
            "User and system CPU time the broker process has used",
            cpu,
        );
    }
    if let Some(bytes) = resident_bytes() {
        let rss = Gauge::<i64>::default();
        rss.set(bytes);
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the broker process (VmRSS)",
            rss,
        );
    }
}

/// utime + stime, fields 14 and 15 of `/proc/self/stat`, in clock ticks of 1/100 s
/// (USER_HZ, which the /proc interface fixes at 100 on Linux).
fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds.
fn cpu_seconds_of(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: count the
    // fields after its closing parenthesis, where field 3 (the state) starts.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// `VmRSS:  1234 kB` of `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::cpu_seconds_of;

    /// The command name may hold spaces and parentheses; fields are counted after it.
    #[test]
    fn reads_utime_and_stime_after_the_command_name() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4";
        assert_eq!(cpu_seconds_of(stat), Some(3.0));
        assert_eq!(cpu_seconds_of("42 (short) S 1"), None);
    }
}
