//! The topic registry and the data directory.
//!
//! CONTRACT (the protocol and group layers code against these signatures; keep them).
//! Layout: `<data>/<topic>-<partition>/` per partition, plus `<data>/topics.json`
//! (partition counts and configs), written atomically (temp file, fsync, rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::log::{LogConfig, LogError, PartitionLog};

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

/// One partition: its log plus a way to wake long-polling fetches.
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub log: Arc<PartitionLog>,
    /// Sends the new log end offset after each append; Fetch waits on it.
    pub appended: tokio::sync::watch::Sender<i64>,
}

/// A topic: its partitions, in order.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<Arc<Partition>>,
    /// Topic-level config overrides, with Kafka's names (`retention.ms`, ...).
    pub config: BTreeMap<String, String>,
    pub internal: bool,
}

/// The registry. Internally synchronised; shared as `Arc<Topics>`.
#[derive(Debug)]
pub struct Topics {
    _private: (),
}

/// Checks a topic name as Kafka does: `[a-zA-Z0-9._-]`, 1..=249 chars, not `.` or `..`.
#[allow(clippy::todo, unused_variables)]
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    todo!()
}

#[allow(clippy::todo, unused_variables)]
impl Topics {
    /// Opens the data dir, restoring every topic. A corrupt file gives an error naming it.
    pub fn open(data_dir: &Path, defaults: LogConfig) -> Result<Topics, TopicError> {
        todo!()
    }
    pub fn data_dir(&self) -> &Path {
        todo!()
    }
    /// Creates a topic (blocking disk work: call from `spawn_blocking`).
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        config: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        todo!()
    }
    /// Deletes a topic and its directories.
    pub fn delete(&self, name: &str) -> Result<(), TopicError> {
        todo!()
    }
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        todo!()
    }
    pub fn partition(&self, name: &str, partition: i32) -> Option<Arc<Partition>> {
        todo!()
    }
    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        todo!()
    }
    /// Applies retention to every partition (called periodically by the server).
    pub fn apply_retention(&self) -> Result<(), TopicError> {
        todo!()
    }
    /// Syncs every partition (for `--fsync <ms>`).
    pub fn sync_all(&self) -> Result<(), TopicError> {
        todo!()
    }
    /// Clean shutdown: sync, trim indexes, write each clean-shutdown marker.
    pub fn close(&self) -> Result<(), TopicError> {
        todo!()
    }
}
