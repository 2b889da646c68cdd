//! The committed-offsets store: the `__consumer_offsets` topic plus its in-memory view.
//!
//! Where it sits: consumer → OffsetCommit → [`super::offset_commit`] → here → partition log →
//! segment. At start-up the log is replayed into memory, so OffsetFetch answers from memory
//! and a broker restart loses nothing that was acknowledged.
//!
//! Invariants:
//! - The in-memory map is exactly "the last record per key" of the log: a commit is appended
//!   to the log and applied to the map while one mutex is held, so the order in memory is the
//!   order on disk, and a replay rebuilds the same map.
//! - A record with a null value (a tombstone) deletes the key.
//! - All methods here do blocking disk I/O: call them from `spawn_blocking` (or from `open`).
//!
//! One OffsetCommit request becomes one v2 record batch (built with
//! [`record::build`]) with one record per partition, appended with
//! [`Partition::append`]. The topic is compacted, as Kafka's ([`offsets_topic_config`]):
//! the log cleaner keeps the last record per key, so a replay reads the latest commit of
//! each key plus what was committed since the last cleaning pass, not every commit ever
//! made. The replay walks the batches with [`record_batch::split_batches`] and
//! [`record::records`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};

use super::offset_record::{
    decode_key, decode_value, encode_key, encode_value, CommittedOffset, OffsetKey,
};
use crate::log::control_batch::{marker_of, Marker};
use crate::log::record;
use crate::log::record::NewRecord;
use crate::log::record_batch::{self, BatchHeader, Compression};
use crate::log::AppendInfo;
use crate::log::LogError;
use crate::topics::{Partition, TopicError, Topics};

/// The internal topic that holds every committed offset.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's configs of `__consumer_offsets`: compacted (the log cleaner keeps the last
/// commit per key, and retention never deletes a live one), in segments of
/// `offsets.topic.segment.bytes` (`Config::offsets_topic_segment_bytes`).
pub fn offsets_topic_config(segment_bytes: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("segment.bytes".to_string(), segment_bytes.to_string()),
    ])
}

/// How many bytes of the log a replay reads at a time.
const REPLAY_CHUNK: usize = 1024 * 1024;

/// Errors of the offsets store, naming the group and the log position concerned.
#[derive(Debug, thiserror::Error)]
pub enum OffsetStoreError {
    #[error("{OFFSETS_TOPIC}: {0}")]
    Topic(#[from] TopicError),
    #[error("{OFFSETS_TOPIC}-0 at offset {offset}: {source}")]
    Log {
        offset: i64,
        #[source]
        source: LogError,
    },
    #[error("{OFFSETS_TOPIC}-0: the topic exists but has no partition 0")]
    NoPartition,
}

/// `__consumer_offsets` partition 0 and the map replayed from it.
#[derive(Debug)]
pub struct OffsetStore {
    partition: Arc<Partition>,
    /// std Mutex: held only for short, bounded work (one append of a small batch and the
    /// map update), always inside `spawn_blocking` or `open`, never across `.await`.
    offsets: Mutex<BTreeMap<OffsetKey, CommittedOffset>>,
    /// Transactional offset commits not yet committed (TxnOffsetCommit), per producer
    /// id: visible once its transaction's COMMIT marker is written, dropped on ABORT.
    /// Locked after `offsets` when both are needed.
    pending: Mutex<Pending>,
}

impl OffsetStore {
    /// Opens `__consumer_offsets` (creating it with one partition if missing) and replays it.
    /// Blocking: call from `open` or `spawn_blocking`.
    pub fn open(topics: &Topics, segment_bytes: u64) -> Result<OffsetStore, OffsetStoreError> {
        let config = offsets_topic_config(segment_bytes);
        let topic = match topics.get(OFFSETS_TOPIC) {
            Some(topic) if topic.config == config => topic,
            Some(topic) => {
                // A data dir from before compaction (the topic was kept whole with
                // retention.ms=-1), or another offsets.topic.segment.bytes.
                tracing::info!(
                    "{OFFSETS_TOPIC}: config {:?} becomes {config:?} (compacted, as in Kafka)",
                    topic.config
                );
                topics.alter_config(OFFSETS_TOPIC, config)?
            }
            None => {
                tracing::info!("creating internal topic {OFFSETS_TOPIC} with 1 partition");
                topics.create(OFFSETS_TOPIC, 1, config)?
            }
        };
        let partition = topic
            .partitions
            .first()
            .cloned()
            .ok_or(OffsetStoreError::NoPartition)?;
        let (offsets, pending) = replay(&partition)?;
        let groups: std::collections::BTreeSet<&str> =
            offsets.keys().map(|k| k.group.as_str()).collect();
        tracing::info!(
            "{OFFSETS_TOPIC}: replayed {} of {} (log end offset {})",
            crate::explain::count(offsets.len(), "committed offset"),
            crate::explain::count(groups.len(), "group"),
            partition.log_end_offset()
        );
        Ok(OffsetStore {
            partition,
            offsets: Mutex::new(offsets),
            pending: Mutex::new(pending),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<OffsetKey, CommittedOffset>> {
        // A poisoned lock only means another thread panicked mid-update; the map is still
        // a valid map (each update is a single insert), so keep serving.
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one batch with every commit, then applies them to memory. Blocking.
    pub fn commit(
        &self,
        group: &str,
        commits: &[(String, i32, CommittedOffset)],
    ) -> Result<(), OffsetStoreError> {
        if commits.is_empty() {
            return Ok(());
        }
        let now = commits[0].2.commit_timestamp;
        let records: Vec<NewRecord> = commits
            .iter()
            .map(|(topic, partition, value)| {
                let key = OffsetKey {
                    group: group.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                NewRecord {
                    key: Some(encode_key(&key)),
                    value: Some(encode_value(value)),
                    headers: Vec::new(),
                    timestamp: now,
                }
            })
            .collect();
        let batch = record::build(&records, now, Compression::None);
        let mut map = self.lock();
        let log_end = self.partition.log_end_offset();
        let info = self
            .partition
            .append(&batch)
            .map_err(|source| OffsetStoreError::Log {
                offset: log_end,
                source,
            })?;
        if self.partition.config().explain {
            for (offset, (topic, partition, value)) in (info.base_offset..).zip(commits) {
                crate::explain::line(
                    "group/offset_store.rs OffsetStore::commit",
                    format_args!(
                        "{} offset {offset}: commit record key (group {group:?}, topic {topic:?}, partition {partition}) value (offset {}, leader epoch {}, metadata {:?}, timestamp {})",
                        self.partition.name(),
                        value.offset,
                        value.leader_epoch,
                        value.metadata,
                        value.commit_timestamp,
                    ),
                );
            }
        }
        for (topic, partition, value) in commits {
            let key = OffsetKey {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
            };
            map.insert(key, value.clone());
        }
        Ok(())
    }

    /// Deletes committed offsets (DeleteGroups, OffsetDelete): appends one batch of
    /// tombstones (the key, a null value), then removes the keys from memory, under the
    /// same lock as `commit`, so memory stays "the last record per key". Keys with no
    /// commit are skipped. Returns how many were deleted. Blocking.
    /// TxnOffsetCommit: stores `commits` of `group` as part of `producer_id`'s open
    /// transaction: a transactional batch with its producer id and epoch (an older
    /// epoch than the partition knows is INVALID_PRODUCER_EPOCH), held back from
    /// OffsetFetch until [`complete_transaction`](Self::complete_transaction).
    pub fn commit_transactional(
        &self,
        group: &str,
        producer_id: i64,
        epoch: i16,
        commits: &[(String, i32, CommittedOffset)],
    ) -> Result<(), LogError> {
        if commits.is_empty() {
            return Ok(());
        }
        let now = commits[0].2.commit_timestamp;
        let keyed: Vec<(OffsetKey, CommittedOffset)> = commits
            .iter()
            .map(|(topic, partition, value)| {
                let key = OffsetKey {
                    group: group.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key, value.clone())
            })
            .collect();
        let records: Vec<(Bytes, Bytes)> = keyed
            .iter()
            .map(|(k, v)| (encode_key(k), encode_value(v)))
            .collect();
        let batch = transactional_batch(&records, producer_id, epoch, now)?;
        let _map = self.lock();
        self.partition.append_for_producer(&batch)?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.entry(producer_id).or_default().extend(keyed);
        Ok(())
    }

    /// The end of `producer_id`'s transaction in `__consumer_offsets`: its marker is
    /// written, and its pending commits become visible (`commit`) or are dropped.
    pub fn complete_transaction(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<AppendInfo, LogError> {
        let mut map = self.lock();
        let marker = Marker {
            commit,
            coordinator_epoch: 0,
        };
        let info = self.partition.append_marker(producer_id, epoch, marker)?;
        let done = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&producer_id)
            .unwrap_or_default();
        if commit {
            map.extend(done);
        }
        Ok(info)
    }

    /// Whether an open transaction holds a commit for this partition of `group`
    /// (OffsetFetch's `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = OffsetKey {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|m| m.contains_key(&key))
    }

    pub fn delete(&self, keys: &[OffsetKey]) -> Result<usize, OffsetStoreError> {
        let mut map = self.lock();
        let gone: Vec<&OffsetKey> = keys.iter().filter(|k| map.contains_key(k)).collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let now = super::coordinator::now_ms();
        let records: Vec<NewRecord> = gone
            .iter()
            .map(|key| NewRecord {
                key: Some(encode_key(key)),
                value: None,
                headers: Vec::new(),
                timestamp: now,
            })
            .collect();
        let batch = record::build(&records, now, Compression::None);
        let log_end = self.partition.log_end_offset();
        self.partition
            .append(&batch)
            .map_err(|source| OffsetStoreError::Log {
                offset: log_end,
                source,
            })?;
        for key in &gone {
            map.remove(*key);
        }
        Ok(gone.len())
    }

    /// The committed offset of one partition, if any.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        let key = OffsetKey {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        };
        self.lock().get(&key).cloned()
    }

    /// Every committed offset of a group, sorted by topic then partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(OffsetKey, CommittedOffset)> {
        self.lock()
            .iter()
            .filter(|(k, _)| k.group == group)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The ids of every group that has at least one committed offset.
    pub fn groups(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().map(|k| k.group.clone()).collect();
        ids.dedup();
        ids
    }
}

/// Transactional offset commits awaiting their transaction's end, per producer id.
pub type Pending = HashMap<i64, BTreeMap<OffsetKey, CommittedOffset>>;

/// Reads the whole `__consumer_offsets` log and keeps the last value per key (tombstones
/// delete). Blocking; run once, when the coordinator opens.
fn replay(
    partition: &Partition,
) -> Result<(BTreeMap<OffsetKey, CommittedOffset>, Pending), OffsetStoreError> {
    let mut map = BTreeMap::new();
    let mut pending = Pending::new();
    let mut next = partition.log_start_offset();
    let end = partition.log_end_offset();
    while next < end {
        let chunk = partition
            .read(next, REPLAY_CHUNK)
            .map_err(|source| OffsetStoreError::Log {
                offset: next,
                source,
            })?;
        if chunk.is_empty() {
            break;
        }
        let before = next;
        for batch in record_batch::split_batches(&chunk) {
            let Some(after) = apply_batch(&mut map, &mut pending, batch) else {
                break;
            };
            next = next.max(after);
        }
        if next == before {
            // The log handed back bytes we could not walk; stop rather than loop forever.
            tracing::warn!("{OFFSETS_TOPIC}-0: replay stopped at offset {next} (unreadable batch)");
            break;
        }
    }
    Ok((map, pending))
}

/// Applies one stored batch of `__consumer_offsets` to `map`: the replay step, shared
/// with `inspect groups`, which feeds it the batches of the segment files it reads.
/// Returns the offset after the batch (saturating at `i64::MAX`: the bytes come from a
/// file, so any offset can be there), or `None` when the bytes are not a batch header.
pub fn apply_batch(
    map: &mut BTreeMap<OffsetKey, CommittedOffset>,
    pending: &mut Pending,
    batch: &[u8],
) -> Option<i64> {
    let header = BatchHeader::parse(batch).ok()?;
    if header.is_control() {
        // A transaction's end: its commits become visible, or are dropped.
        if let Some(m) = marker_of(batch) {
            let done = pending.remove(&header.producer_id).unwrap_or_default();
            if m.commit {
                map.extend(done);
            }
        }
        return Some(header.last_offset().saturating_add(1));
    }
    match record::records(batch) {
        Ok(records) if header.is_transactional() => {
            let open = pending.entry(header.producer_id).or_default();
            for rec in records {
                let mut one = BTreeMap::new();
                apply_record(&mut one, rec.offset, rec.key, rec.value);
                open.extend(one);
            }
        }
        Ok(records) => {
            for rec in records {
                apply_record(map, rec.offset, rec.key, rec.value);
            }
        }
        Err(e) => tracing::warn!(
            "{OFFSETS_TOPIC}-0: skipping undecodable batch at offset {}: {e}",
            header.base_offset
        ),
    }
    Some(header.last_offset().saturating_add(1))
}

fn apply_record(
    map: &mut BTreeMap<OffsetKey, CommittedOffset>,
    offset: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
) {
    let Some(key) = key.and_then(|k| decode_key(k).ok()) else {
        tracing::debug!("{OFFSETS_TOPIC}-0: offset {offset}: not an offset-commit key, skipped");
        return;
    };
    match value {
        None => {
            map.remove(&key);
        }
        Some(v) => match decode_value(v) {
            Ok(value) => {
                map.insert(key, value);
            }
            Err(reason) => tracing::warn!(
                "{OFFSETS_TOPIC}-0: offset {offset}: bad value for {key:?}: {reason}; skipped"
            ),
        },
    }
}

/// One transactional batch of `records` (key, value) from `producer_id` at `epoch`, as
/// the group coordinator writes a TxnOffsetCommit (no sequence: the broker writes it).
fn transactional_batch(
    records: &[(Bytes, Bytes)],
    producer_id: i64,
    epoch: i16,
    now: i64,
) -> Result<Bytes, LogError> {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(k.clone()),
            value: Some(v.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: kafka_protocol::records::Compression::None,
        },
    )
    .map_err(|e| {
        LogError::InvalidBatch(crate::log::BatchError::InvalidRecords(format!(
            "cannot encode transactional offset commits: {e}"
        )))
    })?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_foreign_records_are_errors_not_panics() {
        assert!(decode_key(Bytes::from_static(&[0, 2, 0, 1, b'g'])).is_err());
        assert!(decode_key(Bytes::from_static(&[0, 1, 0, 9, b'g'])).is_err());
        assert!(decode_value(Bytes::from_static(&[0, 3, 0])).is_err());
        let mut map = BTreeMap::new();
        apply_record(&mut map, 0, Some(Bytes::from_static(&[0xff])), None);
        assert!(map.is_empty());
    }

    /// Found by the `offsets_records` fuzz target (`fuzz/regressions/`): a batch whose
    /// last offset is `i64::MAX` overflowed "the offset after it" and panicked.
    #[test]
    fn a_batch_at_the_last_offset_does_not_overflow() {
        let key = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        };
        let mut batch = record::build(
            &[NewRecord {
                key: Some(encode_key(&key)),
                value: None,
                headers: Vec::new(),
                timestamp: 0,
            }],
            0,
            Compression::None,
        );
        record_batch::set_base_offset(&mut batch, i64::MAX);
        let mut map = BTreeMap::new();
        assert_eq!(
            apply_batch(&mut map, &mut Pending::new(), &batch),
            Some(i64::MAX)
        );
    }

    #[test]
    fn tombstone_removes_the_offset() {
        let key = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        };
        let value = CommittedOffset {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
        };
        let mut map = BTreeMap::new();
        apply_record(
            &mut map,
            0,
            Some(encode_key(&key)),
            Some(encode_value(&value)),
        );
        assert_eq!(map.get(&key), Some(&value));
        apply_record(&mut map, 1, Some(encode_key(&key)), None);
        assert!(map.is_empty());
    }
}
