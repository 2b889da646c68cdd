//! Record batches (v2) on the client side: encode the producer's records into one batch, and
//! decode the bytes of a Fetch into records.
//!
//! Where it sits: accumulator → **batch (encode)** → Produce on the wire; Fetch on the wire →
//! **batch (decode)** → partition reader.
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
//! | 61… | records (each varint-framed; kafka-protocol's codec writes them in `encode`) |
//!
//! Invariants:
//! - `encode` makes exactly one batch with offset deltas 0..n, so the broker's answer
//!   `base_offset` plus the record's index is the record's offset.
//! - `decode` returns only records from complete batches whose CRC-32C checks out; a partial
//!   batch at the end of a Fetch response (allowed by Kafka) is dropped, and the reader asks
//!   for it again from its offset.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as Codec, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};

use crate::config::Compression;
use crate::record::Header;

/// Size of the batch header before the records.
pub(crate) const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before batchLength's end: baseOffset + batchLength.
const LOG_OVERHEAD: usize = 12;

/// What the encoder needs of one record.
#[derive(Debug, Clone)]
pub(crate) struct OutRecord {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp: i64,
}

/// Encode `records` as one v2 batch (not idempotent), its records compressed with `compression`.
pub(crate) fn encode(records: &[OutRecord], compression: Compression) -> Result<Bytes, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let offset = i as i64;
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset,
                // kafka-protocol derives baseSequence from the first record and splits batches
                // where offset - sequence changes, so sequences run -1, 0, 1, … in step with
                // the offsets; baseSequence comes out as -1 (no sequence), as Kafka wants.
                sequence: (offset as i32).wrapping_sub(1),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone()))
                    .collect::<IndexMap<_, _>>(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: match compression {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Gzip,
            Compression::Snappy => Codec::Snappy,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
        },
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).map_err(|e| format!("{e:#}"))?;
    Ok(buf.freeze())
}

/// One decoded record, with the fields the reader hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InRecord {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
}

/// The result of decoding a Fetch's record bytes.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// Data records of the complete batches, in offset order (control records left out).
    pub(crate) records: Vec<InRecord>,
    /// One past the last offset of the last complete batch, if there was one.
    pub(crate) next_offset: Option<i64>,
    /// Whether trailing bytes held an incomplete batch.
    pub(crate) partial_tail: bool,
}

/// Decode every complete batch in `bytes`; stop at a partial one.
pub(crate) fn decode(mut bytes: Bytes) -> Result<Decoded, String> {
    let mut out = Decoded::default();
    while !bytes.is_empty() {
        if bytes.len() < LOG_OVERHEAD {
            out.partial_tail = true;
            break;
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
            out.partial_tail = true;
            break;
        }
        let mut batch = bytes.split_to(LOG_OVERHEAD + len);
        let last_offset_delta = (&batch[23..27]).get_i32();
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| format!("batch at offset {base_offset}: {e:#}"))?;
        for r in set.records.into_iter().filter(|r| !r.control) {
            out.records.push(InRecord {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| Header {
                        key: k.to_string(),
                        value: v,
                    })
                    .collect(),
            });
        }
        out.next_offset = Some(base_offset + i64::from(last_offset_delta) + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: i64) -> OutRecord {
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
    fn round_trip_keeps_everything() {
        let records: Vec<OutRecord> = (0..5).map(rec).collect();
        let mut b = BytesMut::from(&encode(&records, Compression::None).unwrap()[..]);
        b[0..8].copy_from_slice(&100i64.to_be_bytes()); // what the broker does
        let d = decode(b.freeze()).unwrap();
        assert!(!d.partial_tail);
        assert_eq!(d.next_offset, Some(105));
        assert_eq!(d.records.len(), 5);
        for (i, r) in d.records.iter().enumerate() {
            let i = i as i64;
            assert_eq!(r.offset, 100 + i);
            assert_eq!(r.timestamp, records[i as usize].timestamp);
            assert_eq!(r.key, records[i as usize].key);
            assert_eq!(r.value, records[i as usize].value);
            assert_eq!(r.headers, records[i as usize].headers);
        }
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
            let d = decode(b).unwrap();
            assert_eq!(d.records.len(), 20, "{codec:?}");
            assert_eq!(d.records[7].value, records[7].value, "{codec:?}");
            assert_eq!(d.records[7].headers, records[7].headers, "{codec:?}");
        }
    }

    #[test]
    fn partial_trailing_batch_is_dropped() {
        let first = encode(&[rec(0)], Compression::None).unwrap();
        let second = encode(&[rec(1), rec(2)], Compression::None).unwrap();
        let mut second = BytesMut::from(&second[..]);
        second[0..8].copy_from_slice(&1i64.to_be_bytes());
        let mut all = BytesMut::from(&first[..]);
        all.extend_from_slice(&second[..second.len() - 7]);
        let d = decode(all.freeze()).unwrap();
        assert!(d.partial_tail);
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.next_offset, Some(1));
        // Fewer than 12 bytes of a next batch is also a partial tail.
        let mut all = BytesMut::from(&first[..]);
        all.extend_from_slice(&[0, 0, 0]);
        assert!(decode(all.freeze()).unwrap().partial_tail);
    }

    #[test]
    fn corrupt_batch_is_an_error_not_a_panic() {
        let mut b = BytesMut::from(&encode(&[rec(0)], Compression::None).unwrap()[..]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let err = decode(b.freeze()).unwrap_err();
        assert!(err.contains("offset 0"), "{err}");
        let mut short = BytesMut::from(&encode(&[rec(0)], Compression::None).unwrap()[..]);
        short[8..12].copy_from_slice(&3i32.to_be_bytes());
        assert!(decode(short.freeze()).is_err());
    }
}
