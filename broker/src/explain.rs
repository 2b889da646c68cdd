//! Explain mode: one info line per internal step, in Kafka's words, naming the file and
//! function that does it. `minikafka-broker --explain` (or [`Config::explain`]) turns it on.
//!
//! Every line has the same shape, so a learner can grep it and open the code next:
//!
//! ```text
//! explain: <file> <function>: <what happened, in Kafka's words>
//! explain: log/partition_log/append.rs PartitionLog::append: demo-topic-1 batch of 3 records at offsets 4 to 6 → segment 00000000000000000000.log position 430; index entry (rel 4 → 430)
//! ```
//!
//! Where the switch lives (no global): [`Config::explain`] is the one public knob.
//! `Broker::start` copies it into [`LogConfig::explain`], so the log layer reads it from
//! its own settings (every partition inherits the broker defaults, and no topic config
//! can set it); the group coordinator keeps it in its settings and in each group; the
//! protocol handlers read `BrokerContext::config`. Nothing below imports anything above.
//!
//! What must stay true:
//! - Off costs one `bool` test: callers check the flag before building the line
//!   (`format_args!` formats nothing until the line is written).
//! - Segment rolls and retention deletions are logged at info level in every mode
//!   ([`always`]); explain mode only gives them the explain shape.
//!
//! Where it sits: beside the message path, like `config`; it imports nothing from the
//! crate. The lines go through `tracing` with this module as target
//! (`minikafka_broker::explain`), so `--log` can filter them.
//!
//! [`Config::explain`]: crate::config::Config::explain
//! [`LogConfig::explain`]: crate::config::LogConfig::explain

use std::fmt::Arguments;

/// Logs one explain line: `explain: <site>: <what>`. Call it only when explain is on.
pub fn line(site: &str, what: Arguments<'_>) {
    tracing::info!("explain: {site}: {what}");
}

/// For the steps logged at info level in every mode (segment rolls, retention
/// deletions): the explain shape when `explain` is on, the plain line otherwise.
pub fn always(explain: bool, site: &str, what: Arguments<'_>) {
    if explain {
        line(site, what);
    } else {
        tracing::info!("{what}");
    }
}

/// `n` and the noun, singular or plural as `n` asks: `1 record`, `3 records`,
/// `0 batches`. The plural is the singular plus `s`, or plus `es` after `s`, `sh`, `ch`
/// and `x` (`batch` → `batches`); a noun ending in consonant + `y` takes `ies`
/// (`entry` → `entries`). Every count in a log line or an `inspect` report goes
/// through here, so none reads `1 partitions`.
pub fn count<N: std::fmt::Display + TryInto<u64> + Copy>(n: N, noun: &str) -> String {
    if n.try_into().ok() == Some(1) {
        return format!("1 {noun}");
    }
    let bytes = noun.as_bytes();
    let consonant_y = noun.len() >= 2
        && noun.ends_with('y')
        && !matches!(bytes[bytes.len() - 2], b'a' | b'e' | b'i' | b'o' | b'u');
    if consonant_y {
        format!("{n} {}ies", &noun[..noun.len() - 1])
    } else if ["s", "sh", "ch", "x"].iter().any(|end| noun.ends_with(end)) {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// A run of offsets, both ends included: `offset 7`, or `offsets 4 to 6`. Every log
/// line and `inspect` report says a range of offsets this way (a segment's, a batch's,
/// a produce's), so "to" always includes its end.
pub fn offsets(first: i64, last: i64) -> String {
    if first == last {
        format!("offset {first}")
    } else {
        format!("offsets {first} to {last}")
    }
}

/// The last path component of a partition directory: `demo-topic-1`.
pub fn partition_name(dir: &std::path::Path) -> std::borrow::Cow<'_, str> {
    dir.file_name()
        .map_or_else(|| dir.to_string_lossy(), |n| n.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(count(1u32, "partition"), "1 partition");
        assert_eq!(count(3u32, "partition"), "3 partitions");
        assert_eq!(count(0u32, "record"), "0 records");
        assert_eq!(count(2u32, "batch"), "2 batches");
        assert_eq!(count(1u32, "batch"), "1 batch");
        assert_eq!(count(1i32, "record"), "1 record");
        assert_eq!(count(2usize, "group"), "2 groups");
        assert_eq!(count(5u64, "entry"), "5 entries");
        assert_eq!(count(2u8, "key"), "2 keys");
        assert_eq!(count(4u32, "committed offset"), "4 committed offsets");
    }

    #[test]
    fn offset_runs_include_both_ends() {
        assert_eq!(super::offsets(7, 7), "offset 7");
        assert_eq!(super::offsets(4, 6), "offsets 4 to 6");
    }
}
