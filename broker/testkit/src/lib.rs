//! minikafka-testkit: the one test kit that the broker's, the client's and the demo's
//! black-box tests share (dev-only, never published).
//!
//! Flow: a test starts a real broker with [`TestBroker`] (re-exported from
//! `minikafka_broker::testing`, which users embedding the broker get too), drives it with
//! a real client (ours, librdkafka, kcat, kafka-python) or with the raw [`wire`] client,
//! and checks what came back, and what is on disk ([`disk`]).
//!
//! What must stay true:
//! - one way to start a broker ([`TestBroker`]), one bound for every wait ([`WAIT`],
//!   used through [`within`]), one rule for external clients ([`external`]);
//! - every broker a test starts is shut down by the test (a running `TestBroker` panics
//!   when dropped; [`backend_tests!`] stops its cluster after each scenario);
//! - a helper that two test crates need lives here, not copied into each.
//!
//! # Layout
//!
//! - [`wire`]: a Kafka client that speaks raw frames, built on `kafka-protocol`'s codecs.
//! - [`child_broker`]: the real `minikafka-broker` binary as a child process, to SIGKILL
//!   and start again over the same data dir (the crash test).
//! - [`compaction`]: a compacted topic, its keyed updates and tombstones, and what a
//!   cleaning pass must leave of them.
//! - [`groups`]: consumer-protocol request builders for the group-coordinator tests.
//! - [`external`]: finding kcat, Python and chromium; found → run, missing → skip or fail.
//! - [`disk`]: what a partition's segments hold, read with the log's own framing, and
//!   where their valid prefix ends (recovery's rule).
//! - [`http`]: a plain HTTP GET, for `/metrics` and the dashboard.
//! - [`proxy`]: a TCP proxy that loses chosen responses and drops the connection, so a
//!   client retries what the broker already did (the idempotent producer's tests).
//! - [`txn`]: a transactional producer's requests, one call each, to leave committed
//!   and aborted transactions in a topic.
//! - [`security`]: a CA, certificates and a user file made for one test, and a broker
//!   with a listener of each security protocol.
//! - [`cluster`]: where a scenario runs (our broker, librdkafka's mock cluster) and the
//!   [`backend_tests!`] macro that runs it per backend.

pub mod child_broker;
pub mod cluster;
pub mod compaction;
pub mod disk;
pub mod external;
pub mod groups;
pub mod http;
pub mod proxy;
pub mod security;
pub mod txn;
pub mod wire;

use std::future::Future;

pub use cluster::{client_config, member_config, producer_config, reader_config, Cluster};
pub use minikafka_broker::testing::{TestBroker, WAIT};

/// Awaits `f`, failing the test with `what` if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}
