//! Record batches (v2) on the producer side: records are encoded into their batch as they
//! are appended (Kafka's `MemoryRecordsBuilder`), and the batch header is written once, when
//! the batch is sent. Decoding a Fetch's batches is [`super::completed_fetch`].
//!
//! Where it sits: accumulator → **batch** → Produce on the wire.
//!
//! # Batch layout (all integers big-endian; see docs/ and the broker's `log/record_batch.rs`)
//!
//! | bytes | field |
//! |---|---|
//! | 0–7 | baseOffset i64 (0 from the producer; the broker assigns the real one) |
//! | 8–11 | batchLength i32 (bytes after this field) |
//! | 12–15 | partitionLeaderEpoch i32 (-1) |
//! | 16 | magic i8 = 2 |
//! | 17–20 | crc u32, CRC-32C over bytes 21..end |
//! | 21–22 | attributes i16 (bits 0–2 compression, CreateTime) |
//! | 23–26 | lastOffsetDelta i32 |
//! | 27–34 | baseTimestamp i64 |
//! | 35–42 | maxTimestamp i64 |
//! | 43–50 | producerId i64 (-1: not idempotent) |
//! | 51–52 | producerEpoch i16 (-1) |
//! | 53–56 | baseSequence i32 (-1) |
//! | 57–60 | recordCount i32 |
//! | 61… | records, compressed as a whole when attributes say so |
//!
//! One record (the table of [`super::completed_fetch`]): length varint, attributes i8 = 0,
//! timestampDelta varlong, offsetDelta varint, key and value (varint length, -1 for null,
//! then bytes), header count varint, then each header's key and value the same way.
//!
//! Invariants:
//! - A batch holds records with offset deltas 0..n in append order, so the broker's answer
//!   `base_offset` plus a record's index is the record's offset.
//! - Appending copies the key, value and headers into the batch's one buffer and allocates
//!   nothing else; an uncompressed batch is sent from that same buffer (the header is
//!   written into the 61 bytes kept in front), a compressed one through kafka-protocol's
//!   codecs.
//! - `finish` is called once; a retry resends the same bytes.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor};

use crate::config::Compression;
use crate::record::Header;

/// Size of the batch header before the records.
pub(crate) const BATCH_HEADER_BYTES: usize = 61;

/// A batch being filled: the header's room, then the encoded records.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    buf: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// An empty batch with room for about `capacity` bytes of records.
    pub(crate) fn new(capacity: usize) -> BatchBuilder {
        let mut buf = BytesMut::with_capacity(BATCH_HEADER_BYTES + capacity);
        buf.put_bytes(0, BATCH_HEADER_BYTES);
        BatchBuilder {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// How many records it holds.
    pub(crate) fn count(&self) -> i32 {
        self.count
    }

    /// Encode one record at the end of the batch.
    pub(crate) fn append(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: i64,
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let offset_delta = i64::from(self.count);
        let field =
            |b: Option<&[u8]>| b.map_or(varint_len(-1), |b| varint_len(b.len() as i64) + b.len());
        let body = 1
            + varint_len(timestamp_delta)
            + varint_len(offset_delta)
            + field(key)
            + field(value)
            + varint_len(headers.len() as i64)
            + headers
                .iter()
                .map(|h| field(Some(h.key.as_bytes())) + field(h.value.as_deref()))
                .sum::<usize>();
        let buf = &mut self.buf;
        buf.reserve(varint_len(body as i64) + body);
        put_varint(buf, body as i64);
        buf.put_u8(0); // attributes
        put_varint(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_field(buf, key);
        put_field(buf, value);
        put_varint(buf, headers.len() as i64);
        for h in headers {
            put_field(buf, Some(h.key.as_bytes()));
            put_field(buf, h.value.as_deref());
        }
        self.count += 1;
    }

    /// Write the header (compressing the records first if asked) and hand out the batch.
    pub(crate) fn finish(
        self,
        compression: Compression,
        producer: Option<ProducerIds>,
    ) -> Result<Bytes, String> {
        let BatchBuilder {
            mut buf,
            count,
            base_timestamp,
            max_timestamp,
        } = self;
        if compression != Compression::None {
            let mut out = BytesMut::with_capacity(buf.len() / 2 + BATCH_HEADER_BYTES);
            out.put_bytes(0, BATCH_HEADER_BYTES);
            let records = &buf[BATCH_HEADER_BYTES..];
            let copy = |b: &mut BytesMut| {
                b.put_slice(records);
                Ok(())
            };
            match compression {
                Compression::Gzip => codec::Gzip::compress(&mut out, copy),
                Compression::Snappy => codec::Snappy::compress(&mut out, copy),
                Compression::Lz4 => codec::Lz4::compress(&mut out, copy),
                Compression::Zstd => codec::Zstd::compress(&mut out, copy),
                Compression::None => Ok(()),
            }
            .map_err(|e| format!("cannot compress with {compression:?}: {e:#}"))?;
            buf = out;
        }
        let batch_length = i32::try_from(buf.len() - 12)
            .map_err(|_| format!("a batch of {} bytes is larger than 2 GiB", buf.len()))?;
        let codec: i16 = match compression {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        };
        // Bit 4: a transactional producer's batch.
        let attributes = codec
            | if producer.is_some_and(|p| p.transactional) {
                0x10
            } else {
                0
            };
        let mut h = &mut buf[..BATCH_HEADER_BYTES];
        h.put_i64(0); // baseOffset
        h.put_i32(batch_length);
        h.put_i32(-1); // partitionLeaderEpoch
        h.put_i8(2); // magic
        h.put_u32(0); // crc, below
        h.put_i16(attributes);
        h.put_i32(count - 1); // lastOffsetDelta
        h.put_i64(base_timestamp);
        h.put_i64(if count == 0 {
            base_timestamp
        } else {
            max_timestamp
        });
        let ids = producer.unwrap_or(ProducerIds {
            producer_id: -1,
            epoch: -1,
            base_sequence: -1,
            transactional: false,
        });
        h.put_i64(ids.producer_id);
        h.put_i16(ids.epoch);
        h.put_i32(ids.base_sequence);
        h.put_i32(count);
        let crc = crc32c::crc32c(&buf[21..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(buf.freeze())
    }
}

/// What an idempotent producer stamps on a batch (bytes 43–56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIds {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
    /// Part of a transaction: attribute bit 4.
    pub(crate) transactional: bool,
}

/// `batch` (encoded) with other producer ids, and its CRC computed again (it covers
/// bytes 21 on): an epoch bump gives the batches waiting for a retry new sequences.
pub(crate) fn restamp(batch: &Bytes, ids: ProducerIds) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    if b.len() >= BATCH_HEADER_BYTES {
        b[43..51].copy_from_slice(&ids.producer_id.to_be_bytes());
        b[51..53].copy_from_slice(&ids.epoch.to_be_bytes());
        b[53..57].copy_from_slice(&ids.base_sequence.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    b.freeze()
}

/// Bytes of `v` as a zigzag varint.
fn varint_len(v: i64) -> usize {
    let z = zigzag(v);
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = zigzag(v);
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// A length-prefixed field; -1 is null.
fn put_field(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i64);
            buf.put_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

/// What one test record holds.
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct OutRecord {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp: i64,
}

/// Test record number `i`: a key, a value (null for 1), a header with a value and one
/// without, a timestamp `i` ms after a fixed instant.
#[cfg(test)]
pub(crate) fn sample(i: i64) -> OutRecord {
    OutRecord {
        key: Some(Bytes::from(format!("k{i}"))),
        value: if i == 1 {
            None
        } else {
            Some(Bytes::from(format!("value-{i}")))
        },
        headers: vec![
            Header::new("h", format!("{i}")),
            Header {
                key: "null".into(),
                value: None,
            },
        ],
        timestamp: 1_700_000_000_000 + i,
    }
}

/// `records` as one finished batch (tests).
#[cfg(test)]
pub(crate) fn encode(records: &[OutRecord], compression: Compression) -> Result<Bytes, String> {
    let mut b = BatchBuilder::new(0);
    for r in records {
        b.append(
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
            r.timestamp,
        );
    }
    b.finish(compression, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;

    use super::sample as rec;

    #[test]
    fn one_batch_with_kafka_header_fields_and_valid_crc32c() {
        let records: Vec<OutRecord> = (0..3).map(rec).collect();
        let b = encode(&records, Compression::None).unwrap();
        assert_eq!((&b[0..8]).get_i64(), 0, "base offset");
        assert_eq!(
            (&b[8..12]).get_i32() as usize,
            b.len() - 12,
            "one batch fills the buffer"
        );
        assert_eq!((&b[12..16]).get_i32(), -1, "leader epoch");
        assert_eq!(b[16], 2, "magic");
        let crc = (&b[17..21]).get_u32();
        assert_eq!(
            crc,
            crc32c::crc32c(&b[21..]),
            "CRC-32C over attributes..end"
        );
        assert_eq!((&b[21..23]).get_i16(), 0, "attributes");
        assert_eq!((&b[23..27]).get_i32(), 2, "last offset delta");
        assert_eq!((&b[27..35]).get_i64(), 1_700_000_000_000, "base timestamp");
        assert_eq!((&b[35..43]).get_i64(), 1_700_000_000_002, "max timestamp");
        assert_eq!((&b[43..51]).get_i64(), -1, "producer id");
        assert_eq!((&b[51..53]).get_i16(), -1, "producer epoch");
        assert_eq!((&b[53..57]).get_i32(), -1, "base sequence");
        assert_eq!((&b[57..61]).get_i32(), 3, "record count");
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn every_codec_round_trips_and_sets_the_attribute_bits() {
        let records: Vec<OutRecord> = (0..20).map(rec).collect();
        for (codec, bits) in [
            (Compression::Gzip, 1),
            (Compression::Snappy, 2),
            (Compression::Lz4, 3),
            (Compression::Zstd, 4),
        ] {
            let b = encode(&records, codec).unwrap();
            assert_eq!((&b[21..23]).get_i16() & 0x7, bits, "{codec:?}");
            assert_eq!(
                (&b[17..21]).get_u32(),
                crc32c::crc32c(&b[21..]),
                "{codec:?}"
            );
        }
    }
}

#[cfg(test)]
mod varint_tests {
    use super::*;

    #[test]
    fn varints_match_kafkas_zigzag_encoding() {
        for (v, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (63, vec![0x7e]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 1]),
            (300, vec![0xd8, 4]),
            (
                i64::MAX,
                vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
            (
                i64::MIN,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
        ] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(&b[..], &bytes[..], "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
    }

    #[test]
    fn kafka_protocol_decodes_what_we_encode() {
        // An independent decoder: kafka-protocol's own, CRC and record framing included.
        let records: Vec<OutRecord> = (0..50)
            .map(|i| OutRecord {
                key: (i % 3 != 0).then(|| Bytes::from(format!("key-{i}"))),
                value: (i % 7 != 0).then(|| Bytes::from(vec![b'v'; i * 13])),
                headers: if i % 2 == 0 {
                    vec![Header::new("trace", format!("{i}"))]
                } else {
                    Vec::new()
                },
                timestamp: 1_700_000_000_000 - 5 + i as i64,
            })
            .collect();
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut bytes = encode(&records, compression).unwrap();
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).unwrap();
            assert_eq!(set.records.len(), 50, "{compression:?}");
            for (i, (r, want)) in set.records.iter().zip(&records).enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.timestamp, want.timestamp);
                assert_eq!(r.key, want.key);
                assert_eq!(r.value, want.value);
                assert_eq!(r.headers.len(), want.headers.len());
            }
        }
    }
}
