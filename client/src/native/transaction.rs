//! The transactional producer's side of the protocol (`transactional.id`): finding the
//! transaction coordinator, InitProducerId with the id, AddPartitionsToTxn before a
//! partition's first batch, AddOffsetsToTxn and TxnOffsetCommit for
//! `send_offsets_to_transaction`, and EndTxn.
//!
//! Where it sits: producer (`init_transactions`, `begin_transaction`, sends,
//! `commit_transaction`) → **transaction** → the coordinator connection → the broker's
//! `txn/coordinator.rs`. The batches themselves go as an idempotent producer's
//! (`idempotence.rs`), with the transactional attribute bit.
//!
//! Invariants:
//! - A partition is added to the transaction (AddPartitionsToTxn answered without error)
//!   before the first batch of the transaction goes to it.
//! - Every request is retried while the coordinator answers CONCURRENT_TRANSACTIONS,
//!   COORDINATOR_LOAD_IN_PROGRESS, or has moved (the coordinator is found again), as
//!   librdkafka and Java do; PRODUCER_FENCED and INVALID_PRODUCER_EPOCH are fatal.
//! - After a batch of the transaction failed, only `abort_transaction` is allowed
//!   (Kafka's "abortable error"); the abort bumps the epoch, so the sequences start
//!   again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    GroupId, InitProducerIdRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::config::ClientConfig;
use crate::consumer::ConsumerGroupMetadata as GroupMetadata;
use crate::error::{Error, KafkaCode, Result};
use crate::native::accumulator::TopicPartition;
use crate::native::connection::Connection;
use crate::native::metadata::{topic_name, Cluster};

/// Where the producer is in its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxnStage {
    /// `init_transactions` not called yet (or not finished).
    Uninitialized,
    /// Between transactions.
    Ready,
    /// `begin_transaction` called; the partitions added so far.
    Open(BTreeSet<TopicPartition>),
    /// A batch of the open transaction failed: only an abort is possible.
    Abortable(String),
    /// Fenced or otherwise stopped for good.
    Fatal(String),
}

/// The transactional id, its coordinator connection and its stage.
#[derive(Debug)]
pub(crate) struct Transactions {
    pub(crate) id: String,
    timeout_ms: i32,
    client: ClientConfig,
    coordinator: tokio::sync::Mutex<Option<Arc<Connection>>>,
    pub(crate) stage: Mutex<TxnStage>,
    /// The open transaction carries offsets (`send_offsets_to_transaction`).
    offsets_sent: std::sync::atomic::AtomicBool,
}

fn tid(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

/// Whether a coordinator answer is worth asking again (after a backoff).
fn again(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::CoordinatorLoadInProgress
            | KafkaCode::CoordinatorNotAvailable
            | KafkaCode::NotCoordinator
            | KafkaCode::ConcurrentTransactions
    )
}

impl Transactions {
    pub(crate) fn new(id: String, timeout_ms: i32, client: ClientConfig) -> Transactions {
        Transactions {
            id,
            timeout_ms,
            client,
            coordinator: tokio::sync::Mutex::new(None),
            stage: Mutex::new(TxnStage::Uninitialized),
            offsets_sent: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn stage(&self) -> TxnStage {
        self.stage.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_stage(&self, stage: TxnStage) {
        if matches!(stage, TxnStage::Open(_) | TxnStage::Ready) {
            self.offsets_sent
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        *self.stage.lock().unwrap_or_else(|p| p.into_inner()) = stage;
    }

    /// The partitions `added` joined the open transaction.
    pub(crate) fn add_to_open(&self, added: &[TopicPartition]) {
        if let TxnStage::Open(set) = &mut *self.stage.lock().unwrap_or_else(|p| p.into_inner()) {
            set.extend(added.iter().cloned());
        }
    }

    /// Whether the open transaction carries offsets.
    pub(crate) fn offsets_sent(&self) -> bool {
        self.offsets_sent.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The coordinator of the transactional id (FindCoordinator, key type 1), found once
    /// and again after it moved.
    async fn coordinator(&self, cluster: &Cluster) -> Result<Arc<Connection>> {
        let mut slot = self.coordinator.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let conn = cluster.any_connection().await?;
        let version = conn.version_for::<FindCoordinatorRequest>()?;
        let mut req = FindCoordinatorRequest::default().with_key_type(1);
        if version >= 4 {
            req.coordinator_keys = vec![StrBytes::from_string(self.id.clone())];
        } else {
            req.key = StrBytes::from_string(self.id.clone());
        }
        let resp = conn.request_at(&req, version).await?;
        let (error, host, port) = crate::native::consumer::coordinator::answer(&resp, version);
        if error != 0 {
            return Err(Error::kafka(
                error,
                format!("find the coordinator of `{}`", self.id),
            ));
        }
        let c = cluster.connection_to(&format!("{host}:{port}")).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs `f` on the coordinator until it answers something other than a retriable
    /// coordinator error, for at most `retries` attempts.
    async fn with_coordinator<T, F, Fut>(
        &self,
        cluster: &Cluster,
        what: &str,
        mut f: F,
    ) -> Result<T>
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let outcome = match self.coordinator(cluster).await {
                Ok(c) => f(c).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let retry = match &e {
                        Error::Kafka { code, .. } => again(*code),
                        other => other.is_retriable(),
                    };
                    if !retry || attempt >= self.client.retries.max(20) {
                        return Err(e);
                    }
                    attempt += 1;
                    tracing::debug!(id = %self.id, attempt, error = %e, "{what}: retrying");
                    if !matches!(
                        &e,
                        Error::Kafka {
                            code: KafkaCode::ConcurrentTransactions,
                            ..
                        }
                    ) {
                        *self.coordinator.lock().await = None;
                    }
                    tokio::time::sleep(self.client.retry_backoff).await;
                }
            }
        }
    }

    /// InitProducerId with the transactional id; `current` (KIP-360) asks for the next
    /// epoch of the producer's own id. Returns (producer id, epoch).
    pub(crate) async fn init_producer_id(
        &self,
        cluster: &Cluster,
        current: Option<(i64, i16)>,
    ) -> Result<(i64, i16)> {
        let (pid, epoch) = current.unwrap_or((-1, -1));
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(tid(&self.id)))
            .with_transaction_timeout_ms(self.timeout_ms)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch);
        self.with_coordinator(cluster, "InitProducerId", |c| {
            let req = req.clone();
            async move {
                let r = c.request(&req).await?;
                if r.error_code != 0 {
                    return Err(Error::kafka(
                        r.error_code,
                        "initialise the transactional id",
                    ));
                }
                Ok((r.producer_id.0, r.producer_epoch))
            }
        })
        .await
    }

    /// AddPartitionsToTxn for `partitions`, as producer `pid` at `epoch`.
    pub(crate) async fn add_partitions(
        &self,
        cluster: &Cluster,
        (pid, epoch): (i64, i16),
        partitions: &[TopicPartition],
    ) -> Result<()> {
        let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
        for (t, p) in partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(ps)
            })
            .collect();
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(tid(&self.id))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics);
        self.with_coordinator(cluster, "AddPartitionsToTxn", |c| {
            let req = req.clone();
            async move {
                let version = c.version_for::<AddPartitionsToTxnRequest>()?.min(3);
                let r = c.request_at(&req, version).await?;
                let failed = r
                    .results_by_topic_v3_and_below
                    .iter()
                    .flat_map(|t| {
                        t.results_by_partition.iter().map(move |p| {
                            (
                                t.name.to_string(),
                                p.partition_index,
                                p.partition_error_code,
                            )
                        })
                    })
                    .find(|(_, _, code)| {
                        *code != 0 && *code != KafkaCode::OperationNotAttempted.code()
                    });
                match failed {
                    Some((t, p, code)) => Err(Error::kafka(
                        code,
                        format!("add {t}[{p}] to the transaction"),
                    )),
                    None => Ok(()),
                }
            }
        })
        .await
    }

    /// `send_offsets_to_transaction`: AddOffsetsToTxn, then TxnOffsetCommit to the
    /// group's coordinator.
    pub(crate) async fn send_offsets(
        &self,
        cluster: &Cluster,
        (pid, epoch): (i64, i16),
        offsets: &[(String, i32, i64)],
        group: &GroupMetadata,
    ) -> Result<()> {
        let add = AddOffsetsToTxnRequest::default()
            .with_transactional_id(tid(&self.id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())));
        self.with_coordinator(cluster, "AddOffsetsToTxn", |c| {
            let add = add.clone();
            async move {
                let r = c.request(&add).await?;
                if r.error_code != 0 {
                    return Err(Error::kafka(
                        r.error_code,
                        "add the offsets to the transaction",
                    ));
                }
                Ok(())
            }
        })
        .await?;
        self.offsets_sent
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut by_topic: std::collections::BTreeMap<&str, Vec<(i32, i64)>> = Default::default();
        for (t, p, o) in offsets {
            by_topic.entry(t).or_default().push((*p, *o));
        }
        let commit = TxnOffsetCommitRequest::default()
            .with_transactional_id(tid(&self.id))
            .with_group_id(GroupId(StrBytes::from_string(group.group_id.clone())))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(StrBytes::from_string(group.member_id.clone()))
            .with_group_instance_id(group.group_instance_id.clone().map(StrBytes::from_string))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|(p, o)| {
                                        TxnOffsetCommitRequestPartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(o)
                                            .with_committed_leader_epoch(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        // The group's coordinator: on minikafka, and here, the same broker answers
        // FindCoordinator for both keys; ask for the group's anyway.
        let conn = find(cluster, &group.group_id, 0).await?;
        let version = conn.version_for::<TxnOffsetCommitRequest>()?.min(3);
        let r = conn.request_at(&commit, version).await?;
        let failed = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.to_string(), p.partition_index, p.error_code))
            })
            .find(|(_, _, code)| *code != 0);
        match failed {
            Some((t, p, code)) => Err(Error::kafka(
                code,
                format!("commit the offset of {t}[{p}] in the transaction"),
            )),
            None => Ok(()),
        }
    }

    /// EndTxn: commit or abort.
    pub(crate) async fn end(
        &self,
        cluster: &Cluster,
        (pid, epoch): (i64, i16),
        commit: bool,
    ) -> Result<()> {
        let req = EndTxnRequest::default()
            .with_transactional_id(tid(&self.id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        self.with_coordinator(cluster, "EndTxn", |c| {
            let req = req.clone();
            async move {
                let r = c.request(&req).await?;
                if r.error_code != 0 {
                    let what = if commit {
                        "commit the transaction"
                    } else {
                        "abort the transaction"
                    };
                    return Err(Error::kafka(r.error_code, what));
                }
                Ok(())
            }
        })
        .await
    }
}

/// The coordinator of `key` (key type 0: a group, 1: a transactional id).
async fn find(cluster: &Cluster, key: &str, key_type: i8) -> Result<Arc<Connection>> {
    let conn = cluster.any_connection().await?;
    let version = conn.version_for::<FindCoordinatorRequest>()?;
    let mut req = FindCoordinatorRequest::default().with_key_type(key_type);
    if version >= 4 {
        req.coordinator_keys = vec![StrBytes::from_string(key.to_string())];
    } else {
        req.key = StrBytes::from_string(key.to_string());
    }
    let resp = conn.request_at(&req, version).await?;
    let (error, host, port) = crate::native::consumer::coordinator::answer(&resp, version);
    if error != 0 {
        return Err(Error::kafka(
            error,
            format!("find the coordinator of `{key}`"),
        ));
    }
    cluster.connection_to(&format!("{host}:{port}")).await
}
