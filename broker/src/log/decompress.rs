//! Decompressing a produced batch's records, with a bound: what a hostile batch may
//! cost the broker.
//!
//! A compressed batch of 1 MiB can claim gigabytes: zstd turns 1 GiB of zeros into 33
//! KB, gzip ~1 MiB into 1 GiB. Kafka streams the records while it validates them and
//! never holds them whole; minikafka holds the records section of one batch in memory
//! while it walks it (`record_batch::validate`), so it decompresses with a ceiling.
//!
//! | codec  | how the bound is kept                                                    |
//! |--------|--------------------------------------------------------------------------|
//! | gzip   | streamed (flate2), reading at most `limit + 1` bytes                     |
//! | lz4    | streamed (lz4 frames), the same                                          |
//! | zstd   | streamed (zstd), the same                                                |
//! | snappy | the lengths its headers claim (raw, or each xerial block) summed first;  |
//! |        | then kafka-protocol's codec, which allocates exactly those               |
//!
//! What must stay true:
//! - No batch makes the broker allocate more than [`MAX_DECOMPRESSED`] for its records:
//!   past it, the batch is refused with MESSAGE_TOO_LARGE (`BatchError::Decompressed
//!   TooLarge`), and nothing is written.
//! - These are the same codecs kafka-protocol uses (its decompressors have no bound),
//!   so what they accept is what it accepts.

use std::io::Read;

use bytes::Bytes;

use super::record_batch::{BatchError, Compression};

/// The most a batch's records may decompress to: 256 MiB. A batch's compressed size is
/// bounded by `max.message.bytes` (1 MiB by default); real data compresses 2 to 20 times.
pub const MAX_DECOMPRESSED: usize = 256 * 1024 * 1024;

/// The records section `raw`, compressed with `codec`, decompressed, at most `limit`
/// bytes.
pub fn decompress(codec: Compression, raw: &[u8], limit: usize) -> Result<Bytes, BatchError> {
    let name = codec.name();
    let undecompressable = |reason: String| BatchError::Undecompressable {
        codec: name,
        reason,
    };
    let out = match codec {
        Compression::None => return Ok(Bytes::copy_from_slice(raw)),
        Compression::Gzip => bounded(flate2::read::MultiGzDecoder::new(raw), limit, name)?,
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(raw).map_err(|e| undecompressable(e.to_string()))?;
            bounded(decoder, limit, name)?
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(raw)
                .map_err(|e| undecompressable(e.to_string()))?;
            bounded(decoder, limit, name)?
        }
        Compression::Snappy => {
            let claimed = snappy_claimed_len(raw).map_err(undecompressable)?;
            if claimed > limit {
                return Err(BatchError::DecompressedTooLarge { codec: name, limit });
            }
            use kafka_protocol::compression::{Decompressor, Snappy};
            let mut src = Bytes::copy_from_slice(raw);
            return Snappy::decompress(&mut src, |b: &mut Bytes| Ok(b.split_off(0)))
                .map_err(|e| undecompressable(format!("{e:#}")));
        }
    };
    Ok(Bytes::from(out))
}

/// Reads `r` to its end, failing past `limit` bytes.
fn bounded(r: impl Read, limit: usize, codec: &'static str) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BatchError::Undecompressable {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(BatchError::DecompressedTooLarge { codec, limit });
    }
    Ok(out)
}

/// The xerial framing the Java client writes: this header, then blocks of a u32 length
/// and a raw snappy block.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// What a snappy payload's headers say it decompresses to, before anything is allocated.
fn snappy_claimed_len(raw: &[u8]) -> Result<usize, String> {
    let len = |block: &[u8]| snap::raw::decompress_len(block).map_err(|e| e.to_string());
    if !raw.starts_with(XERIAL_MAGIC) || raw.len() < XERIAL_HEADER_LEN {
        return len(raw);
    }
    let mut rest = &raw[XERIAL_HEADER_LEN..];
    let mut total = 0usize;
    while !rest.is_empty() {
        let Some((size, after)) = rest.split_first_chunk::<4>() else {
            return Err("a xerial block length is cut short".into());
        };
        let size = u32::from_be_bytes(*size) as usize;
        let block = after.get(..size).ok_or("a xerial block is cut short")?;
        total = total.saturating_add(len(block)?);
        rest = &after[size..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

    fn compressed(codec: Compression, data: &[u8]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        let mut src = Bytes::copy_from_slice(data);
        match codec {
            Compression::Gzip => Gzip::compress(&mut out, |b| {
                b.extend_from_slice(&src.split_off(0));
                Ok(())
            }),
            Compression::Lz4 => Lz4::compress(&mut out, |b| {
                b.extend_from_slice(&src.split_off(0));
                Ok(())
            }),
            Compression::Zstd => Zstd::compress(&mut out, |b| {
                b.extend_from_slice(&src.split_off(0));
                Ok(())
            }),
            Compression::Snappy => Snappy::compress(&mut out, |b| {
                b.extend_from_slice(&src.split_off(0));
                Ok(())
            }),
            Compression::None => unreachable!(),
        }
        .unwrap();
        out.to_vec()
    }

    #[test]
    fn every_codec_round_trips_under_the_limit_and_stops_past_it() {
        // 1 MiB of zeros: every codec squeezes it to almost nothing.
        let data = vec![0u8; 1 << 20];
        for codec in [
            Compression::Gzip,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Snappy,
        ] {
            let raw = compressed(codec, &data);
            assert!(raw.len() < data.len() / 10, "{codec:?} compresses zeros");
            assert_eq!(decompress(codec, &raw, 1 << 20).unwrap(), data, "{codec:?}");
            let err = decompress(codec, &raw, (1 << 20) - 1).unwrap_err();
            assert!(
                matches!(err, BatchError::DecompressedTooLarge { .. }),
                "{codec:?}: {err}"
            );
            assert_eq!(err.kafka_error_code(), 10, "MESSAGE_TOO_LARGE");
        }
    }

    #[test]
    fn a_snappy_header_claiming_gigabytes_is_refused_before_any_allocation() {
        // A raw snappy stream whose varint header says 4 GiB - 1, and nothing after.
        let raw = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let err = decompress(Compression::Snappy, &raw, MAX_DECOMPRESSED).unwrap_err();
        assert!(
            matches!(err, BatchError::DecompressedTooLarge { .. }),
            "{err}"
        );
        assert!(matches!(
            decompress(Compression::Gzip, b"not gzip", MAX_DECOMPRESSED),
            Err(BatchError::Undecompressable { .. })
        ));
    }
}
