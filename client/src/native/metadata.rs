//! The client's view of the cluster: brokers, topics, partition leaders, and a pool of
//! connections, refreshed with Metadata requests.
//!
//! Where it sits: producer / reader / admin → **metadata** → connection. Before a record can
//! be partitioned the producer needs the topic's partition count; before a batch can be sent
//! it needs the partition's leader. Both come from here.
//!
//! Invariants:
//! - The cache only holds topics whose every partition has a leader; anything else is asked
//!   again, so a topic that is being auto-created is retried rather than used half-made.
//! - Errors that mean "the cache is stale" (NOT_LEADER_OR_FOLLOWER, a failed connection)
//!   call [`Cluster::invalidate`], and the next lookup asks the broker again.
//! - Locks (std `Mutex`) are held only to read or update the maps, never across `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::admin::{BrokerMetadata, ClusterMetadata, PartitionMetadata, TopicMetadata};
use crate::config::ClientConfig;
use crate::error::{Error, KafkaCode, Result};
use crate::native::connection::Connection;
use crate::native::security::Secure;

/// Brokers, topics and open connections, shared by every task of one client.
#[derive(Debug)]
pub(crate) struct Cluster {
    config: ClientConfig,
    /// TLS and SASL, read from the config once.
    secure: Arc<Secure>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// node id → `host:port`
    brokers: HashMap<i32, String>,
    controller: Option<i32>,
    /// topic → its metadata and when it was fetched (entries expire after `metadata.max.age.ms`).
    topics: HashMap<String, (TopicMetadata, Instant)>,
    /// `host:port` → open connection
    connections: HashMap<String, Arc<Connection>>,
}

impl Cluster {
    /// A cluster view with nothing known yet.
    pub(crate) fn new(config: ClientConfig) -> Result<Arc<Cluster>> {
        config.validate()?;
        let secure = Secure::new(&config.security)?;
        Ok(Arc::new(Cluster {
            config,
            secure,
            state: Mutex::new(State::default()),
        }))
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Check that some bootstrap server answers (fails fast with a clear connect error).
    pub(crate) async fn bootstrap(&self) -> Result<()> {
        self.fetch(Some(&[]), false).await.map(|_| ())
    }

    /// A new connection to `addr`, outside the pool, whose requests may wait up to
    /// `timeout` (the group coordinator's JoinGroup waits for a whole rebalance).
    pub(crate) async fn open(
        &self,
        addr: &str,
        timeout: std::time::Duration,
    ) -> Result<Connection> {
        Connection::connect(addr, &self.config.client_id, timeout, &self.secure).await
    }

    /// A connection to `addr`, reusing an open one.
    pub(crate) async fn connection_to(&self, addr: &str) -> Result<Arc<Connection>> {
        if let Some(c) = self.lock().connections.get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let conn = Arc::new(self.open(addr, self.config.request_timeout).await?);
        // Another task may have connected meanwhile; keep the first open one.
        let mut state = self.lock();
        match state.connections.get(addr) {
            Some(c) if !c.is_closed() => Ok(c.clone()),
            _ => {
                state.connections.insert(addr.to_string(), conn.clone());
                Ok(conn)
            }
        }
    }

    /// A connection to any broker: known brokers first, then the bootstrap list.
    pub(crate) async fn any_connection(&self) -> Result<Arc<Connection>> {
        let mut candidates: Vec<String> = self.lock().brokers.values().cloned().collect();
        candidates.sort();
        candidates.extend(self.config.bootstrap_servers.iter().cloned());
        let mut first_error = None;
        for addr in &candidates {
            match self.connection_to(addr).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "broker not reachable");
                    // Report the bootstrap server the user gave, not an advertised address.
                    if self.config.bootstrap_servers.contains(addr) && first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::Config {
            key: "bootstrap.servers".into(),
            message: "no bootstrap server given".into(),
        }))
    }

    /// A connection to the controller (for CreateTopics/DeleteTopics), or any broker.
    pub(crate) async fn controller_connection(&self) -> Result<Arc<Connection>> {
        let addr = {
            let s = self.lock();
            s.controller.and_then(|id| s.brokers.get(&id).cloned())
        };
        match addr {
            Some(addr) => self.connection_to(&addr).await,
            None => self.any_connection().await,
        }
    }

    /// Ask a broker for metadata. `topics`: `None` = all topics, `Some(&[])` = none.
    pub(crate) async fn fetch(
        &self,
        topics: Option<&[String]>,
        auto_create: bool,
    ) -> Result<ClusterMetadata> {
        let conn = self.any_connection().await?;
        let mut req = MetadataRequest::default();
        req.topics = topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect()
        });
        req.allow_auto_topic_creation = auto_create;
        let resp = match conn.request(&req).await {
            Ok(r) => r,
            Err(e) => {
                self.forget_connection(conn.addr());
                return Err(e);
            }
        };
        let meta = convert(resp);
        let mut state = self.lock();
        state.brokers = meta.brokers.iter().map(|b| (b.id, b.addr())).collect();
        state.controller = meta.controller;
        for t in &meta.topics {
            if is_usable(t) {
                state
                    .topics
                    .insert(t.name.clone(), (t.clone(), Instant::now()));
            } else {
                state.topics.remove(&t.name);
            }
        }
        Ok(meta)
    }

    /// The topic's metadata, from the cache or the broker. With `auto_create`, a topic the
    /// broker is still creating is asked for again (with backoff) until it has leaders.
    pub(crate) async fn topic(&self, topic: &str, auto_create: bool) -> Result<TopicMetadata> {
        if let Some(t) = self.cached(topic) {
            return Ok(t);
        }
        let mut attempt = 0;
        loop {
            let last_error = match self.fetch(Some(&[topic.to_string()]), auto_create).await {
                Ok(meta) => {
                    let t = meta.topics.into_iter().find(|t| t.name == topic);
                    if let Some(t) = t.as_ref().filter(|t| is_usable(t)) {
                        return Ok(t.clone());
                    }
                    match t.and_then(|t| {
                        t.error
                            .or_else(|| t.partitions.iter().find_map(|p| p.error))
                    }) {
                        Some(KafkaCode::UnknownTopicOrPartition) if !auto_create => {
                            return Err(Error::UnknownTopic {
                                topic: topic.to_string(),
                            })
                        }
                        Some(code) if !code.is_retriable() => {
                            return Err(Error::Kafka {
                                code,
                                context: format!("metadata for topic `{topic}`"),
                            })
                        }
                        Some(code) => Error::Kafka {
                            code,
                            context: format!("metadata for topic `{topic}`"),
                        },
                        None => Error::UnknownTopic {
                            topic: topic.to_string(),
                        },
                    }
                }
                // Bootstrap failures on the first try are reported at once: nothing to wait for.
                Err(e @ Error::Connect { .. }) if attempt == 0 => return Err(e),
                Err(e) if e.is_retriable() => e,
                Err(e) => return Err(e),
            };
            attempt += 1;
            if attempt > self.config.retries {
                // Still unknown after waiting: the broker did not auto-create it.
                if let Error::Kafka {
                    code: KafkaCode::UnknownTopicOrPartition,
                    ..
                } = last_error
                {
                    return Err(Error::UnknownTopic {
                        topic: topic.to_string(),
                    });
                }
                return Err(last_error);
            }
            tracing::debug!(topic, attempt, error = %last_error, "metadata not ready, retrying");
            tokio::time::sleep(self.config.retry_backoff).await;
        }
    }

    /// A connection to the leader of `topic[partition]`.
    pub(crate) async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
        auto_create: bool,
    ) -> Result<Arc<Connection>> {
        let meta = self.topic(topic, auto_create).await?;
        let p = meta
            .partitions
            .iter()
            .find(|p| p.id == partition)
            .ok_or_else(|| Error::InvalidPartition {
                topic: topic.to_string(),
                partition,
                count: meta.partitions.len() as i32,
            })?;
        let addr = self.lock().brokers.get(&p.leader).cloned();
        let Some(addr) = addr else {
            self.invalidate(topic);
            return Err(Error::kafka(
                5,
                format!(
                    "{topic}[{partition}]: leader {} is not in the broker list",
                    p.leader
                ),
            ));
        };
        self.connection_to(&addr).await
    }

    /// How many partitions `topic` has: from the cache without copying its metadata (the
    /// producer asks for every record), else as [`topic`](Self::topic) finds it.
    pub(crate) async fn partition_count(
        &self,
        topic: &str,
        auto_create: bool,
        now: Instant,
    ) -> Result<usize> {
        let cached = {
            let state = self.lock();
            state
                .topics
                .get(topic)
                .filter(|(_, fetched)| {
                    now.saturating_duration_since(*fetched) < self.config.metadata_max_age
                })
                .map(|(t, _)| t.partitions.len())
        };
        match cached {
            Some(n) => Ok(n),
            None => Ok(self.topic(topic, auto_create).await?.partitions.len()),
        }
    }

    /// The cached metadata of `topic`, unless it is older than `metadata.max.age.ms` (so new
    /// partitions are noticed even when nothing fails).
    fn cached(&self, topic: &str) -> Option<TopicMetadata> {
        let state = self.lock();
        let (t, fetched) = state.topics.get(topic)?;
        (fetched.elapsed() < self.config.metadata_max_age).then(|| t.clone())
    }

    /// Forget what we know about `topic`, so the next lookup asks the broker.
    pub(crate) fn invalidate(&self, topic: &str) {
        self.lock().topics.remove(topic);
    }

    /// Drop a failed connection so the next request reconnects.
    pub(crate) fn forget_connection(&self, addr: &str) {
        let mut s = self.lock();
        if s.connections.get(addr).is_some_and(|c| c.is_closed()) {
            s.connections.remove(addr);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a single map operation, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A topic with no error, at least one partition, and a leader for every partition.
fn is_usable(t: &TopicMetadata) -> bool {
    t.error.is_none()
        && !t.partitions.is_empty()
        && t.partitions
            .iter()
            .all(|p| p.error.is_none() && p.leader >= 0)
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn convert(resp: MetadataResponse) -> ClusterMetadata {
    let error = |code: i16| (code != 0).then(|| KafkaCode::from_code(code));
    let brokers = resp
        .brokers
        .iter()
        .map(|b| BrokerMetadata {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
        })
        .collect();
    let topics = resp
        .topics
        .iter()
        .map(|t| {
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    id: p.partition_index,
                    leader: p.leader_id.0,
                    error: error(p.error_code),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            TopicMetadata {
                name: t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                error: error(t.error_code),
                partitions,
            }
        })
        .collect();
    ClusterMetadata {
        brokers,
        controller: (resp.controller_id.0 >= 0).then_some(resp.controller_id.0),
        topics,
    }
}
