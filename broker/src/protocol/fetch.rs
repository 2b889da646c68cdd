//! Fetch (key 1): stored batches out, long-polling until there is enough to send.
//!
//! Flow: producer → … → partition log → segment → `Partition::read` → **fetch** →
//! consumer. Everything here reaches a partition through `topics::Partition`.
//!
//! # How one Fetch is answered
//!
//! 1. Look up every requested partition and subscribe to its appends
//!    (`Partition::subscribe`) *before* reading, so an append that lands after the read still wakes us.
//! 2. Read each partition (on the blocking pool) from its fetch offset, within the
//!    per-partition maximum and what is left of the response's `max_bytes` (at most
//!    the broker's `fetch.max.bytes`).
//! 3. If at least `min_bytes` were read, or a partition has an error, answer now.
//!    Otherwise sleep until an append to one of the partitions, `max_wait_ms`, or
//!    broker shutdown, whichever comes first, and go back to 1. No polling.
//!
//! What must stay true:
//! - Batches go out exactly as stored, whole, never re-encoded. Clients skip the
//!   records before their offset inside the first batch.
//! - They are not copied through the broker's memory either: a read gives where the
//!   batches are (`FileSlice`, a range of a segment file), and the connection sends them
//!   from the page cache (`response.rs`). A read costs a few header reads, whatever the
//!   bytes it covers.
//! - The first batch of the first partition with data is sent even if it is larger
//!   than the limits (Kafka's KIP-74), so a consumer can always make progress; after
//!   that, batches that do not fit are left for the next fetch.
//! - `records` is never null: an empty byte string when there is nothing.
//! - Compressed batches go out compressed, as stored: the consumer decompresses. A
//!   Fetch below v10 of a topic with `compression.type=zstd` gets
//!   UNSUPPORTED_COMPRESSION_TYPE, as Kafka answers (KIP-110).
//! - An offset outside `[log_start, log_end]` gets OFFSET_OUT_OF_RANGE; `log_end`
//!   itself is valid and simply waits for the next append.
//! - high watermark = log end offset (one replica), read *after* the data so it never
//!   lags the records returned. The last stable offset is the first offset of the oldest
//!   open transaction, or the high watermark when none is open.
//! - `isolation_level=1` (read_committed) returns whole batches below the last stable
//!   offset only, with `aborted_transactions`: the aborted transactions overlapping
//!   them (`log/txn_index.rs`), so the consumer drops their records; an empty list when
//!   none. `read_uncommitted` reads to the high watermark, with a null list.
//! - Fetch sessions (v7+): none are created (session id 0 in every answer), which
//!   tells clients to keep sending full fetch requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use tokio::time::Instant;

use super::BrokerContext;
use crate::log::record_batch::Compression;
use crate::log::{FileSlice, LogError};
use crate::topics::Partition;

/// One requested partition, as the request names it.
#[derive(Debug, Clone)]
struct Wanted {
    topic: TopicName,
    partition: i32,
    offset: i64,
    max_bytes: usize,
}

/// What was read for one partition: where its batches are, not a copy of them.
#[derive(Debug, Clone)]
struct Read {
    error: i16,
    records: Option<FileSlice>,
    high_watermark: i64,
    last_stable: i64,
    log_start: i64,
    /// `read_committed`: the aborted transactions overlapping what is returned, as
    /// (producer id, first offset); `None` (null on the wire) for `read_uncommitted`.
    aborted: Option<Vec<(i64, i64)>>,
}

impl Read {
    fn error(error: i16, high_watermark: i64, log_start: i64) -> Read {
        Read {
            error,
            records: None,
            high_watermark,
            last_stable: high_watermark,
            log_start,
            aborted: None,
        }
    }

    /// Bytes of records read.
    fn len(&self) -> usize {
        self.records.as_ref().map_or(0, |r| r.len)
    }
}

/// A Fetch answered: the request, and what was read for each of its partitions, in
/// request order. The connection sends it with the records straight from the segment
/// files (`response.rs`).
#[derive(Debug)]
pub struct Fetched {
    req: FetchRequest,
    reads: Vec<Read>,
}

impl Fetched {
    /// An answer with no reads (FETCH_SESSION_ID_NOT_FOUND).
    fn refused(error: i16) -> Fetched {
        Fetched {
            req: FetchRequest::default(),
            reads: vec![Read::error(error, -1, -1)],
        }
    }

    /// The response with every records field empty, or (`marked`) one byte long where
    /// records were read: the two encodings `response::splice` compares.
    pub fn response(&self, marked: bool) -> FetchResponse {
        if self.req.topics.is_empty() {
            let error = self.reads.first().map_or(0, |r| r.error);
            return FetchResponse::default().with_error_code(error);
        }
        build_response(&self.req, &self.reads, marked)
    }

    /// Whether any partition returned records or an error (else a quiet long poll).
    pub fn has_news(&self) -> bool {
        self.reads.iter().any(|r| r.error != 0 || r.len() > 0)
    }

    /// The records read, in response order.
    pub fn into_slices(self) -> Vec<FileSlice> {
        self.reads.into_iter().filter_map(|r| r.records).collect()
    }
}

/// Fetch v4–v12. Every version reads the same way; the codec takes care of the fields
/// each one adds.
pub async fn handle(ctx: &BrokerContext, req: FetchRequest, version: i16) -> (Fetched, String) {
    if req.session_id != 0 {
        // We never hand out a session id, so a client cannot hold one.
        let line = format!(
            "fetch in session {} -> FETCH_SESSION_ID_NOT_FOUND",
            req.session_id
        );
        return (
            Fetched::refused(ResponseError::FetchSessionIdNotFound.code()),
            line,
        );
    }
    let wanted: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| Wanted {
                topic: t.topic.clone(),
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
            })
        })
        .collect();
    // The broker's `fetch.max.bytes` caps what the client asks for, as in Kafka.
    let max_bytes = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(ctx.config.fetch_max_bytes);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let started = Instant::now();
    let deadline = started + max_wait;
    let mut shutdown = ctx.shutdown.clone();

    let reads = loop {
        let partitions: Vec<Option<Arc<Partition>>> = wanted
            .iter()
            .map(|w| ctx.topics.partition(w.topic.0.as_str(), w.partition))
            .collect();
        // Subscribe first: anything appended from now on marks these as changed.
        let mut watchers: Vec<_> = partitions.iter().flatten().map(|p| p.subscribe()).collect();
        let reads = read_all(&wanted, partitions, max_bytes, version, req.isolation_level).await;
        let total: usize = reads.iter().map(Read::len).sum();
        let any_error = reads.iter().any(|r| r.error != 0);
        if total >= min_bytes || any_error || Instant::now() >= deadline || *shutdown.borrow() {
            break reads;
        }
        let appended = async {
            if watchers.is_empty() {
                std::future::pending::<()>().await;
            } else {
                let changes = watchers.iter_mut().map(|w| Box::pin(w.changed()));
                // Err means the partition was deleted: also a reason to look again.
                let _ = futures::future::select_all(changes).await;
            }
        };
        if ctx.config.explain {
            crate::explain::line(
                "protocol/fetch.rs fetch::handle",
                format_args!(
                    "fetch waits: {total} of min_bytes {min_bytes} bytes ready at {}; parked on Partition::subscribe for up to {} ms more",
                    positions(&wanted),
                    deadline.saturating_duration_since(Instant::now()).as_millis(),
                ),
            );
        }
        let woken_by = tokio::select! {
            _ = appended => "an append to a watched partition",
            _ = tokio::time::sleep_until(deadline) => "the end of max_wait_ms",
            _ = crate::shutdown::stopping(&mut shutdown) => "the broker shutting down",
        };
        if ctx.config.explain {
            crate::explain::line(
                "protocol/fetch.rs fetch::handle",
                format_args!(
                    "fetch woken by {woken_by} after {} ms; reading {} again",
                    started.elapsed().as_millis(),
                    positions(&wanted),
                ),
            );
        }
    };

    let line = if super::describing(ctx) {
        describe(&req, &wanted, &reads, started.elapsed())
    } else {
        String::new()
    };
    (Fetched { req, reads }, line)
}

/// `demo-topic-0@4, demo-topic-1@7`, for explain lines.
fn positions(wanted: &[Wanted]) -> String {
    wanted
        .iter()
        .map(|w| format!("{}-{}@{}", w.topic.0.as_str(), w.partition, w.offset))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads every wanted partition on the blocking pool, within the byte budgets.
async fn read_all(
    wanted: &[Wanted],
    partitions: Vec<Option<Arc<Partition>>>,
    max_bytes: usize,
    version: i16,
    isolation: i8,
) -> Vec<Read> {
    let jobs: Vec<(Option<Arc<Partition>>, i64, usize)> = wanted
        .iter()
        .zip(partitions)
        .map(|(w, p)| (p, w.offset, w.max_bytes))
        .collect();
    let count = jobs.len();
    let committed = isolation == 1;
    match tokio::task::spawn_blocking(move || read_blocking(jobs, max_bytes, version, committed))
        .await
    {
        Ok(reads) => reads,
        Err(e) => {
            tracing::warn!("fetch read did not finish: {e}");
            vec![Read::error(ResponseError::UnknownServerError.code(), -1, -1); count]
        }
    }
}

fn read_blocking(
    jobs: Vec<(Option<Arc<Partition>>, i64, usize)>,
    max_bytes: usize,
    version: i16,
    committed: bool,
) -> Vec<Read> {
    let mut remaining = max_bytes;
    let mut have_data = false;
    let mut reads = Vec::with_capacity(jobs.len());
    for (partition, offset, partition_max) in jobs {
        let Some(partition) = partition else {
            reads.push(Read::error(
                ResponseError::UnknownTopicOrPartition.code(),
                -1,
                -1,
            ));
            continue;
        };
        // zstd needs Fetch v10+ (KIP-110): Kafka refuses older fetches of a topic whose
        // compression.type is zstd, whatever the batches hold.
        if version < 10 && partition.config().compression == Some(Compression::Zstd) {
            reads.push(Read::error(
                ResponseError::UnsupportedCompressionType.code(),
                partition.high_watermark(),
                partition.log_start_offset(),
            ));
            continue;
        }
        let limit = partition_max.min(remaining);
        let read = if have_data && limit == 0 {
            Ok((None, None))
        } else if committed {
            // read_committed stops at the last stable offset and reports the aborted
            // transactions overlapping what it returns (`log/txn_index.rs`).
            read_committed(&partition, offset, limit)
        } else {
            partition.slice(offset, limit).map(|s| (s, None))
        }
        // `slice` gives at least one whole batch (Kafka's minOneMessage), and more
        // only while they fit. Only the response's first batch may exceed the limits:
        // a later partition whose first batch does not fit sends nothing this time.
        .map(|(slice, aborted)| {
            (
                slice.filter(|s| s.len > 0 && !(have_data && s.len > limit)),
                aborted,
            )
        });
        let log_start = partition.log_start_offset();
        let high_watermark = partition.high_watermark();
        reads.push(match read {
            Ok((records, aborted)) => {
                let len = records.as_ref().map_or(0, |r| r.len);
                have_data |= len > 0;
                remaining = remaining.saturating_sub(len);
                Read {
                    error: 0,
                    records,
                    high_watermark,
                    last_stable: partition.last_stable_offset(),
                    log_start,
                    aborted: aborted.or_else(|| committed.then(Vec::new)),
                }
            }
            Err(LogError::OffsetOutOfRange { .. }) => Read::error(
                ResponseError::OffsetOutOfRange.code(),
                high_watermark,
                log_start,
            ),
            Err(e) => {
                tracing::warn!(
                    "fetch {}[{}] at offset {offset} failed: {e}",
                    partition.topic,
                    partition.index
                );
                Read::error(
                    ResponseError::KafkaStorageError.code(),
                    high_watermark,
                    log_start,
                )
            }
        });
    }
    reads
}

/// The response, every records field empty or (`marked`) one byte where records were
/// read; `response::splice` puts the records in.
/// A `read_committed` read: the batches below the last stable offset, and the aborted
/// transactions overlapping them (an empty list when there are none, as Kafka answers).
fn read_committed(partition: &Partition, offset: i64, limit: usize) -> ReadOutcome {
    // An offset out of range is refused the same way whatever the isolation level.
    if offset < partition.log_start_offset() || offset > partition.log_end_offset() {
        return partition.slice(offset, limit).map(|_| (None, None));
    }
    let lso = partition.last_stable_offset();
    Ok(match partition.slice_upto(offset, limit, lso)? {
        Some((slice, upper)) => (Some(slice), Some(partition.aborted_between(offset, upper))),
        None => (None, Some(Vec::new())),
    })
}

/// The batches one read returns, and its aborted transactions (read_committed only).
type ReadOutcome = Result<(Option<FileSlice>, Option<Vec<(i64, i64)>>), LogError>;

fn build_response(req: &FetchRequest, reads: &[Read], marked: bool) -> FetchResponse {
    let mut reads = reads.iter();
    let responses = req
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let lost = Read::error(ResponseError::UnknownServerError.code(), -1, -1);
                    let read = reads.next().unwrap_or(&lost);
                    let records = if marked && read.len() > 0 {
                        Bytes::from_static(&[0xff])
                    } else {
                        Bytes::new()
                    };
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(read.error)
                        .with_high_watermark(read.high_watermark)
                        .with_last_stable_offset(read.last_stable)
                        .with_log_start_offset(read.log_start)
                        .with_aborted_transactions(read.aborted.as_ref().map(|list| {
                            list.iter()
                                .map(|&(producer_id, first_offset)| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(producer_id))
                                        .with_first_offset(first_offset)
                                })
                                .collect()
                        }))
                        .with_records(Some(records))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(responses)
}

/// `fetch demo-topic[1]@12 -> 4096 bytes (hwm 15) after 3 ms`.
fn describe(req: &FetchRequest, wanted: &[Wanted], reads: &[Read], waited: Duration) -> String {
    let parts: Vec<String> = wanted
        .iter()
        .zip(reads)
        .map(|(w, r)| {
            let topic = w.topic.0.as_str();
            if r.error == 0 {
                format!(
                    "{topic}[{}]@{} -> {} bytes (hwm {})",
                    w.partition,
                    w.offset,
                    r.len(),
                    r.high_watermark
                )
            } else {
                format!(
                    "{topic}[{}]@{} -> {}",
                    w.partition,
                    w.offset,
                    super::error_name(r.error)
                )
            }
        })
        .collect();
    format!(
        "fetch (max_wait {} ms, min_bytes {}) {} after {} ms",
        req.max_wait_ms,
        req.min_bytes,
        if parts.is_empty() {
            "no partitions".to_string()
        } else {
            parts.join("; ")
        },
        waited.as_millis()
    )
}
