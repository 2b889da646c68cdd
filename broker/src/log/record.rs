//! A record: one key/value message inside a v2 batch, and how to decode and build them.
//!
//! Flow: producer builds records into a batch → … → the batch is stored as it came
//! (see `record_batch`) → consumers, `inspect` and the group coordinator decode the
//! records with [`records`]; the group coordinator writes `__consumer_offsets` entries
//! with [`build`]; the log cleaner writes the records it keeps with [`rebuild`].
//!
//! What must stay true: [`build`] produces a batch that `record_batch::validate`
//! accepts, and [`records`] reads back exactly what was built (offsets made absolute
//! from baseOffset + offsetDelta, timestamps from baseTimestamp + timestampDelta).
//!
//! # Record (varints are zig-zag, as in protobuf)
//!
//! | field            | type                                     |
//! |------------------|------------------------------------------|
//! | length           | varint: bytes after this field           |
//! | attributes       | i8 (unused, 0)                           |
//! | timestampDelta   | varlong, from baseTimestamp              |
//! | offsetDelta      | varint, from baseOffset                  |
//! | key              | varint length (−1 = null), then bytes    |
//! | value            | varint length (−1 = null), then bytes    |
//! | headers count    | varint                                   |
//! | each header      | key: varint length + UTF-8; value: varint length (−1 = null) + bytes |

use bytes::{Buf, Bytes, BytesMut};

use super::record_batch::{
    compute_crc, BatchError, BatchHeader, Compression, HEADER_LEN, LOG_OVERHEAD,
};

fn bad(msg: impl Into<String>) -> BatchError {
    BatchError::InvalidRecords(msg.into())
}

/// One record as read back from a batch, with absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A record to put into a new batch (see [`build`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Absolute timestamp in milliseconds.
    pub timestamp: i64,
}

/// Reads a zig-zag varint (at most 5 bytes).
pub fn read_varint(buf: &mut &[u8]) -> Result<i32, BatchError> {
    let v = read_unsigned(buf, 5)?;
    let v = u32::try_from(v).map_err(|_| bad("varint overflows 32 bits"))?;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Reads a zig-zag varlong (at most 10 bytes).
pub fn read_varlong(buf: &mut &[u8]) -> Result<i64, BatchError> {
    let v = read_unsigned(buf, 10)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

/// The unsigned varint at the front of `buf`. One- and two-byte varints (every length,
/// delta and count of a small record) take the inlined fast path; longer ones, and
/// every error, the loop in [`read_unsigned_slow`]. Both give the same results.
#[inline]
fn read_unsigned(buf: &mut &[u8], max_bytes: usize) -> Result<u64, BatchError> {
    let bytes: &[u8] = buf;
    match bytes {
        [b0, rest @ ..] if *b0 < 0x80 => {
            *buf = rest;
            Ok(u64::from(*b0))
        }
        [b0, b1, rest @ ..] if *b1 < 0x80 && max_bytes >= 2 => {
            *buf = rest;
            Ok(u64::from(b0 & 0x7f) | (u64::from(*b1) << 7))
        }
        _ => read_unsigned_slow(buf, max_bytes),
    }
}

#[cold]
fn read_unsigned_slow(buf: &mut &[u8], max_bytes: usize) -> Result<u64, BatchError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let Some((&b, rest)) = buf.split_first() else {
            return Err(bad("truncated varint"));
        };
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("varint is too long"))
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn read_bytes(buf: &mut &[u8], what: &str) -> Result<Option<Bytes>, BatchError> {
    let len = read_varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if len > buf.len() {
        return Err(bad(format!("{what} of {len} bytes overruns the record")));
    }
    let (b, rest) = buf.split_at(len);
    *buf = rest;
    Ok(Some(Bytes::copy_from_slice(b)))
}

/// The records section, decompressed when the batch is compressed (gzip, snappy raw
/// or xerial-framed as the Java client writes it, lz4 frames, zstd), at most
/// `decompress::MAX_DECOMPRESSED` bytes (`decompress.rs`). A payload the codec cannot
/// read is [`BatchError::Undecompressable`] (CORRUPT_MESSAGE); one that claims more is
/// [`BatchError::DecompressedTooLarge`] (MESSAGE_TOO_LARGE).
pub fn records_section(batch: &[u8], h: &BatchHeader) -> Result<Bytes, BatchError> {
    let raw = batch
        .get(HEADER_LEN..h.total_len().min(batch.len()))
        .ok_or_else(|| BatchError::BadLength("batch is shorter than its header".into()))?;
    super::decompress::decompress(h.compression()?, raw, super::decompress::MAX_DECOMPRESSED)
}

/// The walk [`validate`](super::record_batch::validate) makes over a batch's records
/// (the decompressed ones, for a compressed batch): exactly `count` records, with
/// offset deltas 0, 1, 2, …, ending at the end of `body`. It reads each record's
/// length, attributes, timestampDelta and offsetDelta with the same varint readers as
/// [`records`], and copies nothing. Returns the largest timestampDelta (`None` for no
/// record), from which the batch's true maxTimestamp follows.
pub fn check_offset_deltas(body: &[u8], count: i32) -> Result<Option<i64>, BatchError> {
    let mut rest = body;
    let mut max_delta: Option<i64> = None;
    for expected in 0..count {
        let len = read_varint(&mut rest)
            .ok()
            .and_then(|l| usize::try_from(l).ok());
        let Some(len) = len else {
            return Err(bad(format!("record {expected} has a bad length")));
        };
        let Some(record) = rest.get(..len).filter(|r| !r.is_empty()) else {
            return Err(bad(format!(
                "record {expected} of {len} bytes overruns the batch"
            )));
        };
        let mut r = &record[1..]; // after the attributes byte
        let deltas = read_varlong(&mut r)
            .and_then(|timestamp_delta| Ok((timestamp_delta, read_varint(&mut r)?)))
            .ok();
        let Some((timestamp_delta, _)) = deltas.filter(|d| d.1 == expected) else {
            let delta = deltas.map(|d| d.1);
            return Err(bad(format!("record {expected} has offsetDelta {delta:?}")));
        };
        max_delta = Some(max_delta.map_or(timestamp_delta, |m| m.max(timestamp_delta)));
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} bytes left after {count} records",
            rest.len()
        )));
    }
    Ok(max_delta)
}

/// Every record of one batch, decompressing if needed. `batch` is one whole batch.
pub fn records(batch: &[u8]) -> Result<Vec<Record>, BatchError> {
    let h = BatchHeader::parse(batch)?;
    let body = records_section(batch, &h)?;
    let mut buf: &[u8] = &body;
    let mut out = Vec::with_capacity(h.record_count.clamp(0, 4096) as usize);
    for i in 0..h.record_count {
        let len = read_varint(&mut buf)?;
        if len < 0 || len as usize > buf.len() {
            return Err(bad(format!(
                "record {i} has length {len}, overrunning the batch"
            )));
        }
        let (mut r, rest) = buf.split_at(len as usize);
        buf = rest;
        if r.is_empty() {
            return Err(bad(format!("record {i} is empty")));
        }
        r.advance(1);
        let ts_delta = read_varlong(&mut r)?;
        let off_delta = read_varint(&mut r)?;
        let key = read_bytes(&mut r, "key")?;
        let value = read_bytes(&mut r, "value")?;
        let n_headers = read_varint(&mut r)?;
        let mut headers = Vec::new();
        for _ in 0..n_headers.max(0) {
            let k = read_bytes(&mut r, "header key")?
                .ok_or_else(|| bad(format!("record {i} has a null header key")))?;
            let k = String::from_utf8(k.to_vec())
                .map_err(|_| bad(format!("record {i} has a header key that is not UTF-8")))?;
            headers.push((k, read_bytes(&mut r, "header value")?));
        }
        let timestamp = if h.is_log_append_time() {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(ts_delta)
        };
        out.push(Record {
            offset: h.base_offset.wrapping_add(i64::from(off_delta)),
            timestamp,
            key,
            value,
            headers,
        });
    }
    Ok(out)
}

/// Builds a v2 batch (baseOffset 0, no producer id) holding `records`, with timestamp
/// deltas taken from `base_timestamp`. `records` must not be empty (the log rejects a
/// batch without records). If the codec fails (it should not), the batch
/// is built uncompressed instead, so a valid batch always comes back.
pub fn build(records: &[NewRecord], base_timestamp: i64, compression: Compression) -> Vec<u8> {
    let body = encode(
        records.iter().enumerate().map(|(i, r)| Encoded {
            offset_delta: i as i64,
            timestamp: r.timestamp,
            key: &r.key,
            value: &r.value,
            headers: &r.headers,
        }),
        base_timestamp,
    );
    let max_ts = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(base_timestamp);
    let count = records.len() as i32;
    frame(
        Fields {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            last_offset_delta: (count - 1).max(0),
            base_timestamp,
            max_timestamp: max_ts,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: count,
        },
        body,
        compression,
    )
}

/// The log cleaner's batch (Kafka's `MemoryRecords.filterTo`): `kept`, the records of
/// `original` it keeps (at least one), in a new batch that keeps the original's
/// baseOffset and lastOffsetDelta (so its offsets, and the producer's last sequence,
/// stay as they were), its codec, producer id, epoch, base sequence, leader epoch and
/// attribute bits. Each record keeps its offset (offsetDelta from the same base), key,
/// value, headers and timestamp. maxTimestamp becomes the largest kept timestamp
/// (LogAppendTime: the original's). With `delete_horizon`, attribute bit 6 is set and
/// baseTimestamp holds the horizon (KIP-534): the timestamp deltas are taken from it.
pub fn rebuild(original: &BatchHeader, kept: &[Record], delete_horizon: Option<i64>) -> Vec<u8> {
    use super::record_batch::DELETE_HORIZON_BIT;
    let base_timestamp = delete_horizon.unwrap_or_else(|| {
        kept.first()
            .map_or(original.base_timestamp, |r| r.timestamp)
    });
    let body = encode(
        kept.iter().map(|r| Encoded {
            offset_delta: r.offset - original.base_offset,
            timestamp: r.timestamp,
            key: &r.key,
            value: &r.value,
            headers: &r.headers,
        }),
        base_timestamp,
    );
    let max_timestamp = if original.is_log_append_time() {
        original.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(original.max_timestamp)
    };
    let mut attributes = original.attributes & !DELETE_HORIZON_BIT;
    if delete_horizon.is_some() {
        attributes |= DELETE_HORIZON_BIT;
    }
    let compression = original.compression().unwrap_or_default();
    frame(
        Fields {
            base_offset: original.base_offset,
            partition_leader_epoch: original.partition_leader_epoch,
            attributes,
            last_offset_delta: original.last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id: original.producer_id,
            producer_epoch: original.producer_epoch,
            base_sequence: original.base_sequence,
            record_count: kept.len() as i32,
        },
        body,
        compression,
    )
}

/// One record as [`encode`] writes it.
struct Encoded<'a> {
    offset_delta: i64,
    timestamp: i64,
    key: &'a Option<Bytes>,
    value: &'a Option<Bytes>,
    headers: &'a [(String, Option<Bytes>)],
}

/// The records section, uncompressed (the table in the module docs).
fn encode<'a>(records: impl Iterator<Item = Encoded<'a>>, base_timestamp: i64) -> Vec<u8> {
    let mut body = Vec::new();
    let mut rec = Vec::new();
    let put_bytes = |out: &mut Vec<u8>, field: Option<&[u8]>| match field {
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => put_varint(out, -1),
    };
    for r in records {
        rec.clear();
        rec.push(0);
        put_varint(&mut rec, r.timestamp.wrapping_sub(base_timestamp));
        put_varint(&mut rec, r.offset_delta);
        put_bytes(&mut rec, r.key.as_deref());
        put_bytes(&mut rec, r.value.as_deref());
        put_varint(&mut rec, r.headers.len() as i64);
        for (k, v) in r.headers {
            put_bytes(&mut rec, Some(k.as_bytes()));
            put_bytes(&mut rec, v.as_deref());
        }
        put_varint(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    body
}

/// The header fields of a batch [`frame`] writes (the table in `record_batch`).
struct Fields {
    base_offset: i64,
    partition_leader_epoch: i32,
    /// Without the codec bits: [`frame`] sets those.
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

/// A whole batch: the header, then `body` compressed with `compression` (uncompressed
/// if the codec fails, which it should not), and the CRC-32C over bytes 21.. .
fn frame(f: Fields, body: Vec<u8>, compression: Compression) -> Vec<u8> {
    let (body, compression) = match compress(&body, compression) {
        Ok(c) => (c, compression),
        Err(e) => {
            tracing::warn!(
                "building a batch: {} failed ({e}); storing it uncompressed",
                compression.name()
            );
            (body, Compression::None)
        }
    };
    let attributes = (f.attributes & !0x07) | compression.attribute_bits();
    let mut b = Vec::with_capacity(HEADER_LEN + body.len());
    b.extend_from_slice(&f.base_offset.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&f.partition_leader_epoch.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&f.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&f.base_timestamp.to_be_bytes());
    b.extend_from_slice(&f.max_timestamp.to_be_bytes());
    b.extend_from_slice(&f.producer_id.to_be_bytes());
    b.extend_from_slice(&f.producer_epoch.to_be_bytes());
    b.extend_from_slice(&f.base_sequence.to_be_bytes());
    b.extend_from_slice(&f.record_count.to_be_bytes());
    b.extend_from_slice(&body);
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Kafka's `compression.type` other than `producer` (its `LogValidator`): when a batch
/// of `produced` (one or more, back to back, as in a Produce request) is in another
/// codec than `target`, every record of every batch is decoded and written again into
/// **one** batch in `target`, keeping each record's key, value, headers and timestamp
/// and the first batch's producer id, epoch, base sequence, transactional bit and
/// leader epoch. `None` when nothing needs it: every batch is already in `target`, or
/// a batch is a control batch (never recompressed). Each batch is validated first
/// (`record_batch::validate`), so a bad one is refused as it would be unchanged.
///
/// The cost: a decompression, a decode and a compression of the whole request on the
/// produce path, and a stored batch that differs from what the producer sent (its CRC
/// is new), so the "stored byte for byte" rule holds only under `producer`.
pub fn recompress(
    produced: &[u8],
    target: Compression,
    max_message_bytes: usize,
) -> Result<Option<Vec<u8>>, BatchError> {
    use super::record_batch::{split_exact, validate};
    let ranges = split_exact(produced)?;
    let mut headers = Vec::with_capacity(ranges.len());
    for r in &ranges {
        headers.push(validate(&produced[r.clone()], max_message_bytes)?);
    }
    let keep = |h: &BatchHeader| h.is_control() || h.compression().is_ok_and(|c| c == target);
    if headers.iter().all(keep) || headers.iter().any(BatchHeader::is_control) {
        return Ok(None);
    }
    let mut all = Vec::new();
    for r in &ranges {
        all.extend(
            records(&produced[r.clone()])?
                .into_iter()
                .map(|r| NewRecord {
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    timestamp: r.timestamp,
                }),
        );
    }
    let first = headers[0];
    let base_timestamp = all.first().map_or(first.base_timestamp, |r| r.timestamp);
    let mut b = build(&all, base_timestamp, target);
    use super::record_batch::{
        ATTRIBUTES, BASE_SEQUENCE, CRC, PARTITION_LEADER_EPOCH, PRODUCER_EPOCH, PRODUCER_ID,
    };
    b[PARTITION_LEADER_EPOCH].copy_from_slice(&first.partition_leader_epoch.to_be_bytes());
    b[PRODUCER_ID].copy_from_slice(&first.producer_id.to_be_bytes());
    b[PRODUCER_EPOCH].copy_from_slice(&first.producer_epoch.to_be_bytes());
    b[BASE_SEQUENCE].copy_from_slice(&first.base_sequence.to_be_bytes());
    if first.is_transactional() {
        let attributes = i16::from_be_bytes([b[ATTRIBUTES.start], b[ATTRIBUTES.start + 1]]);
        b[ATTRIBUTES].copy_from_slice(&(attributes | 0x10).to_be_bytes());
    }
    let crc = compute_crc(&b);
    b[CRC].copy_from_slice(&crc.to_be_bytes());
    Ok(Some(b))
}

fn compress(body: &[u8], compression: Compression) -> Result<Vec<u8>, String> {
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    let mut out: Vec<u8> = Vec::new();
    let fill = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(body);
        Ok(())
    };
    let r = match compression {
        Compression::None => return Ok(body.to_vec()),
        Compression::Gzip => Gzip::compress(&mut out, fill),
        Compression::Snappy => Snappy::compress(&mut out, fill),
        Compression::Lz4 => Lz4::compress(&mut out, fill),
        Compression::Zstd => Zstd::compress(&mut out, fill),
    };
    r.map_err(|e| format!("{e:#}"))?;
    Ok(out)
}

/// The records of a batch that have no key (key length −1), by their index in the batch:
/// what a compacted topic refuses (Kafka's `LogValidator.validateKey`; see
/// [`validate_for`](super::record_batch::validate_for)). `body` is the records section
/// (decompressed, for a compressed batch) that [`check_offset_deltas`] accepted. The walk
/// reads each record's length and the three varints before the key, with the same
/// readers as [`records`]; it copies nothing and allocates only when it finds a key-less
/// record.
pub fn keyless_records(body: &[u8], count: i32) -> Result<Vec<i32>, BatchError> {
    let mut rest = body;
    let mut keyless = Vec::new();
    for i in 0..count {
        let len = read_varint(&mut rest)?;
        let record = usize::try_from(len)
            .ok()
            .and_then(|len| rest.get(..len))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad(format!("record {i} has a bad length")))?;
        let mut r = &record[1..]; // after the attributes byte
        read_varlong(&mut r)?; // timestampDelta
        read_varint(&mut r)?; // offsetDelta
        if read_varint(&mut r)? < 0 {
            keyless.push(i);
        }
        rest = &rest[record.len()..];
    }
    Ok(keyless)
}
