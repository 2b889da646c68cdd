//! Record batches (v2) on the producer side: encode the producer's records into one batch.
//! Decoding a Fetch's batches is [`super::completed_fetch`].
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
//! | 61… | records (each varint-framed; kafka-protocol's codec writes them in `encode`) |
//!
//! Invariants:
//! - `encode` makes exactly one batch with offset deltas 0..n, so the broker's answer
//!   `base_offset` plus the record's index is the record's offset.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as Codec, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::config::Compression;
use crate::record::Header;

/// Size of the batch header before the records.
pub(crate) const BATCH_HEADER_BYTES: usize = 61;

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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;

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
