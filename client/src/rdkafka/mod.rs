//! The rdkafka backend (Cargo feature `rdkafka`): the same Producer, PartitionReader,
//! Consumer and Admin API on top of librdkafka through the `rdkafka` crate, so an
//! application written against minikafka runs against any Kafka cluster by changing
//! `Backend::Native` to `Backend::Rdkafka`.
//!
//! Its files, in the order the crate's reading order (`lib.rs`) gives them:
//! 1. [`config`]: our config → librdkafka properties (`partitioner=murmur2_random` always;
//!    pass-through properties applied last).
//! 2. [`error`]: librdkafka errors → the crate's [`crate::Error`], keeping librdkafka's text.
//! 3. [`producer`]: `FutureProducer`; delivery reports as (topic, partition, offset).
//! 4. [`reader`]: a group-less consumer that `assign()`s one partition.
//! 5. [`consumer`]: a group consumer; rebalance events come from a `ConsumerContext`.
//! 6. [`admin`]: `AdminClient` for create/delete, metadata for listing.
//!
//! Invariant: librdkafka calls that block (metadata, flush, commit) run on tokio's
//! blocking pool, never on an async worker. A consumer's close, which has no time limit in
//! librdkafka, runs on a thread of its own that the runtime does not wait for.

pub(crate) mod admin;
pub(crate) mod config;
pub(crate) mod consumer;
pub(crate) mod error;
pub(crate) mod producer;
pub(crate) mod reader;

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Run a blocking librdkafka call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Librdkafka {
            context: "run a blocking librdkafka call".into(),
            message: e.to_string(),
        })
}

/// How long the first metadata request may take before the cluster counts as unreachable.
fn connect_timeout(request_timeout: Duration) -> Duration {
    request_timeout.min(Duration::from_secs(10))
}

/// Ask for metadata once (`fetch(timeout)` does it), so an unreachable cluster fails at
/// creation with [`Error::Connect`] ("is the broker running?") instead of on the first record.
pub(crate) async fn check_reachable(
    fetch: impl FnOnce(Duration) -> rdkafka::error::KafkaResult<()> + Send + 'static,
    addr: &str,
    request_timeout: Duration,
) -> Result<()> {
    let timeout = connect_timeout(request_timeout);
    let answer = blocking(move || fetch(timeout).map_err(|e| e.to_string())).await?;
    answer.map_err(|message| Error::Connect {
        addr: addr.to_string(),
        cause: Arc::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("librdkafka: {message}"),
        )),
    })
}
