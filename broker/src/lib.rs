//! minikafka-broker: a small Kafka-compatible broker you can read end to end.
//!
//! # Reading order
//!
//! Follow one message from the wire to the disk and back. Each module imports only the
//! ones below it on this list, never one above:
//!
//! 1. [`server`]: the accept loop, the connection limit, graceful shutdown; `Broker::start`.
//! 2. [`connection`]: length-prefixed frames, the maximum request size, responses in order;
//!    the TLS handshake of the SSL and SASL_SSL listeners.
//! 3. [`security`]: listeners, TLS (rustls), SASL PLAIN and SCRAM, the user file; the
//!    per-connection `Session` the protocol layer checks before every request.
//! 4. [`protocol`]: no sockets; one dispatch by API key and version, one file per Kafka API,
//!    and the table of what ApiVersions advertises (`protocol/api_versions.rs`).
//! 5. [`txn`]: the transaction coordinator: transactional ids and their epochs in
//!    `__transaction_state`, and the COMMIT/ABORT markers that end a transaction.
//! 6. [`group`]: the consumer-group coordinator (classic protocol), one file per group API,
//!    commits stored in `__consumer_offsets` (a transaction's commits once it commits).
//! 7. [`topics`]: the topic registry, `topics.json`, and [`topics::Partition`], the one
//!    door into a partition (append, read, offsets).
//! 8. [`log`]: the storage engine, in Kafka's on-disk format
//!    (`record_batch` → `record` → `segment` → `index` and `time_index` (files of
//!    `index_file`) → `partition_log` → `recovery` → `lazy_segment` → `durability`).
//!
//! Beside the path, used by all and using none of the above: [`config`] (every knob,
//! with Kafka's name for it, and each default written once), [`shutdown`] (the signal
//! every layer listens to), [`error_codes`] (Kafka's names for its error codes) and
//! [`explain`] (the one shape of `--explain`'s lines).
//! [`stats`] holds the request, byte and connection counters the layers bump, and
//! [`events`] the ring of recent events (joins, rebalances, rolls, retention) they
//! record; [`http`] (beside `server`, at the top) serves them with `--http`: `/metrics`,
//! and the live dashboard `/` with its JSON, `/api/state`.
//! [`snapshot`] (also at the top) reads what is inside the broker now (topics, segments,
//! groups, committed offsets, lag) for the dashboard, the tour and `BrokerHandle::snapshot`.
//! [`inspect`] is what `minikafka-broker inspect` prints, built on `topics`, `log` and `group`.
//! [`testing`] is the top: `TestBroker`, a real broker on 127.0.0.1:0 for tests (ours
//! and yours), built on `server`.
//!
//! [`fuzzing`] (hidden) holds the entry points of the `cargo fuzz` targets, which the
//! normal test suite replays too (`docs/fuzzing.md`).
//!
//! ## One produce, step by step
//!
//! 1. `server.rs: run` accepts the connection → `connection.rs: serve` reads a frame.
//! 2. `protocol/mod.rs: handle_request` checks the API and version →
//!    `protocol/dispatch.rs: dispatch`.
//! 3. `protocol/produce.rs: handle` → `prepare`, once per partition
//!    (`topics/registry.rs: Topics::partition`), then every accepted partition's
//!    `topics/partition.rs: Partition::append`, inline or in one trip to the blocking pool.
//! 4. `log/partition_log/append.rs: PartitionLog::append` frames the bytes once
//!    (`log/record_batch.rs: split_exact`), checks each batch once (`validate`), sets
//!    the offsets in a copy of each header and writes under the lock →
//!    `log/segment.rs: Segment::append` (header and records in one `pwritev`).
//! 5. Back up: `connection.rs` writes the response, in request order.
//!
//! ## One fetch, step by step
//!
//! 1. `connection.rs: serve` → `protocol/mod.rs: handle_request` → `protocol/dispatch.rs: dispatch`.
//! 2. `protocol/fetch.rs: handle` reads at once, or parks on `Partition::subscribe` until
//!    data arrives, `max_wait_ms` passes or the broker shuts down.
//! 3. `fetch.rs: read_blocking` → `topics/partition.rs: Partition::slice`.
//! 4. `log/partition_log.rs: PartitionLog::slice` → `log/segment.rs: Segment::find`
//!    (through the `.index`) → `Segment::slice`: where the stored batches are (a
//!    `FileSlice`), not a copy of them.
//! 5. `fetch.rs: build_response` builds the answer without the records, with
//!    `Partition::high_watermark` and `Partition::log_start_offset`;
//!    `protocol/response.rs: splice` marks where the records go, and
//!    `connection.rs: send_file` sends them from the page cache (`sendfile`).
//!
//! The longer walk, with the bytes at each step: `docs/protocol.md` ("The path of one
//! produce", "The path of one fetch") and `docs/storage.md`.
//!
//! # Embedding
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = minikafka_broker::Config::default();
//! config.listen("127.0.0.1:0".parse()?);
//! let handle = minikafka_broker::Broker::start(config).await?;
//! println!("broker on {}", handle.addr());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod connection;
pub mod error_codes;
pub mod events;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod http;
pub mod inspect;
pub mod log;
pub mod protocol;
pub mod security;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod stats;
pub mod testing;
pub mod topics;
pub mod txn;

pub use config::Config;
pub use server::{Broker, BrokerHandle};
