//! `__transaction_state`: the transaction coordinator's log, one record per change of a
//! transactional id's state, in Kafka's format; replayed at start-up.
//!
//! Flow: InitProducerId / AddPartitionsToTxn / AddOffsetsToTxn / EndTxn →
//! `coordinator.rs` → **`StateLog::write`** → `Partition::append` → segment; at
//! start-up **`StateLog::open`** replays it: the last record of each key is the state.
//!
//! # Records (big-endian; strings are i16 length + UTF-8)
//!
//! Key, `TransactionLogKey` version 0:
//!
//! | bytes    | field                 |
//! |----------|-----------------------|
//! | 0–1      | key version i16 = 0   |
//! | 2–3      | id length N i16       |
//! | 4 .. 4+N | transactional id      |
//!
//! Value, `TransactionLogValue` version 0 (a null value, a tombstone, removes the id):
//!
//! | field                                | type                                       |
//! |--------------------------------------|--------------------------------------------|
//! | version                              | i16 = 0                                    |
//! | producer_id                          | i64                                        |
//! | producer_epoch                       | i16                                        |
//! | transaction_timeout_ms               | i32                                        |
//! | transaction_status                   | i8 (`TxnState`: 0 Empty … 5 CompleteAbort) |
//! | transaction_partitions               | i32 count (-1: null, when Empty), then per topic: name, i32 count, i32 partitions |
//! | transaction_last_update_timestamp_ms | i64                                        |
//! | transaction_start_timestamp_ms       | i64 (-1: no transaction started)           |
//!
//! What must stay true:
//! - The coordinator writes a change here (and it is appended under the broker's fsync
//!   policy) before it answers the client or acts on it: a restart finds every state a
//!   client was told about.
//! - The topic is compacted, as Kafka's: the cleaner keeps the last record per id. It
//!   has one partition here (Kafka's `transaction.state.log.num.partitions` is 50; one
//!   broker gains nothing from more).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::metadata::{TxnMetadata, TxnState};
use crate::group::offset_record::{get_str, put_str};
use crate::log::record::{self, NewRecord};
use crate::log::record_batch::{self, Compression};
use crate::log::LogError;
use crate::topics::{Partition, TopicError, Topics};

/// The transaction coordinator's internal topic.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Kafka's configs of `__transaction_state`: compacted, in segments of
/// `transaction.state.log.segment.bytes` (100 MiB).
pub fn txn_topic_config() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("segment.bytes".to_string(), "104857600".to_string()),
    ])
}

/// Every transactional id's last state, as replayed.
pub type States = BTreeMap<String, TxnMetadata>;

/// The log of transaction states.
#[derive(Debug)]
pub struct StateLog {
    partition: Arc<Partition>,
}

impl StateLog {
    /// Opens `__transaction_state` if it exists and replays it: the state of every
    /// transactional id it holds. `None` when no transactional producer has come yet
    /// (Kafka too creates the topic on first use). Blocking.
    pub fn existing(topics: &Topics) -> Result<Option<(StateLog, States)>, TopicError> {
        if topics.get(TXN_TOPIC).is_none() {
            return Ok(None);
        }
        StateLog::open(topics).map(Some)
    }

    /// Creates `__transaction_state` (the first transactional producer). Blocking.
    pub fn create(topics: &Topics) -> Result<StateLog, TopicError> {
        Ok(StateLog::open(topics)?.0)
    }

    fn open(topics: &Topics) -> Result<(StateLog, States), TopicError> {
        let topic = match topics.get(TXN_TOPIC) {
            Some(t) => t,
            None => {
                tracing::info!("creating internal topic {TXN_TOPIC} with 1 partition");
                topics.create(TXN_TOPIC, 1, txn_topic_config())?
            }
        };
        let partition = topic
            .partitions
            .first()
            .cloned()
            .ok_or_else(|| TopicError::Corrupt {
                path: topics.data_dir().join(format!("{TXN_TOPIC}-0")),
                reason: "the topic has no partition 0".into(),
            })?;
        let states = replay(&partition).map_err(|e| TopicError::Corrupt {
            path: topics.data_dir().join(format!("{TXN_TOPIC}-0")),
            reason: e.to_string(),
        })?;
        Ok((StateLog { partition }, states))
    }

    /// Appends the state of `id` (`None`: a tombstone, the id expired). Blocking.
    pub fn write(&self, id: &str, meta: Option<&TxnMetadata>) -> Result<(), LogError> {
        let now = meta.map_or_else(super::now_ms, |m| m.last_update);
        let record = NewRecord {
            key: Some(encode_key(id)),
            value: meta.map(encode_value),
            headers: Vec::new(),
            timestamp: now,
        };
        let batch = record::build(&[record], now, Compression::None);
        self.partition.append(&batch).map(|_| ())
    }

    /// The partition, for the dashboard and `inspect`.
    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }
}

/// The key of `id` (version 0).
pub fn encode_key(id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + id.len());
    b.put_i16(0);
    put_str(&mut b, id);
    b.freeze()
}

/// The transactional id of a key.
pub fn decode_key(mut b: Bytes) -> Result<String, String> {
    if b.remaining() < 2 || b.get_i16() != 0 {
        return Err("not a version-0 transaction log key".into());
    }
    get_str(&mut b)
}

/// The value of `meta` (version 0).
pub fn encode_value(meta: &TxnMetadata) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(0);
    b.put_i64(meta.producer_id);
    b.put_i16(meta.epoch);
    b.put_i32(meta.timeout_ms);
    b.put_i8(meta.state as i8);
    if meta.state == TxnState::Empty {
        b.put_i32(-1);
    } else {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in &meta.partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        b.put_i32(by_topic.len() as i32);
        for (t, ps) in by_topic {
            put_str(&mut b, t);
            b.put_i32(ps.len() as i32);
            ps.iter().for_each(|p| b.put_i32(*p));
        }
    }
    b.put_i64(meta.last_update);
    b.put_i64(meta.start);
    b.freeze()
}

/// Decodes a value of `id`.
pub fn decode_value(id: &str, mut b: Bytes) -> Result<TxnMetadata, String> {
    let need = |b: &Bytes, n: usize| {
        if b.remaining() < n {
            Err("the value is cut".to_string())
        } else {
            Ok(())
        }
    };
    need(&b, 2 + 8 + 2 + 4 + 1 + 4)?;
    let version = b.get_i16();
    if version != 0 {
        return Err(format!("value version {version}, not 0"));
    }
    let producer_id = b.get_i64();
    let epoch = b.get_i16();
    let timeout_ms = b.get_i32();
    let state = TxnState::from_id(b.get_i8()).ok_or("an unknown transaction state")?;
    let topics = b.get_i32();
    let mut partitions = BTreeSet::new();
    for _ in 0..topics.max(0) {
        let topic = get_str(&mut b)?;
        need(&b, 4)?;
        let n = b.get_i32();
        need(&b, 4 * n.max(0) as usize)?;
        for _ in 0..n.max(0) {
            partitions.insert((topic.clone(), b.get_i32()));
        }
    }
    need(&b, 16)?;
    Ok(TxnMetadata {
        transactional_id: id.to_string(),
        producer_id,
        epoch,
        timeout_ms,
        state,
        partitions,
        last_update: b.get_i64(),
        start: b.get_i64(),
    })
}

/// The last state of every id in the log.
fn replay(partition: &Partition) -> Result<BTreeMap<String, TxnMetadata>, LogError> {
    let mut out = BTreeMap::new();
    let mut next = partition.log_start_offset();
    let end = partition.log_end_offset();
    while next < end {
        let chunk = partition.read(next, 1 << 20)?;
        let before = next;
        for batch in record_batch::split_batches(&chunk) {
            let Ok(h) = record_batch::BatchHeader::parse(batch) else {
                break;
            };
            next = next.max(h.last_offset() + 1);
            let Ok(records) = record::records(batch) else {
                tracing::warn!(
                    "{TXN_TOPIC}-0: batch at {} unreadable; skipped",
                    h.base_offset
                );
                continue;
            };
            for r in records {
                let Some(id) = r.key.and_then(|k| decode_key(k).ok()) else {
                    continue;
                };
                match r.value {
                    None => {
                        out.remove(&id);
                    }
                    Some(v) => match decode_value(&id, v) {
                        Ok(meta) => {
                            out.insert(id, meta);
                        }
                        Err(why) => tracing::warn!(
                            "{TXN_TOPIC}-0: offset {}: bad value for {id:?}: {why}; skipped",
                            r.offset
                        ),
                    },
                }
            }
        }
        if next == before {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip_in_kafkas_layout() {
        let key = encode_key("tx-1");
        assert_eq!(&key[..], &[0, 0, 0, 4, b't', b'x', b'-', b'1']);
        assert_eq!(decode_key(key).unwrap(), "tx-1");
        let mut meta = TxnMetadata::new("tx-1", 77, 60_000, 1_000);
        meta.state = TxnState::Ongoing;
        meta.epoch = 3;
        meta.start = 1_500;
        meta.partitions.insert(("a".into(), 0));
        meta.partitions.insert(("a".into(), 2));
        meta.partitions.insert(("b".into(), 1));
        let v = encode_value(&meta);
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(v[2 + 8 + 2 + 4], 1, "status byte: Ongoing");
        assert_eq!(decode_value("tx-1", v).unwrap(), meta);
        // Empty: the partitions are null.
        let empty = TxnMetadata::new("tx-2", 5, 1_000, 9);
        let v = encode_value(&empty);
        assert_eq!(&v[17..21], &(-1i32).to_be_bytes());
        assert_eq!(decode_value("tx-2", v).unwrap(), empty);
        assert!(decode_value("x", Bytes::from_static(&[0, 0, 1])).is_err());
    }
}
