//! The native backend: a pure-Rust Kafka client on tokio, speaking the wire protocol through
//! the `kafka-protocol` codecs.
//!
//! The reading order is the crate's, in `lib.rs`: it follows a record out through
//! [`accumulator`] → [`batch`] → [`producer`] (and [`idempotence`], its producer id and
//! sequences; [`transaction`], a transactional producer's requests) → [`metadata`] →
//! [`connection`], and back in
//! through [`completed_fetch`] (a Fetch answer's batches, decoded) to [`reader`] and
//! [`consumer`]; [`admin`] sits beside them. [`security`] (TLS, and SASL with [`scram`])
//! wraps each new connection when `security.protocol` asks for it.

pub(crate) mod accumulator;
pub(crate) mod admin;
pub(crate) mod batch;
pub(crate) mod completed_fetch;
pub(crate) mod connection;
pub(crate) mod consumer;
pub(crate) mod idempotence;
pub(crate) mod metadata;
pub(crate) mod producer;
pub(crate) mod reader;
pub(crate) mod scram;
pub(crate) mod security;
pub(crate) mod transaction;
