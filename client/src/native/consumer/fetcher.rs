//! The pipelined fetcher: keeps one Fetch in flight per partition leader for all the
//! partitions this member owns, and queues what comes back for [`super::NativeConsumer::recv`].
//!
//! Where it sits: assignment → offsets → **fetcher** → bounded queue → `recv` → application.
//!
//! Why one slow partition does not starve the others:
//! - One Fetch per leader covers every owned partition it leads, and the broker answers as
//!   soon as *any* of them has data (`fetch.min.bytes` = 1), so a quiet partition never
//!   holds back a busy one, and each partition gets at most `max.partition.fetch.bytes` of
//!   a response, so a busy one never crowds a quiet one out.
//! - The partition order is rotated on every request: the broker lets only the first
//!   partition with data exceed the limits (KIP-74), and the rotation gives each a turn.
//! - Leaders are independent: each request is its own future, and the next request to a
//!   leader goes out as soon as its answer is queued, while the application is still busy
//!   with earlier records (the pipeline). The queue is bounded, so a slow application
//!   slows the fetching instead of filling memory.
//! - A failing leader or partition backs off on its own; the others keep going.
//!
//! Invariants:
//! - Records are queued in offset order per partition, each once, starting at the position
//!   the assignment gave; records before it (brokers send whole batches) are skipped.
//! - Every queued batch carries the assignment epoch it was fetched for; `recv` drops
//!   batches of an older epoch, so nothing fetched for a revoked partition is handed out.
//! - OFFSET_OUT_OF_RANGE moves the partition by `auto.offset.reset`; other errors that
//!   retrying cannot fix are reported to the application once and the partition stops.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::FetchRequest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ConsumerConfig;
use crate::consumer::TopicPartition;
use crate::error::{Error, KafkaCode, Result};
use crate::native::completed_fetch::CompletedFetch;
use crate::native::connection::Connection;
use crate::native::consumer::{offsets, Control, FetchedBatch};
use crate::native::metadata::{topic_name, Cluster};
use crate::record::ConsumerRecord;

/// What the fetcher needs, shared by every request future.
pub(crate) struct Fetcher {
    pub(crate) config: ConsumerConfig,
    pub(crate) cluster: Arc<Cluster>,
    /// The assignment epoch every queued batch is tagged with.
    pub(crate) epoch: u64,
    /// Bounded: a slow application slows fetching down.
    pub(crate) records: mpsc::Sender<FetchedBatch>,
    /// Errors for the application.
    pub(crate) control: mpsc::UnboundedSender<Control>,
}

/// One partition's fetch state.
#[derive(Debug, Clone)]
struct PartitionState {
    /// The offset of the next record to fetch.
    position: i64,
    /// Grows when one batch is larger than `max.partition.fetch.bytes`.
    max_bytes: i32,
}

type InFlight = Pin<Box<dyn Future<Output = (Vec<TopicPartition>, Result<Answer>)> + Send>>;

/// One leader's answer, per partition.
struct Answer {
    addr: String,
    partitions: Vec<(TopicPartition, PartitionData)>,
}

impl Fetcher {
    /// Start fetching `positions` (partition → first offset) in the background.
    pub(crate) fn spawn(self, positions: BTreeMap<TopicPartition, i64>) -> JoinHandle<()> {
        tokio::spawn(self.run(positions))
    }

    async fn run(self, positions: BTreeMap<TopicPartition, i64>) {
        let max_bytes = self.config.max_partition_fetch_bytes.max(1);
        let mut state: BTreeMap<TopicPartition, PartitionState> = positions
            .into_iter()
            .map(|(tp, position)| {
                (
                    tp,
                    PartitionState {
                        position,
                        max_bytes,
                    },
                )
            })
            .collect();
        // Partitions with no request in flight.
        let mut idle: BTreeSet<TopicPartition> = state.keys().cloned().collect();
        let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
        let mut rotation = 0usize;
        loop {
            if !idle.is_empty() {
                let ready: Vec<TopicPartition> = std::mem::take(&mut idle).into_iter().collect();
                in_flight.extend(self.requests(ready, &state, &mut rotation).await);
            }
            let Some((parts, result)) = in_flight.next().await else {
                return; // nothing owned: nothing to do until the next assignment
            };
            let mut answered = BTreeSet::new();
            match result {
                Ok(answer) => {
                    for (tp, data) in answer.partitions {
                        match self.handle(&tp, data, &answer.addr, &mut state).await {
                            Next::Fetch => {}
                            Next::Wait => {
                                answered.insert(tp.clone());
                                in_flight.push(self.pause(tp));
                            }
                            Next::Stopped => {}
                            Next::ConsumerGone => return,
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(group = %self.config.group_id, error = %e, "fetch failed, retrying");
                    for tp in &parts {
                        if e.needs_metadata_refresh() {
                            self.cluster.invalidate(&tp.topic);
                        }
                    }
                }
            }
            // Fetch again at once, except partitions that wait out a backoff or stopped for
            // good (those are no longer in `state`).
            idle.extend(
                parts
                    .into_iter()
                    .filter(|tp| state.contains_key(tp) && !answered.contains(tp)),
            );
        }
    }

    /// A partition waits `retry.backoff.ms` before it is fetched again; the others go on.
    fn pause(&self, tp: TopicPartition) -> InFlight {
        let backoff = self.config.client.retry_backoff;
        Box::pin(async move {
            tokio::time::sleep(backoff).await;
            let nothing = Answer {
                addr: String::new(),
                partitions: Vec::new(),
            };
            (vec![tp], Ok(nothing))
        })
    }

    /// Group `ready` by leader and build one request future per leader. A partition whose
    /// leader cannot be found gets a future that waits `retry.backoff.ms` and fails.
    async fn requests(
        &self,
        ready: Vec<TopicPartition>,
        state: &BTreeMap<TopicPartition, PartitionState>,
        rotation: &mut usize,
    ) -> Vec<InFlight> {
        let mut by_leader: BTreeMap<String, (Arc<Connection>, Vec<TopicPartition>)> =
            BTreeMap::new();
        let mut out: Vec<InFlight> = Vec::new();
        for tp in ready {
            match self
                .cluster
                .leader_connection(&tp.topic, tp.partition, false)
                .await
            {
                Ok(conn) => by_leader
                    .entry(conn.addr().to_string())
                    .or_insert_with(|| (conn.clone(), Vec::new()))
                    .1
                    .push(tp),
                Err(e) => {
                    let backoff = self.config.client.retry_backoff;
                    out.push(Box::pin(async move {
                        tokio::time::sleep(backoff).await;
                        (vec![tp], Err(e))
                    }));
                }
            }
        }
        for (_, (conn, mut parts)) in by_leader {
            *rotation = rotation.wrapping_add(1);
            let n = parts.len();
            parts.rotate_left(*rotation % n);
            let req = self.request(&parts, state);
            let cluster = self.cluster.clone();
            let backoff = self.config.client.retry_backoff;
            out.push(Box::pin(async move {
                let result = match conn.request(&req).await {
                    Ok(resp) if resp.error_code != 0 => Err(Error::kafka(resp.error_code, "fetch")),
                    Ok(resp) => Ok(Answer {
                        addr: conn.addr().to_string(),
                        partitions: resp
                            .responses
                            .into_iter()
                            .flat_map(|t| {
                                let topic = t.topic.to_string();
                                t.partitions.into_iter().map(move |p| {
                                    (TopicPartition::new(topic.clone(), p.partition_index), p)
                                })
                            })
                            .collect(),
                    }),
                    Err(e) => {
                        cluster.forget_connection(conn.addr());
                        Err(e)
                    }
                };
                if result.is_err() {
                    tokio::time::sleep(backoff).await;
                }
                (parts, result)
            }));
        }
        out
    }

    /// A Fetch for `parts`, in the given order, at their positions.
    fn request(
        &self,
        parts: &[TopicPartition],
        state: &BTreeMap<TopicPartition, PartitionState>,
    ) -> FetchRequest {
        // Consecutive partitions of one topic share a topic entry; order is kept.
        let mut topics: Vec<FetchTopic> = Vec::new();
        for tp in parts {
            let Some(s) = state.get(tp) else { continue };
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_fetch_offset(s.position)
                .with_partition_max_bytes(s.max_bytes);
            match topics.last_mut() {
                Some(t) if t.topic.as_str() == tp.topic => t.partitions.push(partition),
                _ => topics.push(
                    FetchTopic::default()
                        .with_topic(topic_name(&tp.topic))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(
                i32::try_from(self.config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            )
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(self.config.fetch_max_bytes)
            .with_isolation_level(self.config.isolation_level.as_i8())
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics)
    }

    /// Queue one partition's records and move its position.
    async fn handle(
        &self,
        tp: &TopicPartition,
        data: PartitionData,
        addr: &str,
        state: &mut BTreeMap<TopicPartition, PartitionState>,
    ) -> Next {
        let Some(s) = state.get_mut(tp) else {
            return Next::Fetch; // not ours (a broker answering more than asked)
        };
        match KafkaCode::from_code(data.error_code) {
            _ if data.error_code == 0 => {}
            KafkaCode::OffsetOutOfRange => {
                let policy = self.config.auto_offset_reset;
                match offsets::reset_positions(
                    &self.cluster,
                    policy,
                    self.config.isolation_level,
                    std::slice::from_ref(tp),
                )
                .await
                {
                    Ok(reset) => {
                        let to = reset.get(tp).copied().unwrap_or(s.position);
                        tracing::warn!(group = %self.config.group_id, "{tp}: offset {} is out of range, auto.offset.reset={policy:?} moves it to {to}", s.position);
                        s.position = to;
                        return Next::Fetch;
                    }
                    Err(e) => {
                        tracing::debug!(%tp, error = %e, "offset reset failed, retrying");
                        return Next::Wait;
                    }
                }
            }
            code if code.is_retriable() => {
                tracing::debug!(%tp, %code, "fetch answered a retriable error");
                self.cluster.invalidate(&tp.topic);
                return Next::Wait;
            }
            _ => {
                let e = Error::kafka(
                    data.error_code,
                    format!(
                        "fetch {tp} at offset {}; this partition is no longer fetched",
                        s.position
                    ),
                );
                state.remove(tp);
                return self.report(e);
            }
        }
        let aborted = crate::native::reader::aborted_list(&data);
        let mut fetched =
            CompletedFetch::new(data.records.unwrap_or_default()).with_aborted(aborted);
        let (records, failed) = decode(tp, &mut fetched, &mut s.position);
        if failed.is_none() && fetched.partial_tail() && fetched.next_offset().is_none() {
            // Data came back but not one whole batch: it is larger than we allowed.
            s.max_bytes = s.max_bytes.saturating_mul(2);
            tracing::debug!(%tp, max = s.max_bytes, "batch larger than max.partition.fetch.bytes, asking for more");
        }
        if !records.is_empty() {
            let batch = FetchedBatch {
                epoch: self.epoch,
                records,
            };
            if self.records.send(batch).await.is_err() {
                return Next::ConsumerGone;
            }
        }
        match failed {
            None => Next::Fetch,
            Some(message) => {
                let e = Error::Protocol {
                    addr: addr.to_string(),
                    api: "Fetch",
                    message: format!(
                        "{tp} at offset {}: {message}; this partition is no longer fetched",
                        s.position
                    ),
                };
                state.remove(tp);
                self.report(e)
            }
        }
    }

    fn report(&self, e: Error) -> Next {
        match self.control.send(Control::Error(e)) {
            Ok(()) => Next::Stopped,
            Err(_) => Next::ConsumerGone,
        }
    }
}

/// Decode the whole batches of `fetched` into records at or after `position`, moving it past
/// each batch decoded (control batches included); a batch that does not decode stops there,
/// with the records before it kept and its error returned.
fn decode(
    tp: &TopicPartition,
    fetched: &mut CompletedFetch,
    position: &mut i64,
) -> (Vec<ConsumerRecord>, Option<String>) {
    let mut records = Vec::new();
    loop {
        let batch = match fetched.next_batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => return (records, None),
            Err(message) => return (records, Some(message)),
        };
        let before = records.len();
        if !batch.is_skipped() {
            for r in batch.records() {
                match r {
                    // Whole batches come back; skip what precedes our position.
                    Ok(r) if r.offset < *position => {}
                    Ok(r) => records.push(ConsumerRecord {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                    }),
                    Err(message) => {
                        records.truncate(before);
                        return (records, Some(message));
                    }
                }
            }
        }
        // Control batches, or compacted ones, still move the position on.
        *position = (*position).max(batch.next_offset());
    }
}

/// What to do with a partition after its part of a response.
enum Next {
    /// Fetch it again at once.
    Fetch,
    /// Fetch it again after `retry.backoff.ms`.
    Wait,
    /// Its fetching stopped for good (the error went to the application).
    Stopped,
    /// The consumer is gone: stop everything.
    ConsumerGone,
}
