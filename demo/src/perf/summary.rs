//! What a perf run measured, and its one summary line (or one JSON object with `--json`).
//!
//! The line, for scripts to split on `, `:
//! `produce: 100000 records, 312000.0 records/s, 29.75 MB/s, 0.32 s, p50 0.81 ms, p95 1.10 ms,
//! p99 2.00 ms, p99.9 3.10 ms, max 4.00 ms, broker cpu 95 ms/M`
//!
//! What must stay true:
//! - Exactly one line (or one JSON object) per run; figures that were not measured (latency
//!   for consume, broker CPU without `--broker-metrics`) are left out, never printed as 0.
//! - MB is 10^6 bytes of record values (and keys, when consumed), as in docs/benchmarks.md.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;

/// The summary of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `produce`, `consume` or `end-to-end`.
    pub command: &'static str,
    /// Records sent and acknowledged, or read.
    pub records: u64,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Wall time of the measured part, in seconds.
    pub elapsed_s: f64,
    /// `records / elapsed_s`.
    pub records_per_s: f64,
    /// `bytes / 10^6 / elapsed_s`.
    pub mb_per_s: f64,
    /// Send-to-acknowledgement latency (produce), or send-to-receive (end-to-end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Broker CPU milliseconds per million records (with `--broker-metrics` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_cpu_ms_per_million: Option<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Where each latency starts: `send` (when the record was handed to the client) or
    /// `intended` (when the rate limit meant it to be sent, so a stall is not hidden).
    pub from: &'static str,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// Percentiles of a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>, from: &'static str) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            from,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

impl Summary {
    /// Rates from counts and the elapsed time.
    pub fn new(command: &'static str, records: u64, bytes: u64, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Summary {
            command,
            records,
            bytes,
            elapsed_s: elapsed.as_secs_f64(),
            records_per_s: records as f64 / secs,
            mb_per_s: bytes as f64 / 1e6 / secs,
            latency: None,
            broker_cpu_ms_per_million: None,
        }
    }

    /// The one summary line.
    pub fn line(&self) -> String {
        let mut parts = vec![
            format!("{}: {} records", self.command, self.records),
            format!("{:.1} records/s", self.records_per_s),
            format!("{:.2} MB/s", self.mb_per_s),
            format!("{:.2} s", self.elapsed_s),
        ];
        if let Some(l) = &self.latency {
            parts.extend([
                format!("p50 {:.2} ms", l.p50_ms),
                format!("p95 {:.2} ms", l.p95_ms),
                format!("p99 {:.2} ms", l.p99_ms),
                format!("p99.9 {:.2} ms", l.p999_ms),
                format!("max {:.2} ms", l.max_ms),
                format!("latency from {}", l.from),
            ]);
        }
        if let Some(cpu) = self.broker_cpu_ms_per_million {
            parts.push(format!("broker cpu {cpu:.0} ms/M"));
        }
        parts.join(", ")
    }

    /// Prints the line, or the JSON object, on stdout.
    pub fn print(&self, json: bool) -> Result<()> {
        let text = if json {
            serde_json::to_string(self)?
        } else {
            self.line()
        };
        writeln!(std::io::stdout().lock(), "{text}")
            .context("cannot print the summary (stdout closed?)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_leaves_out_what_was_not_measured() {
        let s = Summary::new("consume", 2000, 200_000, Duration::from_secs(2));
        assert_eq!(
            s.line(),
            "consume: 2000 records, 1000.0 records/s, 0.10 MB/s, 2.00 s"
        );
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.record(1500).unwrap();
        let mut p = Summary::new("produce", 1, 100, Duration::from_secs(1));
        p.latency = Some(Latency::from_micros(&h, "send"));
        p.broker_cpu_ms_per_million = Some(95.2);
        let line = p.line();
        assert!(line.contains(", p50 1.50 ms, p95 1.50 ms,"), "{line}");
        assert!(
            line.ends_with(", latency from send, broker cpu 95 ms/M"),
            "{line}"
        );
    }
}
