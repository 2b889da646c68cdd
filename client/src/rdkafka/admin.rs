//! The admin client of the rdkafka backend: librdkafka's `AdminClient` creates and deletes
//! topics; its metadata call lists topics, partitions, leaders and brokers.
//!
//! Where it sits: beside the flow of a message, like the native admin.
//!
//! Invariant: metadata lookups never auto-create a topic (`allow.auto.create.topics=false`).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic as RdNewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use super::blocking;
use super::error::{map, map_code, ErrorContext};
use crate::admin::{BrokerMetadata, ClusterMetadata, NewTopic, PartitionMetadata, TopicMetadata};
use crate::config::ClientConfig;
use crate::error::{Error, KafkaCode, Result};

/// A librdkafka admin client.
pub(crate) struct RdAdmin {
    admin: Arc<AdminClient<DefaultClientContext>>,
    bootstrap: String,
    timeout: Duration,
}

impl std::fmt::Debug for RdAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdAdmin")
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl RdAdmin {
    /// Create the admin client and check that the cluster answers.
    pub(crate) async fn new(config: ClientConfig) -> Result<RdAdmin> {
        config.validate()?;
        let bootstrap = config.bootstrap_servers.join(",");
        let admin: AdminClient<DefaultClientContext> = super::config::admin(&config)
            .create()
            .map_err(|e| Error::Librdkafka {
                context: "create the admin client".into(),
                message: e.to_string(),
            })?;
        let admin = RdAdmin {
            admin: Arc::new(admin),
            bootstrap,
            timeout: config.request_timeout.min(Duration::from_secs(10)),
        };
        admin.metadata(None).await?;
        Ok(admin)
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(self.timeout))
    }

    /// CreateTopics; the first refused topic is the error.
    pub(crate) async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        let new: Vec<RdNewTopic<'_>> = topics
            .iter()
            .map(|t| {
                t.configs.iter().fold(
                    RdNewTopic::new(
                        &t.name,
                        t.partitions,
                        TopicReplication::Fixed(i32::from(t.replication_factor)),
                    ),
                    |new, (k, v)| new.set(k, v),
                )
            })
            .collect();
        let ctx = ErrorContext::new("create topics", &self.bootstrap).timeout(self.timeout);
        let results = self
            .admin
            .create_topics(&new, &self.options())
            .await
            .map_err(|e| map(&e, &ctx))?;
        topic_results(results, "create topic", &self.bootstrap)
    }

    /// DeleteTopics.
    pub(crate) async fn delete_topics(&self, names: &[String]) -> Result<()> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let ctx = ErrorContext::new("delete topics", &self.bootstrap).timeout(self.timeout);
        let results = self
            .admin
            .delete_topics(&names, &self.options())
            .await
            .map_err(|e| map(&e, &ctx))?;
        topic_results(results, "delete topic", &self.bootstrap)
    }

    /// Brokers and topics: all of them (`None`) or the named ones.
    pub(crate) async fn metadata(&self, names: Option<&[String]>) -> Result<ClusterMetadata> {
        let admin = self.admin.clone();
        let timeout = self.timeout;
        let names: Option<Vec<String>> = names.map(<[String]>::to_vec);
        let fetched = blocking(move || -> rdkafka::error::KafkaResult<Vec<Metadata>> {
            let client = admin.inner();
            match names {
                None => Ok(vec![client.fetch_metadata(None, timeout)?]),
                Some(names) => names
                    .iter()
                    .map(|n| client.fetch_metadata(Some(n), timeout))
                    .collect(),
            }
        })
        .await?;
        let fetched = fetched.map_err(|e| Error::Connect {
            addr: self.bootstrap.clone(),
            cause: Arc::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("librdkafka: {e}"),
            )),
        })?;
        let mut out = ClusterMetadata {
            brokers: Vec::new(),
            controller: None,
            topics: Vec::new(),
        };
        for meta in &fetched {
            out.brokers = meta
                .brokers()
                .iter()
                .map(|b| BrokerMetadata {
                    id: b.id(),
                    host: b.host().to_string(),
                    port: b.port(),
                })
                .collect();
            for t in meta.topics() {
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions()
                    .iter()
                    .map(|p| PartitionMetadata {
                        id: p.id(),
                        leader: p.leader(),
                        error: p.error().map(|e| code(e.into())),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.id);
                out.topics.push(TopicMetadata {
                    name: t.name().to_string(),
                    error: t.error().map(|e| code(e.into())),
                    partitions,
                });
            }
        }
        Ok(out)
    }
}

fn code(c: RDKafkaErrorCode) -> KafkaCode {
    KafkaCode::from_code(c as i32 as i16)
}

fn topic_results(results: Vec<rdkafka::admin::TopicResult>, what: &str, addr: &str) -> Result<()> {
    for r in results {
        if let Err((topic, code)) = r {
            let ctx = ErrorContext::new(format!("{what} {topic}"), addr);
            // A refused create is about the topic, not a missing one: keep Kafka's code.
            let ctx = if code == RDKafkaErrorCode::UnknownTopicOrPartition {
                ctx.topic(&topic, None)
            } else {
                ctx
            };
            return Err(map_code(code, &code.to_string(), &ctx));
        }
    }
    Ok(())
}
