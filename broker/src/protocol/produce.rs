//! Produce (key 0): record batches in, offsets out.
//!
//! Flow: producer → partitioner → wire → server → connection → **produce** →
//! `Partition::append` (partition log → segment) → wakes fetches waiting on
//! `Partition::subscribe` → fetch → consumer.
//!
//! # Request, as used here (v3–v9; v9+ is flexible)
//!
//! | field                | meaning                                               |
//! |----------------------|-------------------------------------------------------|
//! | transactional_id     | null unless transactional (not supported: ignored)    |
//! | acks i16             | 0 = no response at all (a failure closes the          |
//! |                      | connection instead), 1 = after the leader wrote it,    |
//! |                      | -1 = after all in-sync replicas did (here: same as 1) |
//! | timeout_ms i32       | replication wait; one node has nothing to wait for    |
//! | topic_data[]         | name, then partition_data[]: index i32, records bytes |
//!
//! `records` holds exactly one v2 record batch per partition (see `log::record_batch`
//! for its byte table), as Kafka requires from v3 on (`ProduceRequest.validateRecords`,
//! checked here by [`one_batch`] with Kafka's messages): no whole batch, a batch of
//! magic 0 or 1, or a second whole batch get INVALID_RECORD. (Bytes after the batch that
//! are not a whole batch get CORRUPT_MESSAGE from the append's framing, where Kafka
//! would drop them and store the batch.)
//!
//! What must stay true:
//! - Every partition gets its own result. A bad batch gets CORRUPT_MESSAGE (framing,
//!   a magic above 2, CRC-32C), INVALID_RECORD (inconsistent records; [`one_batch`]'s
//!   refusals) or
//!   MESSAGE_TOO_LARGE (`BatchError::kafka_error_code`), and **nothing** of that
//!   partition's records is stored: `PartitionLog::append` frames the records
//!   (`record_batch::split_exact`) and validates every batch
//!   (`record_batch::validate_for`) before the first one is written. This file parses
//!   no batch bytes itself.
//! - A compacted topic (`cleanup.policy` has `compact`) takes only keyed records, as in
//!   Kafka: a batch with key-less records gets INVALID_RECORD
//!   (`BatchError::KeylessRecords`, found by `record_batch::validate_for`), and from v8
//!   on (KIP-467) `record_errors` names each (`batch_index`, Kafka's message) and
//!   `error_message` is Kafka's summary (`kafka_summary`). Below v8, just the code.
//! - The batches are stored byte for byte as sent, except the base offset (bytes
//!   0–7), which the log assigns (the CRC does not cover it, so it stays valid), the
//!   leader epoch, and a maxTimestamp that is not the records' largest timestamp,
//!   which the log rewrites with a new CRC, as Kafka's LogValidator does.
//!   A compressed batch is checked record by record after decompressing, and still
//!   stored compressed as it came. The one exception is a topic whose
//!   `compression.type` is a codec: batches in another codec are written again in it
//!   (`Partition::append`), as Kafka does, and the log line says so.
//! - A zstd batch in Produce below v7 gets UNSUPPORTED_COMPRESSION_TYPE, as in Kafka.
//! - A batch with a producer id (an idempotent producer's) is checked against what the
//!   partition knows of that producer (`log/producer_state.rs`): a retry of one of its
//!   last five batches is answered with the original offsets and no error, and not
//!   written again; a gap in the sequence gets OUT_OF_ORDER_SEQUENCE_NUMBER, an old
//!   epoch INVALID_PRODUCER_EPOCH.
//! - The response carries the base offset of the first batch and the log start offset.
//! - Appends that may wait on the disk (fsync=always, a segment roll) or recompress
//!   (a topic `compression.type`) run on the blocking pool, all the partitions of one request in one trip there, in request
//!   order. The others are writes into the page cache and run inline: cheaper than the
//!   trip (`Partition::append_may_block`).

use crate::explain::{count, offsets};
use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::log::record_batch::{BatchHeader, Compression};
use crate::log::{AppendInfo, BatchError, LogError};
use crate::topics::Partition;
use std::sync::Arc;

/// One partition's outcome: where its records landed (and, when the topic's
/// `compression.type` recompressed them, the codecs), or why they were refused.
type PartitionOutcome = Result<(AppendInfo, Option<String>), Refusal>;

/// Why a partition's records were refused: the Kafka error code, our reason (for the
/// request log line, and `error_message` from v8 on), and, when single records were at
/// fault, KIP-467's per-record errors.
#[derive(Debug)]
struct Refusal {
    code: i16,
    reason: String,
    /// Where the records were looked at and refused, for the explain line.
    checked_by: Option<&'static str>,
    /// `(batch_index, message)` of each refused record, in batch order: Produce v8+
    /// sends them as `record_errors`, and `error_message` becomes Kafka's summary of
    /// them ([`kafka_summary`]).
    record_errors: Vec<(i32, String)>,
}

impl Refusal {
    fn new(code: i16, reason: String) -> Refusal {
        Refusal {
            code,
            reason,
            checked_by: None,
            record_errors: Vec::new(),
        }
    }

    /// A batch `Partition::append` refused. Key-less records in a compacted topic are
    /// refused one by one, with Kafka's message for each (`LogValidator.validateKey`).
    fn from_batch(topic: &str, index: i32, e: BatchError) -> Refusal {
        let record_errors = match &e {
            BatchError::KeylessRecords { indexes, .. } => indexes
                .iter()
                .map(|&i| {
                    (
                        i,
                        format!("Compacted topic cannot accept message without key in topic partition {topic}-{index}"),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        Refusal {
            code: e.kafka_error_code(),
            reason: e.to_string(),
            checked_by: Some(
                "log/record_batch.rs split_exact and validate_for, which PartitionLog::append runs on every batch before it writes one",
            ),
            record_errors,
        }
    }

    /// What `error_message` carries (v8+): Kafka's summary when records were refused one
    /// by one, else our reason.
    fn error_message(&self) -> String {
        if self.record_errors.is_empty() {
            self.reason.clone()
        } else {
            kafka_summary(&self.record_errors)
        }
    }
}

/// Kafka's `error_message` for per-record errors (`LogValidator.processRecordErrors`):
/// the count, then the first three as Java prints a `List<RecordError>`.
fn kafka_summary(record_errors: &[(i32, String)]) -> String {
    let first: Vec<String> = record_errors
        .iter()
        .take(3)
        .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        record_errors.len(),
        first.join(", ")
    )
}

/// Produce v3–v9. The caller sends no response at all when `acks == 0`.
///
/// Three steps: check every partition (the topic exists, the codec is allowed), append
/// all the accepted ones in **one** trip to the blocking pool, then answer each. The
/// cost of a request does not grow with a handoff per partition.
pub async fn handle(
    ctx: &BrokerContext,
    req: ProduceRequest,
    version: i16,
) -> (ProduceResponse, String) {
    let acks = req.acks;
    // 1. Check each partition; the accepted ones become append jobs.
    let mut checked: Vec<(String, i32, Result<Job, Refusal>)> = Vec::new();
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.as_str().to_string();
        let mut count = 0;
        for data in topic.partition_data {
            let job = if !matches!(acks, -1..=1) {
                Err(Refusal::new(
                    ResponseError::InvalidRequiredAcks.code(),
                    format!("acks must be -1, 0 or 1, got {acks}"),
                ))
            } else {
                if ctx.config.explain {
                    explain_choice(ctx, &name, data.index, data.records.as_ref());
                }
                prepare(ctx, &name, data.index, data.records, version)
            };
            checked.push((name.clone(), data.index, job));
            count += 1;
        }
        topics.push((topic.name, count));
    }

    // 2. Append every accepted partition, in request order, on the blocking pool.
    let jobs: Vec<Option<(Arc<Partition>, Bytes)>> = checked
        .iter_mut()
        .map(|(_, _, job)| match job {
            Ok(job) => Some((job.partition.clone(), std::mem::take(&mut job.records))),
            Err(_) => None,
        })
        .collect();
    // A write into the page cache takes microseconds, less than the two thread switches
    // of a trip to the blocking pool: such appends run here. One that may wait on the
    // disk (fsync=always, a roll) sends the whole request there.
    let blocking = jobs
        .iter()
        .flatten()
        .any(|(partition, records)| partition.append_may_block(records.len()));
    let append_all = move || {
        jobs.into_iter()
            .map(|job| {
                // The records go to the log straight from the request buffer.
                job.map(|(partition, records)| partition.append(&records))
            })
            .collect::<Vec<_>>()
    };
    let appended = if blocking {
        tokio::task::spawn_blocking(append_all).await
    } else {
        Ok(append_all())
    };

    // 3. One answer (and log line) per partition. `results` has one entry per checked
    // partition (None for a refused one), so it stays in step with `checked`.
    let (results, lost) = match appended {
        Ok(results) => (results, String::new()),
        Err(e) => (Vec::new(), e.to_string()),
    };
    let mut results = results.into_iter();
    let describing = super::describing(ctx);
    let mut lines = Vec::new();
    let mut outcomes = Vec::with_capacity(checked.len());
    for (name, index, job) in checked {
        let result = results.next().flatten();
        let outcome = match (job, result) {
            (Err(refusal), _) => Err(refusal),
            (Ok(job), Some(result)) => finish(&name, index, result, job.recompressed),
            (Ok(_), None) => Err(Refusal::new(
                ResponseError::UnknownServerError.code(),
                format!("append to {name}[{index}] did not finish: {lost}"),
            )),
        };
        if let (true, Err(refusal)) = (ctx.config.explain, &outcome) {
            explain_refusal(&name, index, refusal, version);
        }
        if describing {
            lines.push(describe(&name, index, &outcome));
        }
        outcomes.push(partition_response(index, outcome, version));
    }
    let mut outcomes = outcomes.into_iter();
    let responses = topics
        .into_iter()
        .map(|(name, count)| {
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(outcomes.by_ref().take(count).collect())
        })
        .collect();
    let line = if describing {
        format!("produce acks={acks} {}", lines.join("; "))
    } else {
        String::new()
    };
    (ProduceResponse::default().with_responses(responses), line)
}

/// One partition's records, accepted for appending.
struct Job {
    partition: Arc<Partition>,
    records: Bytes,
    /// `sent gzip, stored zstd (…)` when the topic's codec rewrites the batches.
    recompressed: Option<String>,
}

/// The explain line of the partition a producer chose (explain mode only).
fn explain_choice(ctx: &BrokerContext, topic: &str, index: i32, records: Option<&Bytes>) {
    let partitions = ctx
        .topics
        .get(topic)
        .map_or_else(|| "unknown".to_string(), |t| t.partitions.len().to_string());
    crate::explain::line(
        "protocol/produce.rs produce::handle",
        format_args!(
            "the producer chose partition {index} of {topic} (partition count {partitions}) for {} bytes of record batches; the client's partitioner picks it (murmur2(key) mod partitions for a keyed record), the broker only stores",
            records.map_or(0, Bytes::len),
        ),
    );
}

/// The explain line of a refused partition (explain mode only): the error, why, and
/// what the producer is told.
fn explain_refusal(topic: &str, index: i32, refusal: &Refusal, version: i16) {
    let told = match (refusal.record_errors.len(), version >= 8) {
        (0, _) => String::new(),
        (n, true) => format!(
            "; record_errors names the {} (KIP-467, Produce v8+), and error_message is Kafka's summary",
            count(n, "refused record")
        ),
        (_, false) => {
            format!("; Produce v{version} has no record_errors (v8+), so only the code goes back")
        }
    };
    let checked_by = refusal
        .checked_by
        .map_or_else(String::new, |by| format!(" (found by {by})"));
    crate::explain::line(
        "protocol/produce.rs produce::handle",
        format_args!(
            "{topic}[{index}] refused with {}, nothing of it appended: {}{checked_by}{told}",
            super::error_name(refusal.code),
            refusal.reason,
        ),
    );
}

/// Checks one partition before its append: it exists, and its records are one v2
/// batch (zstd only from v7).
/// `Partition::append` then frames the batches, validates each once, and stores all
/// of them or none.
fn prepare(
    ctx: &BrokerContext,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
    version: i16,
) -> Result<Job, Refusal> {
    let Some(partition) = ctx.topics.partition(topic, index) else {
        return Err(Refusal::new(
            ResponseError::UnknownTopicOrPartition.code(),
            format!("this broker has no partition {topic}[{index}]"),
        ));
    };
    let records = records.unwrap_or_default();
    one_batch(&records, version)?;
    let recompressed = recompression(&partition, &records);
    if let (true, Some(what)) = (ctx.config.explain, &recompressed) {
        crate::explain::line(
            "topics/partition.rs Partition::append",
            format_args!(
                "{topic}[{index}]: {what}: the batch is decompressed, its records decoded and written again as one batch in the topic's codec before the log appends it (Kafka's LogValidator); under compression.type=producer it would be stored byte for byte"
            ),
        );
    }
    Ok(Job {
        partition,
        records,
        recompressed,
    })
}

/// What Kafka's record reader (`ByteBufferLogInputStream.nextBatch`) finds at the
/// start of `buf`, which decides Kafka's answer to a Produce with the wrong number of
/// batches.
#[derive(Debug, PartialEq, Eq)]
enum NextBatch {
    /// No whole batch: too few bytes for a header up to the magic byte, or fewer than
    /// batchLength says.
    Nothing,
    /// batchLength below Kafka's smallest record, or a magic byte above 2: Kafka's
    /// reader throws CORRUPT_MESSAGE, which the append's checks answer here too.
    Corrupt,
    /// A whole batch of `len` bytes (batchLength + 12), with this magic byte.
    Batch { len: usize, magic: i8 },
}

fn next_batch(buf: &[u8]) -> NextBatch {
    use crate::log::record_batch::{BATCH_LENGTH, LOG_OVERHEAD, MAGIC};
    // `LegacyRecord.RECORD_OVERHEAD_V0`: the smallest batchLength Kafka's reader takes.
    const RECORD_OVERHEAD_V0: i32 = 14;
    let Some(length) = buf.get(BATCH_LENGTH) else {
        return NextBatch::Nothing;
    };
    let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    if length < RECORD_OVERHEAD_V0 {
        return NextBatch::Corrupt;
    }
    let Some(&[magic]) = buf.get(MAGIC) else {
        return NextBatch::Nothing;
    };
    let magic = magic as i8;
    if !(0..=2).contains(&magic) {
        return NextBatch::Corrupt;
    }
    let len = length as usize + LOG_OVERHEAD;
    if buf.len() < len {
        return NextBatch::Nothing;
    }
    NextBatch::Batch { len, magic }
}

/// Kafka's `ProduceRequest.validateRecords` for v3+, in its order: one whole batch, of
/// magic 2; zstd only from v7 (KIP-110; UNSUPPORTED_COMPRESSION_TYPE); no second
/// batch. The other refusals are INVALID_RECORD with Kafka's messages; what Kafka's
/// reader finds corrupt is left to the append, which answers CORRUPT_MESSAGE.
fn one_batch(records: &[u8], version: i16) -> Result<(), Refusal> {
    let invalid = |what: &str| {
        Refusal::new(
            ResponseError::InvalidRecord.code(),
            format!("Produce requests with version {version} {what}"),
        )
    };
    let len = match next_batch(records) {
        NextBatch::Nothing => {
            return Err(invalid("must have at least one record batch per partition"))
        }
        NextBatch::Corrupt => return Ok(()),
        NextBatch::Batch { magic, .. } if magic != 2 => {
            return Err(invalid(
                "are only allowed to contain record batches with magic version 2",
            ))
        }
        NextBatch::Batch { len, .. } => len,
    };
    let codec = BatchHeader::parse(records)
        .ok()
        .and_then(|h| h.compression().ok());
    if version < 7 && codec == Some(Compression::Zstd) {
        return Err(Refusal::new(
            ResponseError::UnsupportedCompressionType.code(),
            format!("Produce v{version} may not carry zstd batches (v7+ may)"),
        ));
    }
    match next_batch(&records[len..]) {
        NextBatch::Batch { .. } => Err(invalid(
            "are only allowed to contain exactly one record batch per partition",
        )),
        NextBatch::Nothing | NextBatch::Corrupt => Ok(()),
    }
}

/// The outcome of one append, as Produce reports it.
fn finish(
    topic: &str,
    index: i32,
    result: Result<AppendInfo, LogError>,
    recompressed: Option<String>,
) -> PartitionOutcome {
    match result {
        Ok(info) => Ok((info, recompressed)),
        Err(LogError::InvalidBatch(e)) => Err(Refusal::from_batch(topic, index, e)),
        Err(LogError::Producer(e)) => Err(Refusal {
            checked_by: Some(
                "log/producer_state.rs ProducerStateTable::check, which PartitionLog::append runs on every batch with a producer id before it writes one",
            ),
            ..Refusal::new(e.kafka_error_code(), e.to_string())
        }),
        Err(e) => {
            // A full disk was logged once by the partition log, not once per request.
            if !e.is_no_space() {
                tracing::warn!("append to {topic}[{index}] failed: {e}");
            }
            Err(Refusal::new(
                ResponseError::KafkaStorageError.code(),
                e.to_string(),
            ))
        }
    }
}

/// `sent gzip, stored zstd (compression.type=zstd)` when the topic's codec differs from
/// the codec of the first batch sent (`Partition::append` does the recompressing).
fn recompression(partition: &crate::topics::Partition, records: &[u8]) -> Option<String> {
    let target = partition.config().compression?;
    let sent = BatchHeader::parse(records).ok()?.compression().ok()?;
    let name = |c: Compression| match c {
        Compression::None => "uncompressed",
        c => c.name(),
    };
    (sent != target).then(|| {
        format!(
            "sent {}, stored {} (compression.type={})",
            sent.name(),
            target.name(),
            name(target)
        )
    })
}

fn partition_response(
    index: i32,
    outcome: PartitionOutcome,
    version: i16,
) -> PartitionProduceResponse {
    let resp = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok((info, _)) => resp
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time)
            .with_log_start_offset(info.log_start_offset),
        Err(refusal) => {
            let resp = resp
                .with_error_code(refusal.code)
                .with_base_offset(-1)
                .with_log_start_offset(-1);
            // record_errors and error_message exist from v8 on (KIP-467).
            if version >= 8 {
                let record_errors = refusal
                    .record_errors
                    .iter()
                    .map(|(i, m)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(*i)
                            .with_batch_index_error_message(Some(StrBytes::from_string(m.clone())))
                    })
                    .collect();
                resp.with_record_errors(record_errors)
                    .with_error_message(Some(StrBytes::from_string(refusal.error_message())))
            } else {
                resp
            }
        }
    }
}

/// `demo-topic[1] 3 records -> offsets 12 to 14 (segment 0, byte 4096)`.
fn describe(topic: &str, index: i32, outcome: &PartitionOutcome) -> String {
    match outcome {
        Ok((info, _)) if info.duplicate => format!(
            "{topic}[{index}] {} -> duplicate of {} (a retry of a batch already written: \
             answered with its offsets, not written again)",
            count(info.record_count, "record"),
            offsets(info.base_offset, info.last_offset),
        ),
        Ok((info, recompressed)) => {
            let batches = if info.batch_count > 1 {
                format!(" in {}", count(info.batch_count, "batch"))
            } else {
                String::new()
            };
            let recompressed = recompressed
                .as_ref()
                .map_or_else(String::new, |r| format!(", {r}"));
            format!(
                "{topic}[{index}] {}{batches} -> {} (segment {}, byte {}{recompressed})",
                count(info.record_count, "record"),
                offsets(info.base_offset, info.last_offset),
                info.segment_base,
                info.position
            )
        }
        Err(refusal) => {
            format!(
                "{topic}[{index}] rejected: {}: {}",
                super::error_name(refusal.code),
                refusal.reason
            )
        }
    }
}
