//! The v2 record batch: the unit Kafka writes to disk and sends on the wire.
//!
//! Flow: producer → wire → server → `Partition::append` → `PartitionLog::append`, which
//! cuts the request's bytes into batches ([`split_exact`]) and checks each one once
//! ([`validate_for`]: [`validate`], plus "every record has a key" on a compacted
//! topic) → segment; and on the way out, fetch → consumer, or recovery,
//! `inspect` and the group coordinator walking stored bytes ([`split_batches`],
//! [`check_frame`], [`records`](super::record::records)).
//!
//! What must stay true:
//! - A stored batch is exactly the bytes the producer sent except for `baseOffset`,
//!   which the broker writes in place ([`set_base_offset`]). The CRC does not cover
//!   `baseOffset`, so no re-encoding and no CRC recomputation happen. (Three things
//!   do re-encode, each with a new CRC: `message.timestamp.type=LogAppendTime`,
//!   `compression.type` other than `producer`, and the log cleaner, which writes a
//!   compacted batch with the records it keeps: `record.rs: rebuild`.)
//! - batchLength (bytes 8–11) is decoded in one place, `batch_length`, and "is there
//!   a whole batch here" is decided in one place, [`frame_len`]. Every reader of
//!   concatenated batches goes through [`frames`] (or, on a file, `frame_len`).
//!
//! # Batch header (all integers big-endian)
//!
//! | bytes  | field                  | notes                                          |
//! |--------|------------------------|------------------------------------------------|
//! | 0–7    | baseOffset i64         | written by the broker                          |
//! | 8–11   | batchLength i32        | bytes after this field                         |
//! | 12–15  | partitionLeaderEpoch i32 |                                              |
//! | 16     | magic i8               | must be 2                                      |
//! | 17–20  | crc u32                | CRC-32C (Castagnoli) of bytes 21..end          |
//! | 21–22  | attributes i16         | bits 0–2 compression, 3 LogAppendTime, 4 transactional, 5 control, 6 delete horizon |
//! | 23–26  | lastOffsetDelta i32    | recordCount − 1 as produced; kept by the cleaner, so ≥ recordCount − 1 after compaction |
//! | 27–34  | baseTimestamp i64      | with bit 6: the delete horizon (KIP-534)       |
//! | 35–42  | maxTimestamp i64       |                                                |
//! | 43–50  | producerId i64         |                                                |
//! | 51–52  | producerEpoch i16      |                                                |
//! | 53–56  | baseSequence i32       |                                                |
//! | 57–60  | recordCount i32        |                                                |
//! | 61…    | records                | compressed as a whole when compression ≠ 0     |
//!
//! The records inside a batch (their format, decoding and building) are in
//! [`super::record`].

use std::ops::Range;

/// Size of the fixed batch header; records start here.
pub const HEADER_LEN: usize = 61;
/// baseOffset (8) + batchLength (4): the bytes not counted in batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// The smallest legal batchLength (a header with no records).
pub const MIN_BATCH_LENGTH: usize = HEADER_LEN - LOG_OVERHEAD;
/// Where the CRC-covered bytes start (attributes onwards).
const CRC_START: usize = ATTRIBUTES.start;

// The byte range of each header field: the table above, as code. `BatchHeader::parse`
// reads through these, and `inspect dump --hex` labels bytes with [`HEADER_FIELDS`].
pub const BASE_OFFSET: Range<usize> = 0..8;
pub const BATCH_LENGTH: Range<usize> = 8..12;
pub const PARTITION_LEADER_EPOCH: Range<usize> = 12..16;
pub const MAGIC: Range<usize> = 16..17;
pub const CRC: Range<usize> = 17..21;
pub const ATTRIBUTES: Range<usize> = 21..23;
pub const LAST_OFFSET_DELTA: Range<usize> = 23..27;
pub const BASE_TIMESTAMP: Range<usize> = 27..35;
pub const MAX_TIMESTAMP: Range<usize> = 35..43;
pub const PRODUCER_ID: Range<usize> = 43..51;
pub const PRODUCER_EPOCH: Range<usize> = 51..53;
pub const BASE_SEQUENCE: Range<usize> = 53..57;
pub const RECORD_COUNT: Range<usize> = 57..61;

/// Every header field in order, with Kafka's name: `(name, byte range)`.
pub const HEADER_FIELDS: [(&str, Range<usize>); 13] = [
    ("baseOffset", BASE_OFFSET),
    ("batchLength", BATCH_LENGTH),
    ("partitionLeaderEpoch", PARTITION_LEADER_EPOCH),
    ("magic", MAGIC),
    ("crc", CRC),
    ("attributes", ATTRIBUTES),
    ("lastOffsetDelta", LAST_OFFSET_DELTA),
    ("baseTimestamp", BASE_TIMESTAMP),
    ("maxTimestamp", MAX_TIMESTAMP),
    ("producerId", PRODUCER_ID),
    ("producerEpoch", PRODUCER_EPOCH),
    ("baseSequence", BASE_SEQUENCE),
    ("recordCount", RECORD_COUNT),
];

/// Why a record batch was rejected. The protocol layer maps each variant to a Kafka
/// error code (see `kafka_error_code`).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than a header, or a batchLength that disagrees with the bytes given.
    #[error("bad batch length: {0}")]
    BadLength(String),
    /// magic is not 2 (v0/v1 message sets are not supported).
    #[error("unsupported magic {0}: only v2 record batches are supported")]
    BadMagic(i8),
    /// CRC-32C over attributes..end does not match.
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    /// recordCount, lastOffsetDelta or the records themselves are inconsistent.
    #[error("invalid records: {0}")]
    InvalidRecords(String),
    /// The records of a compressed batch do not decompress with its codec.
    #[error("the {codec} payload does not decompress: {reason}")]
    Undecompressable { codec: &'static str, reason: String },
    /// Larger than `max.message.bytes`.
    #[error("batch of {size} bytes is larger than max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    /// The records of a compressed batch decompress to more than the broker holds for
    /// one batch (`decompress::MAX_DECOMPRESSED`): a decompression bomb, or a batch
    /// that should be split.
    #[error("the {codec} payload decompresses to more than {limit} bytes")]
    DecompressedTooLarge { codec: &'static str, limit: usize },
    /// Records without a key, sent to a compacted topic (`cleanup.policy` has
    /// `compact`): `indexes` are their positions inside the batch (Kafka's
    /// `batch_index`), in order; `count` is the batch's recordCount.
    #[error(
        "{} of the batch's {count} records have no key (batch index {}), and a compacted topic (cleanup.policy=compact) keeps the latest record per key, so it takes only keyed records",
        indexes.len(),
        first_indexes(indexes)
    )]
    KeylessRecords { indexes: Vec<i32>, count: i32 },
}

/// `1, 3` or, past three, `1, 3, 5, … (7 in all)`: the indexes a log line shows.
fn first_indexes(indexes: &[i32]) -> String {
    let shown: Vec<String> = indexes.iter().take(3).map(i32::to_string).collect();
    if indexes.len() > 3 {
        format!("{}, … ({} in all)", shown.join(", "), indexes.len())
    } else {
        shown.join(", ")
    }
}

impl BatchError {
    /// The Kafka error code a Produce response carries for this error:
    /// CORRUPT_MESSAGE (2), INVALID_RECORD (87: inconsistent records, or key-less ones
    /// in a compacted topic) or MESSAGE_TOO_LARGE (10).
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            BatchError::BadLength(_)
            | BatchError::BadMagic(_)
            | BatchError::BadCrc { .. }
            | BatchError::Undecompressable { .. } => 2,
            BatchError::InvalidRecords(_) | BatchError::KeylessRecords { .. } => 87,
            BatchError::TooLarge { .. } | BatchError::DecompressedTooLarge { .. } => 10,
        }
    }
}

/// The compression codec of a batch (attribute bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Decodes attribute bits 0–2.
    pub fn from_attributes(attributes: i16) -> Result<Compression, BatchError> {
        match attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(BatchError::InvalidRecords(format!(
                "unknown compression codec {other}"
            ))),
        }
    }
    /// The attribute bits for this codec.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// The decoded fixed header of a batch (see the table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Decodes the first [`HEADER_LEN`] bytes. Checks nothing but the length.
    pub fn parse(b: &[u8]) -> Result<BatchHeader, BatchError> {
        if b.len() < HEADER_LEN {
            return Err(BatchError::BadLength(format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte batch header",
                b.len()
            )));
        }
        Ok(BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET.start),
            batch_length: batch_length(b),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH.start),
            magic: b[MAGIC.start] as i8,
            crc: be_i32(b, CRC.start) as u32,
            attributes: be_i16(b, ATTRIBUTES.start),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA.start),
            base_timestamp: be_i64(b, BASE_TIMESTAMP.start),
            max_timestamp: be_i64(b, MAX_TIMESTAMP.start),
            producer_id: be_i64(b, PRODUCER_ID.start),
            producer_epoch: be_i16(b, PRODUCER_EPOCH.start),
            base_sequence: be_i32(b, BASE_SEQUENCE.start),
            record_count: be_i32(b, RECORD_COUNT.start),
        })
    }
    /// The whole batch size on disk: batchLength + 12.
    pub fn total_len(&self) -> usize {
        self.batch_length.max(0) as usize + LOG_OVERHEAD
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_attributes(self.attributes)
    }
    pub(crate) fn compression_name(&self) -> &'static str {
        self.compression().map_or("unknown", Compression::name)
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
    /// KIP-534: the log cleaner set a delete horizon (attribute bit 6); it is then the
    /// batch's baseTimestamp, the time after which its tombstones may be removed.
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_BIT != 0).then_some(self.base_timestamp)
    }
}

/// Attribute bit 6 (KIP-534): baseTimestamp holds the delete horizon, set by the log
/// cleaner on a batch in which it kept tombstones (`log/cleaner.rs`).
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// CRC-32C of bytes 21..end, the value the `crc` field must hold.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(CRC_START..).unwrap_or(&[]))
}

/// Checks the parts of a batch that do not depend on where it is stored: the length
/// agrees with the bytes, magic 2, the CRC-32C, at least one record, and
/// `lastOffsetDelta >= recordCount - 1` (equal as produced, greater once the log
/// cleaner removed records: it keeps the batch's offsets). Touches each byte once (the
/// CRC) and reads no record. Used by recovery and by [`validate`].
pub fn check_frame(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(batch)?;
    if h.total_len() != batch.len() {
        return Err(BatchError::BadLength(format!(
            "batchLength {} does not match the {} bytes given",
            h.batch_length,
            batch.len()
        )));
    }
    if h.magic != 2 {
        return Err(BatchError::BadMagic(h.magic));
    }
    let computed = compute_crc(batch);
    if computed != h.crc {
        return Err(BatchError::BadCrc {
            stored: h.crc,
            computed,
        });
    }
    if h.record_count < 1 || h.last_offset_delta < h.record_count - 1 {
        return Err(BatchError::InvalidRecords(format!(
            "recordCount {} and lastOffsetDelta {} disagree",
            h.record_count, h.last_offset_delta
        )));
    }
    Ok(h)
}

/// Validates a batch a producer sent: [`check_frame`] plus the size limit and a walk
/// over the record length prefixes checking that there are exactly `recordCount`
/// records with offset deltas 0, 1, 2, … that end at the batch end. The header it
/// returns has the maxTimestamp the records give (see [`set_max_timestamp`]), which
/// may not be the one the batch states. The walk reads a
/// few header bytes per record. For a compressed batch it walks the decompressed
/// records (`record::records_section`, the kafka-protocol crate's codecs): the one copy
/// validation makes, thrown away afterwards, since the batch is stored as it came. A
/// payload that does not decompress is CORRUPT_MESSAGE; records that disagree with the
/// header are INVALID_RECORD, compressed or not (Kafka's `InvalidRecordException`).
pub fn validate(batch: &[u8], max_message_bytes: usize) -> Result<BatchHeader, BatchError> {
    validate_for(batch, max_message_bytes, false)
}

/// [`validate`], plus Kafka's rule for a compacted topic (`compacted`: its
/// `cleanup.policy` has `compact`): every record of a batch that is not a control batch
/// must have a key, since the cleaner keeps the latest record per key. The key-less
/// ones are [`BatchError::KeylessRecords`] with their indexes in the batch
/// (INVALID_RECORD, and Produce v8+ lists them in `record_errors`, KIP-467); Kafka's
/// `LogValidator.validateKey`. The key walk (`record::keyless_records`) goes over the
/// same records section as the offset walk, so a compressed batch is decompressed once.
pub fn validate_for(
    batch: &[u8],
    max_message_bytes: usize,
    compacted: bool,
) -> Result<BatchHeader, BatchError> {
    if batch.len() > max_message_bytes {
        return Err(BatchError::TooLarge {
            size: batch.len(),
            max: max_message_bytes,
        });
    }
    let h = check_frame(batch)?;
    if h.last_offset_delta != h.record_count - 1 {
        return Err(BatchError::InvalidRecords(format!(
            "recordCount {} and lastOffsetDelta {} disagree",
            h.record_count, h.last_offset_delta
        )));
    }
    let decompressed;
    let body = if h.compression()? == Compression::None {
        &batch[HEADER_LEN..]
    } else {
        decompressed = super::record::records_section(batch, &h)?;
        &decompressed[..]
    };
    let max_delta = super::record::check_offset_deltas(body, h.record_count)?;
    // The header's maxTimestamp as the records give it, as Kafka's `LogValidator`
    // computes it (the largest record timestamp, -1 when none is above -1) and writes it
    // into the stored batch: a client that gets it wrong (Sarama 1.22 writes -1) would
    // otherwise leave its records out of the time index, retention and ListOffsets.
    let records_max = max_delta
        .map_or(-1, |d| h.base_timestamp.saturating_add(d))
        .max(-1);
    let h = BatchHeader {
        max_timestamp: records_max,
        ..h
    };
    if compacted && !h.is_control() {
        let indexes = super::record::keyless_records(body, h.record_count)?;
        if !indexes.is_empty() {
            return Err(BatchError::KeylessRecords {
                indexes,
                count: h.record_count,
            });
        }
    }
    Ok(h)
}

/// Attribute bit 3: the batch's timestamps are the broker's append time.
pub const LOG_APPEND_TIME_BIT: i16 = 0x08;

/// `message.timestamp.type=LogAppendTime`: sets attribute bit 3 and maxTimestamp to
/// `now`, then recomputes the CRC (both fields are in the bytes it covers, 21..). The
/// records' own timestamps stay as sent; a reader takes maxTimestamp for every record
/// of such a batch (`record.rs: records`). Kafka's `LogValidator` does the same.
pub fn set_log_append_time(batch: &mut [u8], now: i64) {
    if batch.len() < HEADER_LEN {
        return;
    }
    let attributes = be_i16(batch, ATTRIBUTES.start) | LOG_APPEND_TIME_BIT;
    batch[ATTRIBUTES].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP].copy_from_slice(&now.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC].copy_from_slice(&crc.to_be_bytes());
}

/// Sets maxTimestamp (bytes 35–42) and recomputes the CRC, which covers it: what the
/// log does when a producer's batch states another maxTimestamp than its records give
/// ([`validate_for`] computes that one), as Kafka's `LogValidator` does
/// (`batch.setMaxTimestamp`).
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    if batch.len() < HEADER_LEN {
        return;
    }
    batch[MAX_TIMESTAMP].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC].copy_from_slice(&crc.to_be_bytes());
}

/// Writes the broker-assigned base offset into bytes 0–7, leaving the CRC valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(field) = batch.get_mut(BASE_OFFSET) {
        field.copy_from_slice(&base_offset.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------
// Framing: cutting bytes into batches. batchLength (bytes 8–11) is read in
// `batch_length` and nowhere else in the broker; `frame_len` is the one rule for
// "is there a whole batch here", and `frames` the one loop over a buffer. The lenient
// reader (`split_batches`: fetch results, recovery, replay) and the strict one
// (`split_exact`: a Produce request's records) are both built on `frames`.
// ---------------------------------------------------------------------------------

/// Why the bytes at some position are not one whole batch. Framing looks at nothing
/// but batchLength (bytes 8–11) and how many bytes are there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes left than a batch header.
    #[error("{left} bytes left, fewer than a batch header")]
    Short { left: usize },
    /// batchLength is smaller than a header with no records (negative, say).
    #[error("batchLength {length} is too small")]
    TooSmall { length: i32 },
    /// batchLength claims more bytes than there are.
    #[error("batchLength {length} runs past the end ({left} bytes left)")]
    PastEnd { length: i32, left: usize },
}

/// Where framing stopped: the byte position in the buffer, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {error}")]
pub struct Torn {
    pub position: usize,
    pub error: FrameError,
}

/// batchLength, bytes 8–11 of a batch (`head` holds at least [`LOG_OVERHEAD`] bytes).
fn batch_length(head: &[u8]) -> i32 {
    be_i32(head, BATCH_LENGTH.start)
}

/// The size of the batch whose first bytes are `head` (batchLength + 12), when `left`
/// bytes from its start are available: in memory `head` is the whole rest of the
/// buffer, on disk (`segment.rs`) it is the header just read and `left` the bytes to
/// the end of the file. Checks only that a header fits, that batchLength is at least
/// [`MIN_BATCH_LENGTH`], and that the batch ends within `left`.
pub fn frame_len(head: &[u8], left: usize) -> Result<usize, FrameError> {
    if left < HEADER_LEN {
        return Err(FrameError::Short { left });
    }
    if head.len() < LOG_OVERHEAD {
        return Err(FrameError::Short { left: head.len() });
    }
    let length = batch_length(head);
    if length < MIN_BATCH_LENGTH as i32 {
        return Err(FrameError::TooSmall { length });
    }
    let total = length as usize + LOG_OVERHEAD;
    if total > left {
        return Err(FrameError::PastEnd { length, left });
    }
    Ok(total)
}

/// Cuts `buf` into whole batches, front to back: the one framing loop. Each item is
/// the byte range of one batch; at the first bytes that are not a whole batch the
/// iterator yields a [`Torn`] and ends. Nothing but the framing is checked: magic,
/// CRC-32C and the records are [`validate`]'s and [`check_frame`]'s job.
pub fn frames(buf: &[u8]) -> impl Iterator<Item = Result<Range<usize>, Torn>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let rest = &buf[at..];
        match frame_len(rest, rest.len()) {
            Ok(total) => {
                let range = at..at + total;
                at += total;
                Some(Ok(range))
            }
            Err(error) => {
                let position = at;
                at = buf.len();
                Some(Err(Torn { position, error }))
            }
        }
    })
}

/// The lenient reader: the whole batches at the front of `buf` (a fetch result, a
/// chunk of a `.log`), a partial batch at the end dropped, as clients do.
pub fn split_batches(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    frames(buf).map_while(move |f| f.ok().map(|r| &buf[r]))
}

/// The strict reader, for the `records` of a Produce request: every byte must belong
/// to a whole batch, and there must be at least one. Bad framing is
/// [`BatchError::BadLength`] (CORRUPT_MESSAGE); no batch at all is
/// [`BatchError::InvalidRecords`] (INVALID_RECORD).
pub fn split_exact(buf: &[u8]) -> Result<Vec<Range<usize>>, BatchError> {
    if buf.is_empty() {
        return Err(BatchError::InvalidRecords("no record batch given".into()));
    }
    frames(buf)
        .map(|f| f.map_err(|torn| BatchError::BadLength(format!("{torn} of {}", buf.len()))))
        .collect()
}

#[cfg(test)]
mod tests;
