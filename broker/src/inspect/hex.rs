//! `inspect dump --hex`: the bytes of a batch header, each field labelled with its name,
//! its byte range, its hex bytes and its decoded value; for a control batch (a COMMIT or
//! ABORT marker), its one record too; for a `.txnindex`, each 34-byte entry.
//!
//! Where it sits: beside the message path; `dump.rs` calls it for each stored batch, and
//! anything else that wants to show a batch (the tour) can call [`annotate_header`] and
//! [`annotate_control_record`].
//!
//! What must stay true: the byte ranges come from `log/record_batch.rs`
//! (`HEADER_FIELDS` and its named ranges), the ones `BatchHeader::parse` reads through,
//! and from `log/txn_index.rs` (`ENTRY_FIELDS`); a record's varints are read with
//! `log/record.rs`'s own readers, and a marker's key and value are the layout of
//! `log/control_batch.rs`. There is no second table of offsets here.

use std::io::Write;
use std::ops::Range;

use serde::Serialize;

use super::format;
use crate::log::control_batch::{ABORT, COMMIT};
use crate::log::record::{read_varint, read_varlong};
use crate::log::record_batch::{
    self, BatchHeader, ATTRIBUTES, BASE_OFFSET, BASE_SEQUENCE, BASE_TIMESTAMP, BATCH_LENGTH, CRC,
    HEADER_FIELDS, HEADER_LEN, LAST_OFFSET_DELTA, MAGIC, MAX_TIMESTAMP, PARTITION_LEADER_EPOCH,
    PRODUCER_EPOCH, PRODUCER_ID, RECORD_COUNT,
};
use crate::log::txn_index::ENTRY_FIELDS;

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
        if h.is_control() {
            format!("{} (a marker carries no sequence)", h.base_sequence)
        } else {
            h.base_sequence.to_string()
        }
    } else if r == RECORD_COUNT {
        h.record_count.to_string()
    } else {
        String::new()
    }
}

/// Labels the one record of a control batch (uncompressed, as every marker is): its
/// varints, then the marker's key (version, type) and value (version, coordinator
/// epoch), with byte ranges from the start of the batch. Empty for any other batch; it
/// stops at the first field that is not a marker's.
pub fn annotate_control_record(batch: &[u8]) -> Vec<HexField> {
    let mut walk = Walk {
        batch,
        at: HEADER_LEN,
        fields: Vec::new(),
    };
    let Ok(h) = BatchHeader::parse(batch) else {
        return walk.fields;
    };
    if !h.is_control() || h.compression_name() != "none" {
        return walk.fields;
    }
    // Each step stops the walk (`None`) at bytes that are not a marker's.
    let _ = (|| -> Option<()> {
        walk.varint("record length", false, " (bytes after this field)")?;
        let attributes = *walk.rest().first()? as i8;
        walk.push("record attributes", 1, attributes.to_string())?;
        walk.varint("timestampDelta", true, " (from baseTimestamp)")?;
        walk.varint("offsetDelta", false, " (from baseOffset)")?;
        (walk.varint("keyLength", false, "")? == 4).then_some(())?;
        let version = walk.int(2)?;
        walk.push("key: version", 2, version.to_string())?;
        let kind = walk.int(2)?;
        let meaning = match i16::try_from(kind).ok()? {
            ABORT => " (ABORT)",
            COMMIT => " (COMMIT)",
            _ => " (not a transaction marker)",
        };
        walk.push("key: type", 2, format!("{kind}{meaning}"))?;
        (walk.varint("valueLength", false, "")? == 6).then_some(())?;
        let version = walk.int(2)?;
        walk.push("value: version", 2, version.to_string())?;
        let epoch = walk.int(4)?;
        walk.push(
            "value: coordinatorEpoch",
            4,
            format!("{epoch} (the transaction coordinator's epoch)"),
        )?;
        walk.varint("headers count", false, "")?;
        Some(())
    })();
    walk.fields
}

/// A walk over a record's bytes, labelling each field as it goes.
struct Walk<'a> {
    batch: &'a [u8],
    at: usize,
    fields: Vec<HexField>,
}

impl Walk<'_> {
    fn rest(&self) -> &[u8] {
        self.batch.get(self.at..).unwrap_or_default()
    }

    /// Labels the next `len` bytes.
    fn push(&mut self, field: &'static str, len: usize, value: String) -> Option<()> {
        let bytes = self.batch.get(self.at..self.at + len)?;
        self.fields.push(HexField {
            start: self.at,
            end: self.at + len,
            field,
            hex: hex(bytes),
            value,
        });
        self.at += len;
        Some(())
    }

    /// Labels the varint (`long`: varlong) at the front, by `record.rs`'s readers.
    fn varint(&mut self, field: &'static str, long: bool, what: &str) -> Option<i64> {
        let rest = self.rest();
        let mut cursor = rest;
        let v = if long {
            read_varlong(&mut cursor).ok()?
        } else {
            i64::from(read_varint(&mut cursor).ok()?)
        };
        let len = rest.len() - cursor.len();
        self.push(field, len, format!("{v}{what}"))?;
        Some(v)
    }

    /// The big-endian integer of `len` (2 or 4) bytes at the front, not yet labelled.
    fn int(&self, len: usize) -> Option<i64> {
        let b = self.rest().get(..len)?;
        Some(match len {
            2 => i64::from(i16::from_be_bytes([b[0], b[1]])),
            _ => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        })
    }
}

/// Labels every field of one `.txnindex` entry (`log/txn_index.rs: ENTRY_FIELDS`);
/// `entry` is one whole entry, and `start` its position in the file.
pub fn annotate_txn_entry(entry: &[u8], start: usize) -> Vec<HexField> {
    ENTRY_FIELDS
        .iter()
        .filter_map(|(field, range)| {
            let bytes = entry.get(range.clone())?;
            let value = if bytes.len() == 2 {
                i16::from_be_bytes([bytes[0], bytes[1]]).to_string()
            } else {
                i64::from_be_bytes(bytes.try_into().ok()?).to_string()
            };
            Some(HexField {
                start: start + range.start,
                end: start + range.end,
                field,
                hex: hex(bytes),
                value,
            })
        })
        .collect()
}

/// Rows of labelled fields under a `bytes field hex value` heading.
pub fn write_fields(fields: &[HexField], out: &mut dyn Write) -> std::io::Result<()> {
    let width = fields
        .iter()
        .map(|f| f.field.len())
        .max()
        .unwrap_or(0)
        .max(21);
    writeln!(
        out,
        "    {:<8} {:<width$} {:<23}  value",
        "bytes", "field", "hex"
    )?;
    for f in fields {
        writeln!(
            out,
            "    {:<8} {:<width$} {:<23}  {}",
            format!("{}..{}", f.start, f.end),
            f.field,
            f.hex,
            f.value
        )?;
    }
    Ok(())
}

/// The byte table of one batch: a row per header field, then where the records are.
pub fn write_table(
    fields: &[HexField],
    batch_len: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    write_fields(fields, out)?;
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
    fn a_markers_record_is_labelled_to_its_last_byte() {
        use crate::log::control_batch::{marker_batch, Marker};
        let m = Marker {
            commit: false,
            coordinator_epoch: 7,
        };
        let batch = marker_batch(42, 3, m, 1_000).unwrap();
        let fields = annotate_control_record(&batch);
        let mut next = HEADER_LEN;
        for f in &fields {
            assert_eq!(f.start, next, "{f:?}");
            next = f.end;
        }
        assert_eq!(next, batch.len());
        let field = |name: &str| fields.iter().find(|f| f.field == name).unwrap().clone();
        assert_eq!(
            (
                field("key: type").hex.as_str(),
                field("key: type").value.as_str()
            ),
            ("00 00", "0 (ABORT)")
        );
        assert_eq!(field("value: coordinatorEpoch").hex, "00 00 00 07");
        // A data batch has no marker record to label.
        let data = build(
            &[NewRecord {
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                headers: Vec::new(),
                timestamp: 1,
            }],
            1,
            Compression::None,
        );
        assert!(annotate_control_record(&data).is_empty());
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
