//! Control batches: the COMMIT and ABORT markers that end a transaction in each
//! partition it wrote to.
//!
//! Flow: EndTxn → transaction coordinator (`txn/`) → `Partition::append_marker` →
//! **`marker_batch`** → `PartitionLog::append_marker` → segment; on the way out, a
//! `read_committed` consumer uses the markers and the aborted-transaction index
//! (`txn_index.rs`) to drop aborted records, and never hands a control batch to the
//! application.
//!
//! # A marker batch (an ordinary v2 batch header, see `record_batch.rs`)
//!
//! | field            | value                                               |
//! |------------------|-----------------------------------------------------|
//! | attributes       | 0x30: transactional (bit 4) and control (bit 5), no compression, CreateTime |
//! | producerId/Epoch | the transaction's producer id and epoch             |
//! | baseSequence     | -1 (markers carry no sequence)                      |
//! | timestamps       | the broker's clock when it writes the marker        |
//! | records          | exactly one, with the key and value below           |
//!
//! | record part | bytes | meaning                                          |
//! |-------------|-------|--------------------------------------------------|
//! | key         | 4     | version i16 = 0, type i16: 0 ABORT, 1 COMMIT     |
//! | value       | 6     | version i16 = 0, coordinator_epoch i32           |
//!
//! What must stay true:
//! - Only the broker writes control batches; a client's is refused
//!   (`producer_state.rs`).
//! - [`marker_of`] reads what [`marker_batch`] writes, and Kafka's, and ignores the
//!   other control types (KRaft's leader change and snapshot records).

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::record::records;
use super::record_batch::BatchError;

/// Control record type 0.
pub const ABORT: i16 = 0;
/// Control record type 1.
pub const COMMIT: i16 = 1;

/// What a COMMIT or ABORT marker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

impl Marker {
    pub fn name(self) -> &'static str {
        if self.commit {
            "COMMIT"
        } else {
            "ABORT"
        }
    }
}

/// The marker batch ending `producer_id`'s transaction at `epoch` (see the tables).
pub fn marker_batch(
    producer_id: i64,
    epoch: i16,
    marker: Marker,
    timestamp: i64,
) -> Result<Bytes, BatchError> {
    let kind = if marker.commit { COMMIT } else { ABORT };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: IndexMap::new(),
    };
    let records = [record];
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| BatchError::InvalidRecords(format!("cannot encode a marker: {e}")))?;
    Ok(buf.freeze())
}

/// The marker a control batch carries; `None` if it is not a COMMIT or ABORT.
pub fn marker_of(batch: &[u8]) -> Option<Marker> {
    let record = records(batch).ok()?.into_iter().next()?;
    let key = record.key?;
    let kind = i16::from_be_bytes(key.get(2..4)?.try_into().ok()?);
    let coordinator_epoch = record
        .value
        .as_deref()
        .and_then(|v| v.get(2..6))
        .and_then(|b| b.try_into().ok())
        .map_or(-1, i32::from_be_bytes);
    match kind {
        ABORT | COMMIT => Some(Marker {
            commit: kind == COMMIT,
            coordinator_epoch,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_batch::{validate, BatchHeader};

    #[test]
    fn a_marker_batch_is_a_valid_control_batch_that_reads_back() {
        let m = Marker {
            commit: false,
            coordinator_epoch: 7,
        };
        let b = marker_batch(42, 3, m, 1_000).unwrap();
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.attributes & 0x30, 0x30);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (42, 3, -1)
        );
        assert_eq!((h.record_count, h.max_timestamp), (1, 1_000));
        assert_eq!(marker_of(&b), Some(m));
        let c = marker_batch(
            42,
            3,
            Marker {
                commit: true,
                coordinator_epoch: 0,
            },
            5,
        )
        .unwrap();
        assert_eq!(marker_of(&c).map(Marker::name), Some("COMMIT"));
        assert!(BatchHeader::parse(&c).unwrap().is_control());
    }
}
