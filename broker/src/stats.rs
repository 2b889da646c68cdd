//! The broker's live counters: requests by API, version and error code, request
//! latency, bytes in and out, open connections. The layers that see these events
//! (`connection.rs`, `protocol/mod.rs`, `protocol/dispatch.rs`) bump them through `BrokerContext::stats`;
//! `http/metrics.rs` reads them at scrape time, with everything else `/metrics` shows.
//!
//! Where it sits: beside the message path, a leaf like `config.rs`, so that the lower
//! layers never import `http` (which sits at the top, beside `server`).
//!
//! What must stay true:
//! - Counting is cheap on the hot path: atomics inside prometheus-client's metrics,
//!   one hash-map lookup under a read lock for a labelled family.
//! - Clones share the same counters (prometheus-client's metrics are `Arc`s inside).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Labels of `kafka_server_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Kafka's name of the API, as in the request log (`Produce`, `Fetch`, ...).
    pub api: &'static str,
    pub version: i16,
    /// The answer's error code (0 = none); the first non-zero one when the answer
    /// carries one per topic or partition.
    pub error_code: i16,
}

/// Labels of `kafka_server_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabel {
    pub api: &'static str,
}

/// Builds a latency histogram: 100 µs to ~26 s, doubling (a parked Fetch waits up to
/// its `max_wait_ms`, 500 ms by default).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// The counters. One per broker, in `BrokerContext::stats`.
#[derive(Debug, Clone)]
pub struct Stats {
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<ApiLabel, Histogram, fn() -> Histogram>,
    /// Request frame bytes read, with their 4-byte size.
    pub bytes_in: Counter,
    /// Response frame bytes written, with their 4-byte size.
    pub bytes_out: Counter,
    pub connections: Gauge,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            connections: Gauge::default(),
        }
    }
}

impl Stats {
    /// Counts one answered request.
    pub fn request(&self, api: &'static str, version: i16, error_code: i16) {
        self.requests
            .get_or_create(&RequestLabels {
                api,
                version,
                error_code,
            })
            .inc();
    }

    /// Records how long one request took, from its frame to its answer.
    pub fn latency(&self, api: &'static str, took: Duration) {
        self.latency
            .get_or_create(&ApiLabel { api })
            .observe(took.as_secs_f64());
    }
}
