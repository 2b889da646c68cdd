//! minikafka-broker: a small Kafka-compatible broker you can read end to end.
//!
//! # Reading order
//!
//! Follow one message from the wire to the disk and back:
//!
//! 1. [`config`]: every knob, with Kafka's name for it.
//! 2. [`server`]: the accept loop, the connection limit and graceful shutdown.
//! 3. [`connection`]: length-prefixed frames, the maximum request size, responses in order.
//! 4. [`protocol`]: no I/O; decode a request, call the broker, encode the answer.
//! 5. [`topics`]: the topic registry and the data directory.
//! 6. [`log`]: the storage engine, in Kafka's on-disk format
//!    (`record_batch` → `segment` → `index` → `partition_log` → `recovery`).
//! 7. [`group`]: the consumer-group coordinator (classic protocol).
//! 8. [`inspect`]: what `minikafka-broker inspect` prints, built on `log`.
//!
//! # Embedding
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = minikafka_broker::Config::default();
//! config.listen = "127.0.0.1:0".parse()?;
//! let handle = minikafka_broker::Broker::start(config).await?;
//! println!("broker on {}", handle.addr());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod connection;
pub mod group;
pub mod inspect;
pub mod log;
pub mod protocol;
pub mod server;
pub mod testing;
pub mod topics;

pub use config::Config;
pub use server::{Broker, BrokerHandle};
