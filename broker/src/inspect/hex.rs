//! `inspect dump --hex`: the bytes of a batch header, each field labelled with its name,
//! its byte range, its hex bytes and its decoded value.
//!
//! Where it sits: beside the message path; `dump.rs` calls it for each stored batch, and
//! anything else that wants to show a batch (the tour) can call [`annotate_header`].
//!
//! What must stay true: the byte ranges come from `log/record_batch.rs`
//! (`HEADER_FIELDS` and its named ranges), the ones `BatchHeader::parse` reads through;
//! there is no second table of offsets here.

use std::io::Write;
use std::ops::Range;

use serde::Serialize;

use super::format;
use crate::log::record_batch::{
    self, BatchHeader, ATTRIBUTES, BASE_OFFSET, BASE_SEQUENCE, BASE_TIMESTAMP, BATCH_LENGTH, CRC,
    HEADER_FIELDS, HEADER_LEN, LAST_OFFSET_DELTA, MAGIC, MAX_TIMESTAMP, PARTITION_LEADER_EPOCH,
    PRODUCER_EPOCH, PRODUCER_ID, RECORD_COUNT,
};

/// One labelled field of a batch header.
#[derive(Debug, Clone, Serialize)]
pub struct HexField {
    /// First byte (from the start of the batch).
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Kafka's name of the field.
    pub field: &'static str,
    /// The bytes, as space-separated hex.
    pub hex: String,
    /// The decoded value.
    pub value: String,
}

/// Labels every header field of `batch` (at least [`HEADER_LEN`] bytes; a shorter
/// slice gives no fields).
pub fn annotate_header(batch: &[u8]) -> Vec<HexField> {
    let Ok(h) = BatchHeader::parse(batch) else {
        return Vec::new();
    };
    HEADER_FIELDS
        .iter()
        .map(|(field, range)| HexField {
            start: range.start,
            end: range.end,
            field,
            hex: hex(&batch[range.clone()]),
            value: value(&h, batch, range),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The decoded value of the field at `range`, with what it means.
fn value(h: &BatchHeader, batch: &[u8], range: &Range<usize>) -> String {
    let r = range.clone();
    if r == BASE_OFFSET {
        format!(
            "{} ({})",
            h.base_offset,
            crate::explain::offsets(h.base_offset, h.last_offset())
        )
    } else if r == BATCH_LENGTH {
        format!("{} (bytes after this field)", h.batch_length)
    } else if r == PARTITION_LEADER_EPOCH {
        h.partition_leader_epoch.to_string()
    } else if r == MAGIC {
        h.magic.to_string()
    } else if r == CRC {
        let computed = record_batch::compute_crc(batch);
        let verdict = if computed == h.crc {
            "ok".to_string()
        } else {
            format!("bad, computed {computed:#010x}")
        };
        format!(
            "{:#010x} (CRC-32C of bytes {}.., {verdict})",
            h.crc, ATTRIBUTES.start
        )
    } else if r == ATTRIBUTES {
        let mut parts = vec![format!("compression {}", h.compression_name())];
        for (set, name) in [
            (h.is_log_append_time(), "LogAppendTime"),
            (h.is_transactional(), "transactional"),
            (h.is_control(), "control"),
            (h.delete_horizon().is_some(), "delete horizon set"),
        ] {
            if set {
                parts.push(name.to_string());
            }
        }
        format!("{:#06x} ({})", h.attributes, parts.join(", "))
    } else if r == LAST_OFFSET_DELTA {
        h.last_offset_delta.to_string()
    } else if r == BASE_TIMESTAMP {
        match h.delete_horizon() {
            Some(t) => format!(
                "{} (the delete horizon: its tombstones go after it)",
                format::timestamp(t)
            ),
            None => format::timestamp(h.base_timestamp),
        }
    } else if r == MAX_TIMESTAMP {
        format::timestamp(h.max_timestamp)
    } else if r == PRODUCER_ID {
        h.producer_id.to_string()
    } else if r == PRODUCER_EPOCH {
        h.producer_epoch.to_string()
    } else if r == BASE_SEQUENCE {
        h.base_sequence.to_string()
    } else if r == RECORD_COUNT {
        h.record_count.to_string()
    } else {
        String::new()
    }
}

/// The byte table of one batch: a row per header field, then where the records are.
pub fn write_table(
    fields: &[HexField],
    batch_len: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "    {:<8} {:<21} {:<23}  value",
        "bytes", "field", "hex"
    )?;
    for f in fields {
        writeln!(
            out,
            "    {:<8} {:<21} {:<23}  {}",
            format!("{}..{}", f.start, f.end),
            f.field,
            f.hex,
            f.value
        )?;
    }
    writeln!(
        out,
        "    {:<8} records ({} bytes)",
        format!("{HEADER_LEN}..{batch_len}"),
        batch_len.saturating_sub(HEADER_LEN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{build, NewRecord};
    use crate::log::record_batch::Compression;

    #[test]
    fn every_header_byte_is_labelled_once() {
        let batch = build(
            &[NewRecord {
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                headers: Vec::new(),
                timestamp: 1_700_000_000_000,
            }],
            1_700_000_000_000,
            Compression::None,
        );
        let fields = annotate_header(&batch);
        assert_eq!(fields.len(), HEADER_FIELDS.len());
        let mut next = 0;
        for f in &fields {
            assert_eq!(f.start, next, "{f:?}");
            next = f.end;
        }
        assert_eq!(next, HEADER_LEN);
        let crc = fields.iter().find(|f| f.field == "crc").unwrap();
        assert!(crc.value.contains(", ok)"), "{crc:?}");
        let count = fields.iter().find(|f| f.field == "recordCount").unwrap();
        assert_eq!(
            (count.hex.as_str(), count.value.as_str()),
            ("00 00 00 01", "1")
        );
    }

    #[test]
    fn a_delete_horizon_is_labelled() {
        let batch = build(
            &[NewRecord {
                key: Some(bytes::Bytes::from_static(b"k")),
                value: None,
                headers: Vec::new(),
                timestamp: 1_700_000_000_000,
            }],
            1_700_000_000_000,
            Compression::None,
        );
        let h = BatchHeader::parse(&batch).unwrap();
        let tombstones = crate::log::record::records(&batch).unwrap();
        let cleaned = crate::log::record::rebuild(&h, &tombstones, Some(1_700_000_086_400));
        let fields = annotate_header(&cleaned);
        let field = |name: &str| fields.iter().find(|f| f.field == name).unwrap().clone();
        assert_eq!(field("attributes").hex, "00 40");
        assert!(field("attributes")
            .value
            .ends_with("(compression none, delete horizon set)"));
        assert!(
            field("baseTimestamp")
                .value
                .starts_with("1700000086400 (2023-11-14T22:14:46.400Z) (the delete horizon"),
            "{:?}",
            field("baseTimestamp")
        );
        // Without the bit, the same field is only a timestamp.
        assert!(!annotate_header(&batch)
            .iter()
            .any(|f| f.value.contains("delete horizon")));
    }
}
