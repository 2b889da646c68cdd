//! The records of one partition's Fetch answer, decoded one batch at a time: Kafka's
//! `CompletedFetch`, the consumer side of the v2 record batch.
//!
//! Where it sits: Fetch on the wire → **completed fetch** → partition reader (lazily, one
//! batch ahead) or group fetcher (all at once, off the application's task).
//!
//! The batch header is the table in [`super::batch`]; after it come `recordCount` records,
//! compressed as a whole when attributes bits 0–2 say so. One record:
//!
//! | field | encoding |
//! |---|---|
//! | length | varint: bytes after this field |
//! | attributes | i8 (unused, 0) |
//! | timestampDelta | varlong, from the batch's baseTimestamp |
//! | offsetDelta | varint, from the batch's baseOffset |
//! | keyLength, key | varint (-1: null), bytes |
//! | valueLength, value | varint (-1: null), bytes |
//! | headerCount | varint |
//! | per header: keyLength, key, valueLength, value | varint, UTF-8; varint (-1: null), bytes |
//!
//! Varints are zigzag-encoded base-128, as in protobuf.
//!
//! What must stay true:
//! - A batch is handed out only whole and only once its CRC-32C (over attributes..end)
//!   checks out; the CRC is computed once per batch, not per record.
//! - A partial batch at the end (Kafka may cut a response mid-batch) is not an error: it is
//!   reported through [`CompletedFetch::partial_tail`] and fetched again.
//! - Keys, values and header values are slices of the response buffer (or of the
//!   decompressed batch): no copy and no allocation per record, except a header's key.
//! - Decompression uses kafka-protocol's codecs; a record that runs past its batch, or a
//!   batch that holds fewer records than its header says, is an error, never a panic.
//! - With LogAppendTime (attributes bit 3) every record's timestamp is the batch's
//!   maxTimestamp, as in Kafka.
//! - Control batches (transaction markers) are never handed out. With
//!   `isolation.level=read_committed`, neither are the batches of aborted transactions:
//!   the Fetch answer lists them as (producer id, first offset), and from that offset a
//!   transactional batch of that producer is skipped until its ABORT marker (Kafka's
//!   `CompletedFetch` does the same).

use bytes::{Buf, Bytes};
use kafka_protocol::compression::{self as codec, Decompressor};

use crate::native::batch::BATCH_HEADER_BYTES;
use crate::record::Header;

/// Bytes before batchLength's end: baseOffset + batchLength.
const LOG_OVERHEAD: usize = 12;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InRecord {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
}

/// What is left of one partition's record bytes.
#[derive(Debug, Default)]
pub(crate) struct CompletedFetch {
    rest: Bytes,
    /// One past the last offset of the last whole batch taken, if one was.
    next_offset: Option<i64>,
    /// Whether trailing bytes held an incomplete batch (known once the end is reached).
    partial_tail: bool,
    /// read_committed: the aborted transactions not reached yet, by first offset.
    aborted: std::collections::VecDeque<(i64, i64)>,
    /// read_committed: producers inside an aborted transaction here.
    aborting: std::collections::HashSet<i64>,
}

impl CompletedFetch {
    /// The `records` field of a Fetch answer's partition.
    pub(crate) fn new(records: Bytes) -> CompletedFetch {
        CompletedFetch {
            rest: records,
            next_offset: None,
            partial_tail: false,
            aborted: Default::default(),
            aborting: Default::default(),
        }
    }

    /// read_committed: the answer's `aborted_transactions`, as (producer id, first
    /// offset); their batches are then skipped.
    pub(crate) fn with_aborted(mut self, aborted: Vec<(i64, i64)>) -> CompletedFetch {
        let mut aborted = aborted;
        aborted.sort_by_key(|&(_, first)| first);
        self.aborted = aborted.into();
        self
    }

    /// One past the last offset of the last whole batch taken: where to fetch next, even
    /// when that batch held no data records (control or compacted batches).
    pub(crate) fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Whether the end of the answer was an incomplete batch.
    pub(crate) fn partial_tail(&self) -> bool {
        self.partial_tail
    }

    /// The next whole, CRC-checked batch, or `None` at the end (or at a partial batch).
    pub(crate) fn next_batch(&mut self) -> Result<Option<Batch>, String> {
        let bytes = &mut self.rest;
        if bytes.is_empty() {
            return Ok(None);
        }
        if bytes.len() < LOG_OVERHEAD {
            self.partial_tail = true;
            bytes.clear();
            return Ok(None);
        }
        let base_offset = (&bytes[0..8]).get_i64();
        let batch_length = (&bytes[8..12]).get_i32();
        let Ok(len) = usize::try_from(batch_length) else {
            return Err(format!(
                "batch at offset {base_offset} has negative length {batch_length}"
            ));
        };
        if len < BATCH_HEADER_BYTES - LOG_OVERHEAD {
            return Err(format!(
                "batch at offset {base_offset} is too short ({len} bytes)"
            ));
        }
        if bytes.len() < LOG_OVERHEAD + len {
            self.partial_tail = true;
            bytes.clear();
            return Ok(None);
        }
        let whole = bytes.split_to(LOG_OVERHEAD + len);
        let mut batch =
            Batch::parse(whole).map_err(|e| format!("batch at offset {base_offset}: {e}"))?;
        self.next_offset = Some(batch.next_offset());
        if batch.producer_id >= 0 {
            while let Some(&(pid, first)) = self.aborted.front() {
                if first > batch.next_offset() - 1 {
                    break;
                }
                self.aborting.insert(pid);
                self.aborted.pop_front();
            }
            if batch.control {
                // An ABORT marker (control type 0) ends that producer's aborted run.
                let abort = batch
                    .records()
                    .next()
                    .and_then(Result::ok)
                    .and_then(|r| r.key)
                    .is_some_and(|k| k.get(2..4) == Some(&[0, 0][..]));
                if abort {
                    self.aborting.remove(&batch.producer_id);
                }
            } else if batch.transactional && self.aborting.contains(&batch.producer_id) {
                batch.aborted = true;
            }
        }
        Ok(Some(batch))
    }
}

/// One whole batch: its header fields and its (decompressed) record bytes.
#[derive(Debug)]
pub(crate) struct Batch {
    base_offset: i64,
    last_offset_delta: i32,
    base_timestamp: i64,
    /// `Some(maxTimestamp)` when the topic stamps records with LogAppendTime.
    log_append_time: Option<i64>,
    control: bool,
    transactional: bool,
    producer_id: i64,
    /// Part of an aborted transaction (read_committed): not handed out.
    aborted: bool,
    count: i32,
    records: Bytes,
}

impl Batch {
    fn parse(whole: Bytes) -> Result<Batch, String> {
        let h = &whole[..BATCH_HEADER_BYTES];
        if h[16] != 2 {
            return Err(format!("magic {} is not 2", h[16] as i8));
        }
        let crc = (&h[17..21]).get_u32();
        let actual = crc32c::crc32c(&whole[21..]);
        if crc != actual {
            return Err(format!(
                "CRC-32C mismatch (header {crc:#010x}, bytes {actual:#010x})"
            ));
        }
        let attributes = (&h[21..23]).get_i16();
        let count = (&h[57..61]).get_i32();
        if count < 0 {
            return Err(format!("negative record count {count}"));
        }
        let mut payload = whole.slice(BATCH_HEADER_BYTES..);
        let records = match attributes & 0x7 {
            0 => Ok(payload),
            1 => codec::Gzip::decompress(&mut payload, |b| Ok(b.clone())),
            2 => codec::Snappy::decompress(&mut payload, |b| Ok(b.clone())),
            3 => codec::Lz4::decompress(&mut payload, |b| Ok(b.clone())),
            4 => codec::Zstd::decompress(&mut payload, |b| Ok(b.clone())),
            other => return Err(format!("unknown compression {other}")),
        }
        .map_err(|e| format!("cannot decompress: {e:#}"))?;
        Ok(Batch {
            base_offset: (&h[0..8]).get_i64(),
            last_offset_delta: (&h[23..27]).get_i32(),
            base_timestamp: (&h[27..35]).get_i64(),
            log_append_time: (attributes & 0x8 != 0).then(|| (&h[35..43]).get_i64()),
            control: attributes & 0x20 != 0,
            transactional: attributes & 0x10 != 0,
            producer_id: (&h[43..51]).get_i64(),
            aborted: false,
            count,
            records,
        })
    }

    /// One past the batch's last offset.
    pub(crate) fn next_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta) + 1
    }

    /// Whether its records are not handed out: control records (transaction markers),
    /// or, read_committed, an aborted transaction's.
    pub(crate) fn is_skipped(&self) -> bool {
        self.control || self.aborted
    }

    /// Its records, decoded as the iterator is advanced.
    pub(crate) fn records(&self) -> Records<'_> {
        Records {
            batch: self,
            at: 0,
            left: self.count,
        }
    }
}

/// The records of one batch, decoded one by one.
#[derive(Debug)]
pub(crate) struct Records<'a> {
    batch: &'a Batch,
    at: usize,
    left: i32,
}

impl Iterator for Records<'_> {
    type Item = Result<InRecord, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = self.decode_one();
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

impl Records<'_> {
    fn decode_one(&mut self) -> Result<InRecord, String> {
        let b = self.batch;
        let all = &b.records;
        let mut c = Cursor {
            buf: all,
            at: self.at,
        };
        let len = usize::try_from(c.varint()?).map_err(|_| "negative record length")?;
        let end = c.at.checked_add(len).filter(|&e| e <= all.len());
        let end = end.ok_or("a record runs past the end of its batch")?;
        c.buf = &all[..end];
        c.at += 1; // attributes
        let timestamp_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        let key = c.bytes(all)?;
        let value = c.bytes(all)?;
        let header_count = c.varint()?;
        let mut headers = Vec::new();
        for _ in 0..header_count.max(0) {
            let key = c.bytes(all)?.ok_or("a header has a null key")?;
            let key = String::from_utf8(key.to_vec()).map_err(|_| "a header key is not UTF-8")?;
            let value = c.bytes(all)?;
            headers.push(Header { key, value });
        }
        self.at = end;
        Ok(InRecord {
            offset: b.base_offset + i64::from(offset_delta),
            timestamp: b
                .log_append_time
                .unwrap_or(b.base_timestamp.wrapping_add(timestamp_delta)),
            key,
            value,
            headers,
        })
    }
}

/// A read position in one record's bytes; every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn varlong(&mut self) -> Result<i64, String> {
        let mut raw: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.at).ok_or("a record is cut short")?;
            self.at += 1;
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err("a varint is longer than 10 bytes".into())
    }

    fn varint(&mut self) -> Result<i32, String> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| format!("varint {v} does not fit 32 bits"))
    }

    /// A length-prefixed field (-1: null), sliced out of `all`, which `buf` is a prefix of.
    fn bytes(&mut self, all: &Bytes) -> Result<Option<Bytes>, String> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let start = self.at;
        let end = start + len as usize;
        if end > self.buf.len() {
            return Err("a field runs past the end of its record".into());
        }
        self.at = end;
        Ok(Some(all.slice(start..end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Compression;
    use crate::native::batch::{encode, sample as rec, OutRecord};
    use bytes::BytesMut;

    fn at(base: i64, records: &[OutRecord], compression: Compression) -> BytesMut {
        let mut b = BytesMut::from(&encode(records, compression).unwrap()[..]);
        b[0..8].copy_from_slice(&base.to_be_bytes()); // what the broker does
        b
    }

    fn all(fetch: &mut CompletedFetch) -> Result<Vec<InRecord>, String> {
        let mut out = Vec::new();
        while let Some(batch) = fetch.next_batch()? {
            for r in batch.records() {
                out.push(r?);
            }
        }
        Ok(out)
    }

    #[test]
    fn round_trip_keeps_everything() {
        let records: Vec<OutRecord> = (0..5).map(rec).collect();
        let mut f = CompletedFetch::new(at(100, &records, Compression::None).freeze());
        let got = all(&mut f).unwrap();
        assert!(!f.partial_tail());
        assert_eq!(f.next_offset(), Some(105));
        assert_eq!(got.len(), 5);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.offset, 100 + i as i64);
            assert_eq!(r.timestamp, records[i].timestamp);
            assert_eq!(r.key, records[i].key);
            assert_eq!(r.value, records[i].value);
            assert_eq!(r.headers, records[i].headers);
        }
    }

    #[test]
    fn every_codec_round_trips() {
        let records: Vec<OutRecord> = (0..20).map(rec).collect();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut f = CompletedFetch::new(at(0, &records, codec).freeze());
            let got = all(&mut f).unwrap();
            assert_eq!(got.len(), 20, "{codec:?}");
            assert_eq!(got[7].value, records[7].value, "{codec:?}");
            assert_eq!(got[7].headers, records[7].headers, "{codec:?}");
        }
    }

    #[test]
    fn log_append_time_stamps_every_record_with_max_timestamp() {
        let mut b = at(0, &[rec(0), rec(2)], Compression::None);
        b[21..23].copy_from_slice(&0x8i16.to_be_bytes());
        b[35..43].copy_from_slice(&42i64.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let got = all(&mut CompletedFetch::new(b.freeze())).unwrap();
        assert!(got.iter().all(|r| r.timestamp == 42));
    }

    #[test]
    fn partial_trailing_batch_is_left_for_the_next_fetch() {
        let mut all_bytes = at(0, &[rec(0)], Compression::None);
        let second = at(1, &[rec(1), rec(2)], Compression::None);
        all_bytes.extend_from_slice(&second[..second.len() - 7]);
        let mut f = CompletedFetch::new(all_bytes.freeze());
        assert_eq!(all(&mut f).unwrap().len(), 1);
        assert!(f.partial_tail());
        assert_eq!(f.next_offset(), Some(1));
        // Fewer than 12 bytes of a next batch is also a partial tail.
        let mut short = at(0, &[rec(0)], Compression::None);
        short.extend_from_slice(&[0, 0, 0]);
        let mut f = CompletedFetch::new(short.freeze());
        all(&mut f).unwrap();
        assert!(f.partial_tail());
    }

    #[test]
    fn corrupt_batches_are_errors_not_panics() {
        let mut b = at(0, &[rec(0)], Compression::None);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let err = all(&mut CompletedFetch::new(b.freeze())).unwrap_err();
        assert!(err.contains("offset 0") && err.contains("CRC"), "{err}");
        let mut short = at(0, &[rec(0)], Compression::None);
        short[8..12].copy_from_slice(&3i32.to_be_bytes());
        assert!(all(&mut CompletedFetch::new(short.freeze())).is_err());
        // A record count larger than the records there: an error once they run out.
        let mut more = at(0, &[rec(0)], Compression::None);
        more[57..61].copy_from_slice(&2i32.to_be_bytes());
        let crc = crc32c::crc32c(&more[21..]);
        more[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(all(&mut CompletedFetch::new(more.freeze())).is_err());
    }

    #[test]
    fn every_truncation_of_a_record_section_is_an_error_or_fewer_records() {
        // Cut the records section at every length, fix the header to match: decoding
        // must never panic or read outside the batch.
        let full = at(0, &[rec(0), rec(1), rec(2)], Compression::None);
        for cut in BATCH_HEADER_BYTES..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            let len = (cut - LOG_OVERHEAD) as i32;
            b[8..12].copy_from_slice(&len.to_be_bytes());
            let crc = crc32c::crc32c(&b[21..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
            assert!(
                all(&mut CompletedFetch::new(b.freeze())).is_err(),
                "cut {cut}"
            );
        }
    }
}
