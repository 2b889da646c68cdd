//! One partition, and the only way into its log.
//!
//! Flow: producer → wire → server → protocol → **`Partition::append`** → partition log
//! → segment; consumer ← fetch ← **`Partition::read`** (waiting on
//! [`Partition::subscribe`] for the next append); ListOffsets asks
//! [`Partition::log_start_offset`], [`Partition::high_watermark`] and
//! [`Partition::offset_for_timestamp`]; the group coordinator appends and replays
//! `__consumer_offsets` the same way.
//!
//! What must stay true:
//! - Nothing outside this file touches the `PartitionLog`: every append goes through
//!   [`Partition::append`], so every append wakes the fetches waiting on this partition.
//! - The value on the `appended` channel is the log end offset after the latest append
//!   (or truncation); it only moves forward on append.
//! - Every method here may do blocking file I/O (they lock the log, and append and read
//!   touch files): call them from `spawn_blocking`, except the offset getters, which
//!   only take the log's short-held lock, and an append that
//!   [`Partition::append_may_block`] says is a write into the page cache.

use std::path::Path;

use tokio::sync::watch;

use crate::config::LogConfig;
use crate::events::Events;
use crate::log::partition_log::{CleanReport, SegmentInfo};
use crate::log::{AppendInfo, FileSlice, LogError, PartitionLog};

/// One partition: its log plus a way to wake long-polling fetches.
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: PartitionLog,
    /// Holds the log end offset after each append; Fetch waits on it.
    appended: watch::Sender<i64>,
}

impl Partition {
    /// Opens (or creates) `<data_dir>/<topic>-<index>/`, recovering it if needed; its
    /// log records rolls and retention deletions in `events` (the broker's ring).
    pub(super) fn open(
        data_dir: &Path,
        topic: &str,
        index: i32,
        config: LogConfig,
        events: Events,
    ) -> Result<Partition, LogError> {
        let log = PartitionLog::open(&data_dir.join(format!("{topic}-{index}")), config)?
            .with_events(events);
        let (appended, _) = watch::channel(log.log_end_offset());
        Ok(Partition {
            topic: topic.to_string(),
            index,
            log,
            appended,
        })
    }

    /// `<topic>-<partition>`, the directory name and Kafka's TopicPartition string.
    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.index)
    }

    /// Appends the batches in `records` (one or more, back to back, as in a Produce
    /// request: all are stored or none, see `PartitionLog::append`) and wakes the
    /// fetches waiting on [`subscribe`](Self::subscribe). Under a topic
    /// `compression.type` other than `producer`, batches in another codec are first
    /// written again in the topic's (`record::recompress`). Blocking.
    pub fn append(&self, records: &[u8]) -> Result<AppendInfo, LogError> {
        let config = self.log.config();
        let recompressed = match config.compression {
            Some(target) => {
                crate::log::record::recompress(records, target, config.max_message_bytes as usize)
                    .map_err(LogError::InvalidBatch)?
            }
            None => None,
        };
        let info = match recompressed {
            Some(batch) => self.log.append(&batch)?,
            None => self.log.append(records)?,
        };
        let end = info.last_offset + 1;
        self.appended.send_if_modified(|v| {
            let newer = end > *v;
            if newer {
                *v = end;
            }
            newer
        });
        Ok(info)
    }

    /// Appends batches the broker writes for a producer (transactional offset commits;
    /// `PartitionLog::append_for_producer`) and wakes the fetches. Blocking.
    pub fn append_for_producer(&self, records: &[u8]) -> Result<AppendInfo, LogError> {
        let info = self.log.append_for_producer(records)?;
        self.appended.send_replace(self.log.log_end_offset());
        Ok(info)
    }

    /// Appends the COMMIT or ABORT marker ending `producer_id`'s transaction here (the
    /// transaction coordinator's write, `PartitionLog::append_marker`) and wakes the
    /// fetches waiting on this partition: a `read_committed` one may now read on.
    /// Blocking.
    pub fn append_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        marker: crate::log::control_batch::Marker,
    ) -> Result<AppendInfo, LogError> {
        let info = self.log.append_marker(producer_id, epoch, marker)?;
        self.appended.send_replace(self.log.log_end_offset());
        Ok(info)
    }

    /// The last stable offset: below it, every transaction has ended, so a
    /// `read_committed` consumer may read up to it (the log end offset when no
    /// transaction is open here).
    pub fn last_stable_offset(&self) -> i64 {
        self.log.last_stable_offset()
    }

    /// The batches from `offset` that a `read_committed` read may return (ending below
    /// `upto`, the LSO), with the offset just past them (`PartitionLog::slice_upto`).
    /// Blocking.
    pub fn slice_upto(
        &self,
        offset: i64,
        max_bytes: usize,
        upto: i64,
    ) -> Result<Option<(FileSlice, i64)>, LogError> {
        self.log.slice_upto(offset, max_bytes, upto)
    }

    /// The aborted transactions overlapping `[fetch_offset, upper)`, as (producer id,
    /// first offset): what a `read_committed` Fetch reports with its records.
    pub fn aborted_between(&self, fetch_offset: i64, upper: i64) -> Vec<(i64, i64)> {
        self.log.aborted_between(fetch_offset, upper)
    }

    /// The newest `limit` aborted transactions still in the log (`txn_index.rs`).
    pub fn aborted_transactions(&self, limit: usize) -> Vec<crate::log::txn_index::AbortedTxn> {
        self.log.aborted_transactions(limit)
    }

    /// Whether appending `len` bytes may take long: it may wait on the disk (an fsync,
    /// or a roll; see `PartitionLog::append_may_block`), or the topic's
    /// `compression.type` may have the batches decompressed and compressed again.
    /// Produce runs the other appends inline.
    pub fn append_may_block(&self, len: usize) -> bool {
        self.log.config().compression.is_some() || self.log.append_may_block(len)
    }

    /// Whole stored batches from the one holding `offset`, up to `max_bytes` but at
    /// least one (see `PartitionLog::read`). Blocking.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        self.log.read(offset, max_bytes)
    }

    /// The batches [`read`](Self::read) would return, as a range of a segment file
    /// (`None` at the log end), for Fetch to send without copying. Blocking.
    pub fn slice(&self, offset: i64, max_bytes: usize) -> Result<Option<FileSlice>, LogError> {
        self.log.slice(offset, max_bytes)
    }

    /// A receiver that sees the log end offset change after every append. Subscribe
    /// *before* reading, so an append that lands after the read still wakes you.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }

    /// The first offset still in the log (retention moves it forward).
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// The offset up to which consumers may read. With one replica every record is
    /// committed once written, so this is the log end offset (and, with no
    /// transactions, also the last stable offset).
    pub fn high_watermark(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// The first offset whose record timestamp is ≥ `ts`, with that timestamp; `None`
    /// when no record is that new. Blocking.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.log.offset_for_timestamp(ts)
    }

    /// The offset and timestamp of the record with the largest timestamp (the first
    /// such record); `None` on an empty log. Blocking.
    pub fn offset_of_max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.log.offset_of_max_timestamp()
    }

    /// DeleteRecords: moves the log start offset to `offset` and deletes the segments
    /// wholly below it (see `PartitionLog::delete_records`); returns the new log start
    /// offset. Blocking.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        self.log.delete_records(offset)
    }

    /// Truncates the log (see `PartitionLog::truncate_to`) and publishes the new end.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.log.truncate_to(offset)?;
        self.appended.send_replace(self.log.log_end_offset());
        Ok(())
    }

    /// The log settings in force (broker defaults + topic config).
    pub fn config(&self) -> std::sync::Arc<LogConfig> {
        self.log.config()
    }

    /// Replaces the log settings (AlterConfigs, through `Topics::alter_config`): the
    /// next append, roll and retention check use them.
    pub(super) fn set_config(&self, config: LogConfig) {
        self.log.set_config(config);
    }

    /// One summary per segment, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.log.segments()
    }

    /// Total bytes of all segments.
    pub fn size(&self) -> u64 {
        self.log.size()
    }

    /// The partition directory.
    pub(super) fn dir(&self) -> &Path {
        self.log.dir()
    }

    /// Applies `retention.ms` / `retention.bytes`; returns how many segments went.
    pub(super) fn apply_retention(&self) -> Result<usize, LogError> {
        self.log.apply_retention()
    }

    /// Forgets the idempotent producers idle for `expiration_ms` at `now_ms`
    /// (`PartitionLog::expire_producers`).
    pub(super) fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.log.expire_producers(now_ms, expiration_ms)
    }

    /// What this partition knows of each idempotent producer (DescribeProducers,
    /// tests): a copy.
    pub fn producers(&self) -> crate::log::producer_state::ProducerStateTable {
        self.log.producers()
    }

    /// One pass of the log cleaner (`cleanup.policy=compact`; otherwise nothing).
    pub fn clean(&self) -> Result<Option<CleanReport>, LogError> {
        self.log.clean()
    }

    /// The last cleaning pass that rewrote segments, since the broker started.
    pub fn last_clean(&self) -> Option<CleanReport> {
        self.log.last_clean()
    }

    /// `sync_data` on the active segment (for `--fsync <ms>`).
    pub(super) fn sync(&self) -> Result<(), LogError> {
        self.log.sync()
    }

    /// Clean shutdown of this partition's log: sync, trim, clean-shutdown marker.
    pub(super) fn close(&self) -> Result<(), LogError> {
        self.log.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{build, NewRecord};
    use crate::log::record_batch::Compression;

    fn one_batch() -> Vec<u8> {
        build(&[NewRecord::default()], 0, Compression::None)
    }

    #[test]
    fn append_wakes_subscribers_and_offsets_follow() {
        let dir = tempfile::tempdir().unwrap();
        let p =
            Partition::open(dir.path(), "t", 0, LogConfig::default(), Events::default()).unwrap();
        assert_eq!(p.name(), "t-0");
        let mut rx = p.subscribe();
        let two = [one_batch(), one_batch()].concat();
        let info = p.append(&two).unwrap();
        assert_eq!(
            (info.base_offset, info.last_offset, info.batch_count),
            (0, 1, 2)
        );
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 2);
        assert_eq!((p.log_start_offset(), p.high_watermark()), (0, 2));
        let stored = crate::log::partition_log::as_stored(&two, 0);
        assert_eq!(p.read(1, 1).unwrap(), stored[two.len() / 2..]);
        // A rejected append stores nothing and wakes no one.
        let mut bad = one_batch();
        bad[16] = 1;
        assert!(p.append(&bad).is_err());
        assert!(!rx.has_changed().unwrap());
        assert_eq!(p.log_end_offset(), 2);
        p.truncate_to(1).unwrap();
        assert_eq!(*rx.borrow_and_update(), 1);
    }

    /// `cleanup.policy=compact`: a batch with a key-less record is refused whole, nothing
    /// stored and no one woken; keyed batches go in. A topic altered to compact
    /// (`set_config`) refuses from its next append, and under `compression.type` too.
    #[test]
    fn a_compacted_partition_refuses_keyless_records() {
        let dir = tempfile::tempdir().unwrap();
        let p =
            Partition::open(dir.path(), "t", 0, LogConfig::default(), Events::default()).unwrap();
        let keyed = NewRecord {
            key: Some(bytes::Bytes::from_static(b"k")),
            ..NewRecord::default()
        };
        let mixed = || build(&[keyed.clone(), NewRecord::default()], 0, Compression::None);
        p.append(&mixed()).unwrap();
        assert_eq!(p.log_end_offset(), 2, "not compacted: accepted");

        let compact = |compression| LogConfig {
            compact: true,
            compression,
            ..LogConfig::default()
        };
        p.set_config(compact(None));
        let rx = p.subscribe();
        let e = p.append(&mixed()).unwrap_err();
        assert!(
            matches!(&e, LogError::InvalidBatch(crate::log::BatchError::KeylessRecords { indexes, .. }) if indexes == &[1]),
            "{e}"
        );
        assert_eq!(p.log_end_offset(), 2, "nothing stored");
        assert!(!rx.has_changed().unwrap());
        let two = [
            build(std::slice::from_ref(&keyed), 0, Compression::None),
            mixed(),
        ]
        .concat();
        assert!(
            p.append(&two).is_err(),
            "the keyed first batch is not stored either"
        );
        assert_eq!(p.log_end_offset(), 2);
        p.append(&build(std::slice::from_ref(&keyed), 0, Compression::Gzip))
            .unwrap();
        assert_eq!(p.log_end_offset(), 3);

        // The batch the topic's codec writes again is checked too.
        p.set_config(compact(Some(Compression::Lz4)));
        assert!(p.append(&mixed()).is_err());
        assert_eq!(p.log_end_offset(), 3);
    }
}
