//! Unit tests of the v2 batch: building, validating, each kind of damage, and framing
//! (the strict and the lenient reader).

use bytes::Bytes;

use super::*;
use crate::log::record::{build, records, NewRecord};

fn rec(k: &str, v: &str, ts: i64) -> NewRecord {
    NewRecord {
        key: Some(Bytes::copy_from_slice(k.as_bytes())),
        value: Some(Bytes::copy_from_slice(v.as_bytes())),
        headers: vec![
            ("h".into(), Some(Bytes::from_static(b"x"))),
            ("n".into(), None),
        ],
        timestamp: ts,
    }
}

#[test]
fn crc32c_test_vector() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn build_validate_and_read_back_every_codec() {
    for c in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let input = vec![rec("a", "1", 1000), rec("b", "22", 1005), rec("", "", 999)];
        let mut b = build(&input, 1000, c);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.compression().unwrap(), c);
        assert_eq!(
            (h.record_count, h.last_offset_delta, h.max_timestamp),
            (3, 2, 1005)
        );
        set_base_offset(&mut b, 42);
        check_frame(&b).unwrap();
        let out = records(&b).unwrap();
        assert_eq!(out.len(), 3);
        for (i, (r, n)) in out.iter().zip(&input).enumerate() {
            assert_eq!(r.offset, 42 + i as i64);
            assert_eq!(
                (&r.key, &r.value, r.timestamp),
                (&n.key, &n.value, n.timestamp)
            );
            assert_eq!(r.headers, n.headers);
        }
    }
}

#[test]
fn null_key_and_value_round_trip() {
    let b = build(&[NewRecord::default()], 5, Compression::None);
    let r = &records(&b).unwrap()[0];
    assert_eq!((r.key.is_none(), r.value.is_none()), (true, true));
}

#[test]
fn rejects_each_kind_of_damage() {
    let good = build(&[rec("k", "v", 1), rec("k", "w", 2)], 1, Compression::None);
    let mut b = good.clone();
    b[16] = 1;
    assert!(matches!(
        validate(&b, 1 << 20),
        Err(BatchError::BadMagic(1))
    ));
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    let e = validate(&b, 1 << 20).unwrap_err();
    assert!(matches!(e, BatchError::BadCrc { .. }));
    assert_eq!(e.kafka_error_code(), 2);
    assert!(matches!(
        validate(&good[..40], 1 << 20),
        Err(BatchError::BadLength(_))
    ));
    assert!(matches!(
        validate(&good[..good.len() - 1], 1 << 20),
        Err(BatchError::BadLength(_))
    ));
    assert!(matches!(
        validate(&good, 10),
        Err(BatchError::TooLarge { .. })
    ));
    // recordCount that disagrees with the records, with a fixed-up CRC.
    let mut b = good.clone();
    b[57..61].copy_from_slice(&3i32.to_be_bytes());
    b[23..27].copy_from_slice(&2i32.to_be_bytes());
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let e = validate(&b, 1 << 20).unwrap_err();
    assert_eq!(e.kafka_error_code(), 87, "{e}");
}

#[test]
fn base_offset_write_keeps_crc() {
    let mut b = build(&[rec("k", "v", 1)], 1, Compression::None);
    set_base_offset(&mut b, i64::MAX - 5);
    assert_eq!(check_frame(&b).unwrap().base_offset, i64::MAX - 5);
}

#[test]
fn split_batches_drops_a_partial_tail() {
    let a = build(&[rec("a", "1", 1)], 1, Compression::None);
    let b = build(&[rec("b", "2", 1)], 1, Compression::None);
    let mut all = [a.clone(), b.clone()].concat();
    all.truncate(all.len() - 3);
    let got: Vec<_> = split_batches(&all).collect();
    assert_eq!(got, vec![&a[..]]);
}

#[test]
fn split_exact_frames_back_to_back_batches() {
    let a = build(&[rec("a", "1", 1)], 1, Compression::None);
    let b = build(&[rec("b", "22", 1)], 1, Compression::None);
    let both = [a.clone(), b.clone()].concat();
    let ranges = split_exact(&both).unwrap();
    assert_eq!(ranges, [0..a.len(), a.len()..a.len() + b.len()]);
    assert_eq!(split_exact(&a).unwrap(), vec![(0..a.len())]);
}

#[test]
fn split_exact_rejects_leftovers_and_bad_lengths() {
    let a = build(&[rec("a", "1", 1)], 1, Compression::None);
    let code = |r: Result<_, BatchError>| r.unwrap_err().kafka_error_code();
    assert_eq!(code(split_exact(&a[..a.len() - 1])), 2, "cut short");
    assert_eq!(code(split_exact(&a[..20])), 2, "shorter than a header");
    let mut lying = a.clone();
    lying[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(code(split_exact(&lying)), 2, "negative length");
    let trailing = [a.clone(), vec![0; 5]].concat();
    assert_eq!(
        code(split_exact(&trailing)),
        2,
        "bytes after the last batch"
    );
    assert_eq!(code(split_exact(&[])), 87, "no batch at all");
}

#[test]
fn frames_says_where_and_why_it_stopped() {
    let a = build(&[rec("a", "1", 1)], 1, Compression::None);
    let mut buf = [a.clone(), a.clone()].concat();
    let n = a.len();
    buf[n + 8..n + 12].copy_from_slice(&10_000i32.to_be_bytes());
    let got: Vec<_> = frames(&buf).collect();
    assert_eq!(
        got,
        [
            Ok(0..n),
            Err(Torn {
                position: n,
                error: FrameError::PastEnd {
                    length: 10_000,
                    left: n
                }
            })
        ]
    );
    assert_eq!(frame_len(&a, 30), Err(FrameError::Short { left: 30 }));
    assert_eq!(frame_len(&a, n), Ok(n));
}

/// Rewrites the CRC after a test damaged a batch, so that validation gets past it.
fn fix_crc(b: &mut [u8]) {
    let crc = compute_crc(b);
    b[CRC].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn a_compressed_payload_that_does_not_decompress_is_corrupt() {
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut b = build(&[rec("k", "v", 1)], 1, c);
        // Garble the compressed bytes after the codec's own header, then make the CRC
        // agree: only decompression can notice.
        let end = b.len();
        for byte in &mut b[HEADER_LEN + 4..end] {
            *byte ^= 0x5a;
        }
        fix_crc(&mut b);
        let e = validate(&b, 1 << 20).unwrap_err();
        assert_eq!(e.kafka_error_code(), 2, "{}: {e}", c.name());
    }
}

#[test]
fn compressed_records_must_agree_with_the_header() {
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        // Three records inside, but the header says two.
        let mut b = build(
            &[rec("a", "1", 1), rec("b", "2", 2), rec("c", "3", 3)],
            1,
            c,
        );
        b[RECORD_COUNT].copy_from_slice(&2i32.to_be_bytes());
        b[LAST_OFFSET_DELTA].copy_from_slice(&1i32.to_be_bytes());
        fix_crc(&mut b);
        let e = validate(&b, 1 << 20).unwrap_err();
        assert!(
            matches!(e, BatchError::InvalidRecords(_)),
            "{}: {e}",
            c.name()
        );
        assert_eq!(e.kafka_error_code(), 87);
    }
}

#[test]
fn raw_snappy_without_xerial_framing_is_read_too() {
    // librdkafka writes raw snappy; the Java client the xerial framing (what `build`
    // writes). Both must validate and read back.
    let plain = build(&[rec("k", "raw", 7)], 7, Compression::None);
    // The smallest raw snappy stream: the length as a varint, then one literal element
    // (tag (len-1)<<2 for a literal shorter than 61 bytes), a test vector, not a codec.
    let body = &plain[HEADER_LEN..];
    assert!(body.len() < 61);
    let mut raw = vec![body.len() as u8, ((body.len() - 1) << 2) as u8];
    raw.extend_from_slice(body);
    let mut b = plain[..HEADER_LEN].to_vec();
    b.extend_from_slice(&raw);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH].copy_from_slice(&len.to_be_bytes());
    b[ATTRIBUTES].copy_from_slice(&Compression::Snappy.attribute_bits().to_be_bytes());
    fix_crc(&mut b);
    validate(&b, 1 << 20).unwrap();
    assert_eq!(records(&b).unwrap()[0].value.as_deref(), Some(&b"raw"[..]));
}

#[test]
fn recompress_keeps_records_and_producer_identity() {
    use crate::log::record::recompress;
    let mut lz4 = build(
        &[rec("a", "1", 1000), rec("b", "2", 1007)],
        1000,
        Compression::Lz4,
    );
    lz4[PRODUCER_ID].copy_from_slice(&77i64.to_be_bytes());
    lz4[PRODUCER_EPOCH].copy_from_slice(&3i16.to_be_bytes());
    lz4[BASE_SEQUENCE].copy_from_slice(&12i32.to_be_bytes());
    fix_crc(&mut lz4);
    let plain = build(&[rec("c", "3", 1010)], 1010, Compression::None);
    let mut both = lz4.clone();
    both.extend_from_slice(&plain);

    let gz = recompress(&both, Compression::Gzip, 1 << 20)
        .unwrap()
        .expect("rewritten");
    let h = validate(&gz, 1 << 20).unwrap();
    assert_eq!(h.compression().unwrap(), Compression::Gzip);
    assert_eq!(
        (
            h.producer_id,
            h.producer_epoch,
            h.base_sequence,
            h.record_count
        ),
        (77, 3, 12, 3),
        "one batch, the first batch's producer"
    );
    let values: Vec<_> = records(&gz)
        .unwrap()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(
        values,
        [
            (Some(Bytes::from_static(b"1")), 1000),
            (Some(Bytes::from_static(b"2")), 1007),
            (Some(Bytes::from_static(b"3")), 1010)
        ]
    );
    // Already in the topic's codec: stored as it came.
    assert!(recompress(&lz4, Compression::Lz4, 1 << 20)
        .unwrap()
        .is_none());
    // A bad batch is refused as it would be without recompression.
    let mut bad = lz4.clone();
    bad[RECORD_COUNT].copy_from_slice(&5i32.to_be_bytes());
    assert!(recompress(&bad, Compression::Gzip, 1 << 20).is_err());
}

/// A compacted topic's rule (`validate_for(.., true)`): the key-less records of a batch
/// are named by their index in it, compressed or not; a null key is key-less, an empty
/// one is a key; control batches and non-compacted topics are not checked.
#[test]
fn compacted_topics_refuse_keyless_records_by_index() {
    let keyless = |v: &str| NewRecord {
        key: None,
        ..rec("", v, 1000)
    };
    let input = [
        rec("a", "0", 1000),
        keyless("1"),
        rec("", "2", 1000),
        keyless("3"),
    ];
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let b = build(&input, 1000, c);
        validate_for(&b, 1 << 20, false).unwrap();
        let e = validate_for(&b, 1 << 20, true).unwrap_err();
        let BatchError::KeylessRecords { indexes, count } = &e else {
            panic!("{c:?}: {e}");
        };
        assert_eq!((indexes.as_slice(), *count), (&[1, 3][..], 4), "{c:?}");
        assert_eq!(e.kafka_error_code(), 87, "INVALID_RECORD");
        assert!(
            e.to_string()
                .contains("2 of the batch's 4 records have no key (batch index 1, 3)"),
            "{e}"
        );
        let keyed = build(&[rec("a", "0", 1000), rec("", "1", 1000)], 1000, c);
        validate_for(&keyed, 1 << 20, true).unwrap();
    }
    // Many: the message shows the first three and the total.
    let many: Vec<NewRecord> = (0..7).map(|i| keyless(&i.to_string())).collect();
    let e = validate_for(&build(&many, 1000, Compression::None), 1 << 20, true).unwrap_err();
    assert!(
        e.to_string().contains("batch index 0, 1, 2, … (7 in all)"),
        "{e}"
    );
    // A control batch (attribute bit 5) is not the producer's data: not checked.
    let mut control = build(&[keyless("marker")], 1000, Compression::None);
    control[ATTRIBUTES].copy_from_slice(&0x20i16.to_be_bytes());
    fix_crc(&mut control);
    validate_for(&control, 1 << 20, true).unwrap();
}
