//! The topics of this broker: which exist, where their data lives, and the one door
//! into each partition.
//!
//! Flow: producer → wire → server → protocol → **topics** ([`Topics::partition`] finds
//! the partition; [`Partition::append`] stores the batches) → partition log → segment;
//! fetch comes the same way ([`Partition::read`]) and waits on [`Partition::subscribe`].
//!
//! Reading order:
//! 1. [`registry`]: [`Topics`], the registry: open the data directory, create, delete,
//!    look up, and the broker-wide chores (retention, sync, close).
//! 2. [`partition`]: [`Partition`], the only way into a partition's log: append, read,
//!    and its offsets (log start, high watermark, offset for a timestamp).
//! 3. [`file`](mod@file): `topics.json`, the list of topics and their configs on disk.
//! 4. [`config`]: topic configs (`retention.ms`, ...) turned into a `LogConfig`.
//! 5. [`name`]: which topic names Kafka accepts, and which topics are internal.
//!
//! Layout on disk: `<data>/<topic>-<partition>/` per partition (see `docs/storage.md`),
//! plus `<data>/topics.json`.
//!
//! What must stay true:
//! - Outside `log/`, only [`Partition`] holds a `PartitionLog`: protocol and group code
//!   reach a log through it, so every append wakes the fetches waiting on it.
//! - `topics.json` lists exactly the topics in memory (see [`registry`]).
//! - Lookups only read-lock the topic map; create and delete are serialised.

pub mod catalog;
pub mod config;
pub mod file;
pub mod lock;
pub mod name;
pub mod partition;
pub mod registry;

use std::path::PathBuf;

use crate::log::LogError;

pub use config::log_config;
pub use file::{TopicsFile, TOPICS_FILE};
pub use name::validate_topic_name;
pub use partition::Partition;
pub use registry::{Topic, Topics};

/// Errors of the registry, each naming the topic or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("topic {0:?} already exists")]
    AlreadyExists(String),
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("invalid partition count {0}: must be at least 1")]
    InvalidPartitions(i32),
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("corrupt data directory file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Log(#[from] LogError),
}
