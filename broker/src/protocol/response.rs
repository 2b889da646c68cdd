//! A response as it goes to the socket: encoded bytes, with the record bytes of a
//! Fetch left in the segment files until the moment they are sent.
//!
//! Flow: … → segment (`FileSlice`) → fetch → **response** → connection → consumer.
//!
//! A Fetch response is a few small fields around large `records` byte strings: stored
//! batches, sent exactly as stored. Copying those into a response buffer would cost
//! more than everything else in the answer, so the codec (kafka-protocol) encodes the
//! response with every `records` field empty, and [`splice`] cuts that encoding where
//! each partition's records go. The connection then writes the pieces in order: the
//! encoded bytes from memory, the records straight from the page cache to the socket
//! (`sendfile`, see `connection.rs`).
//!
//! # Finding where the records go
//!
//! The codec encodes the response twice, both times without any record bytes: `E0`
//! with every `records` empty, `E1` with one byte of records for each partition that
//! has some. The two encodings are equal except at those fields:
//!
//! | Fetch version      | records in `E0` | records in `E1` | records of `n` bytes      |
//! |--------------------|-----------------|-----------------|---------------------------|
//! | v4–v11             | `00 00 00 00`   | `00 00 00 01 xx`| i32 `n`, then the bytes   |
//! | v12+ (flexible)    | `01`            | `02 xx`         | unsigned varint `n + 1`, then the bytes |
//!
//! Walking both from the start, the first byte that differs is the last byte of the
//! length prefix. Everything else (what comes before and after, tagged fields, the
//! next partition) is copied from `E0` as the codec wrote it.
//!
//! What must stay true:
//! - The pieces, written in order, are byte for byte the codec's own encoding of the
//!   response with the records in place (a test checks every Fetch version).
//! - [`Response::len`] is the sum of the pieces, so the frame size is known before the
//!   first byte is sent.

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::FileSlice;

/// One part of a response.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Bytes encoded in memory.
    Bytes(Bytes),
    /// Whole stored batches, sent from their segment file.
    File(FileSlice),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Bytes(b) => b.len(),
            Piece::File(f) => f.len,
        }
    }
}

/// A response (header and body, without the 4-byte frame size) in pieces.
#[derive(Debug, Clone)]
pub struct Response {
    pieces: Vec<Piece>,
    len: usize,
}

impl Response {
    /// The bytes of the frame after its size.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces, in the order they are written.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The whole response in memory (the records read from their files): for tests and
    /// for a transport that cannot send from a file.
    pub fn to_bytes(&self) -> Result<Bytes, crate::log::LogError> {
        let mut out = BytesMut::with_capacity(self.len);
        for piece in &self.pieces {
            match piece {
                Piece::Bytes(b) => out.put_slice(b),
                Piece::File(f) => out.put_slice(&f.read()?),
            }
        }
        Ok(out.freeze())
    }
}

impl From<Bytes> for Response {
    fn from(bytes: Bytes) -> Response {
        Response {
            len: bytes.len(),
            pieces: vec![Piece::Bytes(bytes)],
        }
    }
}

/// The two encodings did not differ where `splice` expected (a codec change).
#[derive(Debug, thiserror::Error)]
#[error("cannot place the records in the encoded response: {0}")]
pub struct SpliceError(&'static str);

/// Cuts `e0` (every records field empty) where each slice's records go, found by
/// comparing it with `e1` (one byte of records for each slice, in the same order), and
/// puts the slices in with their real length prefix. `flexible` is Fetch v12+.
pub fn splice(
    e0: Bytes,
    e1: &[u8],
    slices: Vec<FileSlice>,
    flexible: bool,
) -> Result<Response, SpliceError> {
    // Both prefixes (empty and one byte) have the same width.
    let prefix = if flexible { 1 } else { 4 };
    let mut pieces = Vec::with_capacity(slices.len() * 3 + 1);
    let (mut i0, mut i1, mut last) = (0, 0, 0);
    for slice in slices {
        // The first difference is the last byte of this field's length prefix.
        while i0 < e0.len() && i1 < e1.len() && e0[i0] == e1[i1] {
            i0 += 1;
            i1 += 1;
        }
        if i0 >= e0.len() || i1 + 1 >= e1.len() {
            return Err(SpliceError("fewer marked records fields than slices"));
        }
        let start = i0 + 1 - prefix;
        let marked_start = i1 + 1 - prefix;
        let expected: &[u8] = if flexible { &[1] } else { &[0, 0, 0, 0] };
        let marked: &[u8] = if flexible { &[2] } else { &[0, 0, 0, 1] };
        if start < last
            || e0.get(start..=i0) != Some(expected)
            || e1.get(marked_start..=i1) != Some(marked)
        {
            return Err(SpliceError(
                "a difference that is not an empty records field",
            ));
        }
        if start > last {
            pieces.push(Piece::Bytes(e0.slice(last..start)));
        }
        pieces.push(Piece::Bytes(length_prefix(slice.len, flexible)));
        pieces.push(Piece::File(slice));
        // Past the prefix in E0; past the prefix and the one marker byte in E1.
        i0 += 1;
        i1 += 2;
        last = i0;
    }
    if e0[i0..] != e1[i1..] {
        return Err(SpliceError("more marked records fields than slices"));
    }
    if last < e0.len() {
        pieces.push(Piece::Bytes(e0.slice(last..)));
    }
    let len = pieces.iter().map(Piece::len).sum();
    Ok(Response { pieces, len })
}

/// The length prefix of a records field of `n` bytes, as the codec writes it (its
/// `Encoder` trait is private): i32 `n` big-endian, or (flexible) the unsigned varint
/// `n + 1`, 7 bits per byte, low bits first, the top bit set on all but the last byte.
fn length_prefix(n: usize, flexible: bool) -> Bytes {
    let mut out = BytesMut::with_capacity(5);
    // A fetch answer is at most i32::MAX bytes (max_bytes is an i32), so both fit.
    if flexible {
        let mut v = n as u32 + 1;
        while v >= 0x80 {
            out.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.put_u8(v as u8);
    } else {
        out.put_i32(n as i32);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{ApiKey, FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use super::{splice, Piece};
    use crate::log::FileSlice;
    use crate::protocol::Reply;

    /// Two topics, four partitions; `records[i]` for partition i (None: nothing read).
    fn response(records: &[Option<Bytes>]) -> FetchResponse {
        let partition = |i: usize| {
            PartitionData::default()
                .with_partition_index(i as i32)
                .with_high_watermark(1000 + i as i64)
                .with_last_stable_offset(1000 + i as i64)
                .with_aborted_transactions(Some(Vec::new()))
                .with_records(Some(records[i].clone().unwrap_or_default()))
        };
        let topic = |name: &'static str, range: std::ops::Range<usize>| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str(name)))
                .with_partitions(range.map(partition).collect())
        };
        FetchResponse::default().with_responses(vec![topic("a", 0..3), topic("bb", 3..4)])
    }

    /// The pieces, read back, are exactly the codec's encoding with the records in
    /// place, at every Fetch version this broker serves, including records long enough
    /// for a two- and three-byte varint prefix and partitions with nothing read.
    #[test]
    fn spliced_pieces_equal_the_codecs_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment.log");
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        let slice = |position: usize, len: usize| FileSlice {
            file: file.clone(),
            path: path.clone(),
            position: position as u64,
            len,
        };
        // (position, len) per partition; 0 means nothing read.
        let cases: [[(usize, usize); 4]; 3] = [
            [(0, 100), (0, 0), (500, 20_000), (3, 1)],
            [(0, 0), (0, 0), (0, 0), (0, 0)],
            [(10, 127), (200, 128), (0, 0), (1000, 16_383)],
        ];
        for version in 4..=12 {
            let reply = Reply {
                api: ApiKey::Fetch,
                version,
                correlation_id: 9,
            };
            for case in &cases {
                let read: Vec<Option<(usize, usize)>> = case
                    .iter()
                    .map(|&(p, l)| (l > 0).then_some((p, l)))
                    .collect();
                let full = read
                    .iter()
                    .map(|r| r.map(|(p, l)| Bytes::copy_from_slice(&data[p..p + l])))
                    .collect::<Vec<_>>();
                let expected = reply.encode(&response(&full)).unwrap();
                let e0 = reply.encode(&response(&[None, None, None, None])).unwrap();
                let marked = read
                    .iter()
                    .map(|r| r.map(|_| Bytes::from_static(&[0xff])))
                    .collect::<Vec<_>>();
                let e1 = reply.encode(&response(&marked)).unwrap();
                let slices = read.iter().flatten().map(|&(p, l)| slice(p, l)).collect();
                let spliced = splice(e0, &e1, slices, version >= 12).unwrap();
                assert_eq!(spliced.len(), expected.len(), "v{version} {case:?}");
                assert_eq!(spliced.to_bytes().unwrap(), expected, "v{version} {case:?}");
                let files = spliced
                    .pieces()
                    .iter()
                    .filter(|p| matches!(p, Piece::File(_)))
                    .count();
                assert_eq!(files, read.iter().flatten().count());
            }
        }
    }

    /// A mismatch between the encodings and the slices is an error, never a wrong frame.
    #[test]
    fn a_mismatch_is_an_error() {
        let reply = Reply {
            api: ApiKey::Fetch,
            version: 12,
            correlation_id: 1,
        };
        let e0 = reply.encode(&response(&[None, None, None, None])).unwrap();
        let one = Some(Bytes::from_static(&[0xff]));
        let e1 = reply
            .encode(&response(&[one.clone(), None, None, None]))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"abc").unwrap();
        let slice = FileSlice {
            file: Arc::new(std::fs::File::open(&path).unwrap()),
            path,
            position: 0,
            len: 3,
        };
        assert!(
            splice(e0.clone(), &e1, vec![], true).is_err(),
            "one slice too few"
        );
        assert!(splice(e0.clone(), &e1, vec![slice.clone(), slice.clone()], true).is_err());
        assert!(splice(e0, &e1, vec![slice], true).is_ok());
    }
}
