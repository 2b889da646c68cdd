//! The public admin client and the cluster metadata types: create and delete topics, list
//! topics, partitions and leaders.
//!
//! Where it sits: beside the flow of a message; tests and tools use it to prepare topics.
//!
//! What must stay true:
//! - The backend is chosen once, in `new`; every method forwards to it, and both backends
//!   answer with the plain types here, so no backend type leaks out.
//! - Reading metadata never creates a topic: both backends ask with auto-creation off.

use crate::config::ClientConfig;
use crate::error::{KafkaCode, Result};
use crate::native::admin::NativeAdmin;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name.
    pub name: String,
    /// How many partitions.
    pub partitions: i32,
    /// Copies of each partition (1 on minikafka).
    pub replication_factor: i16,
    /// Topic configs by Kafka's names (`segment.bytes`, `retention.ms`, ...), overriding
    /// the broker's defaults for this topic only.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// `partitions` partitions, replication factor 1.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: 1,
            configs: Vec::new(),
        }
    }

    /// Sets one topic config by its Kafka name, e.g. `config("segment.bytes", "1024")`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

impl BrokerMetadata {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition number.
    pub id: i32,
    /// Node id of the leader, -1 if none.
    pub leader: i32,
    /// The partition's error, if the broker reported one.
    pub error: Option<KafkaCode>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Its name.
    pub name: String,
    /// The topic's error (e.g. UNKNOWN_TOPIC_OR_PARTITION), if any.
    pub error: Option<KafkaCode>,
    /// Its partitions, sorted by id.
    pub partitions: Vec<PartitionMetadata>,
}

/// What a Metadata request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// The brokers.
    pub brokers: Vec<BrokerMetadata>,
    /// The controller's node id, if known.
    pub controller: Option<i32>,
    /// The topics asked for (or all).
    pub topics: Vec<TopicMetadata>,
}

/// Creates and deletes topics and reads metadata.
#[derive(Debug)]
pub struct Admin {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Native(NativeAdmin),
    #[cfg(feature = "rdkafka")]
    Rdkafka(crate::rdkafka::admin::RdAdmin),
}

impl Admin {
    /// Connect to a bootstrap server.
    pub async fn new(config: ClientConfig) -> Result<Admin> {
        crate::require_backend(config.backend)?;
        let inner = match config.backend {
            #[cfg(feature = "rdkafka")]
            crate::Backend::Rdkafka => {
                Inner::Rdkafka(crate::rdkafka::admin::RdAdmin::new(config).await?)
            }
            _ => Inner::Native(NativeAdmin::new(config).await?),
        };
        Ok(Admin { inner })
    }

    /// Create topics; fails on the first topic the broker refuses (e.g. TOPIC_ALREADY_EXISTS).
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        match &self.inner {
            Inner::Native(a) => a.create_topics(topics).await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(a) => a.create_topics(topics).await,
        }
    }

    /// Create one topic with `partitions` partitions.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_topics(&[NewTopic::new(name, partitions)]).await
    }

    /// Delete topics by name.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<()> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        match &self.inner {
            Inner::Native(a) => a.delete_topics(&names).await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(a) => a.delete_topics(&names).await,
        }
    }

    /// Brokers and every topic.
    pub async fn list_topics(&self) -> Result<ClusterMetadata> {
        match &self.inner {
            Inner::Native(a) => a.metadata(None).await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(a) => a.metadata(None).await,
        }
    }

    /// Brokers and the given topics (no auto-creation).
    pub async fn describe_topics(&self, names: &[&str]) -> Result<ClusterMetadata> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        match &self.inner {
            Inner::Native(a) => a.metadata(Some(&names)).await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(a) => a.metadata(Some(&names)).await,
        }
    }
}
