//! The native admin client: create and delete topics, and read cluster metadata.
//!
//! Where it sits: application → **admin** → metadata / connection → broker (CreateTopics,
//! DeleteTopics and Metadata go to the controller or any broker).
//!
//! Invariant: a call succeeds only if the broker answered no error for every topic in it;
//! otherwise the error names the first topic that failed and Kafka's code for it.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest};
use kafka_protocol::protocol::StrBytes;

use crate::admin::{ClusterMetadata, NewTopic};
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::native::metadata::{topic_name, Cluster};

/// The pure-Rust admin client behind [`crate::Admin`].
#[derive(Debug)]
pub(crate) struct NativeAdmin {
    cluster: Arc<Cluster>,
}

impl NativeAdmin {
    pub(crate) async fn new(config: ClientConfig) -> Result<NativeAdmin> {
        let cluster = Cluster::new(config)?;
        cluster.bootstrap().await?;
        Ok(NativeAdmin { cluster })
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.cluster.config().request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    pub(crate) async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        let conn = self.cluster.controller_connection().await?;
        let mut req = CreateTopicsRequest::default();
        req.timeout_ms = self.timeout_ms();
        req.topics = topics
            .iter()
            .map(|t| {
                let mut c = CreatableTopic::default();
                c.name = topic_name(&t.name);
                c.num_partitions = t.partitions;
                c.replication_factor = t.replication_factor;
                c.configs = t
                    .configs
                    .iter()
                    .map(|(k, v)| {
                        let mut config = CreatableTopicConfig::default();
                        config.name = StrBytes::from_string(k.clone());
                        config.value = Some(StrBytes::from_string(v.clone()));
                        config
                    })
                    .collect();
                c
            })
            .collect();
        let resp = conn.request(&req).await?;
        for r in &resp.topics {
            if r.error_code != 0 {
                let detail = r
                    .error_message
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                return Err(Error::kafka(
                    r.error_code,
                    format!("create topic `{}`{detail}", r.name.as_str()),
                ));
            }
        }
        Ok(())
    }

    pub(crate) async fn delete_topics(&self, names: &[String]) -> Result<()> {
        let conn = self.cluster.controller_connection().await?;
        let version = conn.version_for::<DeleteTopicsRequest>()?;
        let mut req = DeleteTopicsRequest::default();
        req.timeout_ms = self.timeout_ms();
        // v6 names topics in `topics`, earlier versions in `topic_names`.
        if version >= 6 {
            req.topics = names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                .collect();
        } else {
            req.topic_names = names.iter().map(|n| topic_name(n)).collect();
        }
        let resp = conn.request_at(&req, version).await?;
        for r in &resp.responses {
            if r.error_code != 0 {
                let name = r.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                return Err(Error::kafka(r.error_code, format!("delete topic `{name}`")));
            }
        }
        for n in names {
            self.cluster.invalidate(n);
        }
        Ok(())
    }

    pub(crate) async fn metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        self.cluster.fetch(topics, false).await
    }
}
