//! The public group consumer: subscribe to topics, share their partitions with the other
//! members of a consumer group, and receive records plus the rebalance events that move
//! partitions between members. One type whatever the backend, like [`crate::Producer`].
//!
//! Where it sits: the last stop of a message, broker → fetch → **Consumer** → application.
//! The native backend lives in `native/consumer/` (membership, heartbeats, offsets, the
//! pipelined fetcher); the rdkafka backend in `rdkafka/consumer.rs`. `Inner` has one variant
//! per backend.
//!
//! Invariants (every backend):
//! - [`Consumer::recv`] hands out records only from partitions the member owns at that
//!   moment, in offset order per partition, and each record once per assignment.
//! - [`ConsumerEvent::Revoked`] comes before the [`ConsumerEvent::Assigned`] of the next
//!   generation; records of a revoked partition are never handed out after its `Revoked`.
//! - With `enable.auto.commit` (the default), the positions handed out are committed every
//!   `auto.commit.interval.ms`, when partitions are revoked, and on [`Consumer::close`], so
//!   a clean rebalance or restart neither loses nor repeats a record.

use std::fmt;

use crate::config::ConsumerConfig;
use crate::error::Result;
use crate::native::consumer::NativeConsumer;
use crate::record::ConsumerRecord;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// Kafka's spelling: `demo-topic-0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What [`Consumer::recv`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// A record from an owned partition.
    Record(ConsumerRecord),
    /// A rebalance finished and these partitions are now this member's (maybe none).
    Assigned(Vec<TopicPartition>),
    /// These partitions are no longer this member's (a rebalance began, or close).
    /// With auto-commit, their positions were committed first.
    Revoked(Vec<TopicPartition>),
}

/// A member of a consumer group.
///
/// Call [`Consumer::close`] when done. A consumer dropped without it still commits (with
/// auto-commit on) and leaves the group from its background task, as long as the tokio
/// runtime keeps running.
///
/// ```no_run
/// # async fn demo() -> minikafka_client::Result<()> {
/// use minikafka_client::{Consumer, ConsumerConfig, ConsumerEvent};
/// let mut consumer = Consumer::new(ConsumerConfig::new("localhost:9092", "demo-group")).await?;
/// consumer.subscribe(&["demo-topic"]).await?;
/// loop {
///     match consumer.recv().await? {
///         ConsumerEvent::Record(r) => println!("{}[{}] @ {}", r.topic, r.partition, r.offset),
///         ConsumerEvent::Assigned(tps) => println!("now reading {tps:?}"),
///         ConsumerEvent::Revoked(tps) => println!("gave up {tps:?}"),
///     }
/// #   break;
/// }
/// consumer.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Consumer {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Native(NativeConsumer),
    #[cfg(feature = "rdkafka")]
    Rdkafka(crate::rdkafka::consumer::RdConsumer),
}

impl Consumer {
    /// Check the config and connect to a bootstrap server. The group is joined on
    /// [`Consumer::subscribe`].
    pub async fn new(config: ConsumerConfig) -> Result<Consumer> {
        crate::require_backend(config.client.backend)?;
        config.validate()?;
        Ok(Consumer {
            inner: match config.client.backend {
                #[cfg(feature = "rdkafka")]
                crate::Backend::Rdkafka => {
                    Inner::Rdkafka(crate::rdkafka::consumer::RdConsumer::new(config).await?)
                }
                _ => Inner::Native(NativeConsumer::new(config).await?),
            },
        })
    }

    /// Subscribe to `topics` (replacing any earlier subscription) and join the group in the
    /// background; partitions arrive as a [`ConsumerEvent::Assigned`].
    pub async fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        match &mut self.inner {
            Inner::Native(c) => c.subscribe(topics),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.subscribe(topics).await,
        }
    }

    /// The next record or rebalance event; waits until there is one.
    ///
    /// Cancel-safe: dropping the future (e.g. in `tokio::select!`) loses nothing.
    /// Errors the consumer cannot recover from are returned once; after that, and after
    /// [`Consumer::close`], it returns [`crate::Error::ConsumerClosed`].
    pub async fn recv(&mut self) -> Result<ConsumerEvent> {
        match &mut self.inner {
            Inner::Native(c) => c.recv().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.recv().await,
        }
    }

    /// Commit the positions of every record [`Consumer::recv`] has handed out so far, and
    /// wait for the coordinator to confirm. During a rebalance it waits until the member
    /// owns partitions again.
    pub async fn commit(&self) -> Result<()> {
        match &self.inner {
            Inner::Native(c) => c.commit().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.commit().await,
        }
    }

    /// The partitions this member owns now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        match &self.inner {
            Inner::Native(c) => c.assignment(),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.assignment(),
        }
    }

    /// The id the group coordinator gave this member, as of its latest generation (the
    /// broker's log and DescribeGroups name members by it); `None` before the member first
    /// joined.
    ///
    /// Native backend: known from the first [`ConsumerEvent::Assigned`] on. The rdkafka
    /// backend always returns `None`: the `rdkafka` crate has no safe accessor for
    /// librdkafka's `rd_kafka_memberid`.
    pub fn member_id(&self) -> Option<String> {
        match &self.inner {
            Inner::Native(c) => c.member_id(),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.member_id(),
        }
    }

    /// What a transactional producer needs to commit this member's offsets in its
    /// transaction ([`crate::Producer::send_offsets_to_transaction`]): the group, and
    /// this member's generation and id, so a member the group has moved on from cannot
    /// commit (KIP-447).
    pub fn group_metadata(&self) -> ConsumerGroupMetadata {
        match &self.inner {
            Inner::Native(c) => c.group_metadata(),
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.group_metadata(),
        }
    }

    /// Leave the group cleanly: stop fetching, commit (with auto-commit on), send
    /// LeaveGroup so the others rebalance at once, and return. An error reports a failed
    /// final commit; the member has left either way.
    pub async fn close(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Native(c) => c.close().await,
            #[cfg(feature = "rdkafka")]
            Inner::Rdkafka(c) => c.close().await,
        }
    }
}

/// A group member's identity, as a transactional producer sends it with the offsets it
/// commits in a transaction (Kafka's `ConsumerGroupMetadata`), from
/// [`Consumer::group_metadata`].
#[derive(Debug, Clone)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    /// -1 when the member has not joined yet (the offsets are then committed for the
    /// group without a member check).
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The rdkafka backend's own handle, which its producer needs.
    #[cfg(feature = "rdkafka")]
    pub(crate) rdkafka: Option<crate::rdkafka::consumer::RdGroupMetadata>,
}

impl ConsumerGroupMetadata {
    /// Metadata naming only the group: offsets committed with it are not checked against
    /// a member (a producer that reads with a partition reader, not a group consumer).
    pub fn for_group(group_id: impl Into<String>) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            #[cfg(feature = "rdkafka")]
            rdkafka: None,
        }
    }
}
