//! Appending to a partition log: the path of a produced batch onto the disk.
//!
//! `PartitionLog::append` frames the request's bytes once, validates every batch once
//! and runs the producer checks (`producer_state.rs`), all before anything is written;
//! then, under the partition lock, each batch gets its offsets and the leader epoch in
//! a copy of its header, `maybe_roll` starts a new segment when the active one is full
//! or old, and the segment writes header and records. The fsync policy is followed
//! after the lock is released (group commit, `durability.rs`).
//!
//! What must stay true:
//! - One refused batch refuses the whole request: nothing is written before every batch
//!   has passed its checks.
//! - A producer's retry of a batch already written is answered with the original
//!   offsets and writes nothing.
//! - A roll seals, trims and syncs the old segment before the new one takes appends, and
//!   moves the recovery point to the new segment's base.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::LEADER_EPOCH;
use super::{file_name_of, now_ms, stamp_leader_epoch, AppendInfo, Inner, PartitionLog};
use crate::config::FsyncPolicy;
use crate::events::EventKind;
use crate::log::control_batch::{self, Marker};
use crate::log::lazy_segment::LazySegment;
use crate::log::producer_state::{ProducerError, Verdict};
use crate::log::record_batch::{self, set_base_offset, BatchError, BatchHeader, HEADER_LEN};
use crate::log::recovery;
use crate::log::segment::Segment;
use crate::log::storage;
use crate::log::LogError;

impl PartitionLog {
    /// Appends the v2 batches in `records` (one or more, back to back: the `records`
    /// field of a Produce request) and follows the fsync policy before returning.
    ///
    /// `records` is framed once ([`record_batch::split_exact`]: every byte must belong
    /// to a whole batch) and each batch is validated once ([`record_batch::validate_for`];
    /// on a compacted topic every record must have a key), all before the lock is taken
    /// and before anything is written, so a bad batch rejects the whole set. Then, under
    /// the lock, each batch gets the next offset as its base offset and the leader epoch
    /// 0 (both outside the CRC), written into a copy of its header; the header and the
    /// untouched records go to the active segment together, and `records` itself is not
    /// changed ([`as_stored`] gives what was written). The returned info spans all of
    /// them: the first base offset, the last offset, the total record count, and the
    /// position of the first batch.
    ///
    /// On a full disk (ENOSPC) nothing of the failing batch stays (the segment cuts
    /// back its partial write, the roll that could not allocate leaves the old segment
    /// active), the error is returned (Produce answers KAFKA_STORAGE_ERROR), and one
    /// log line says so; the first append that succeeds again says so too. No restart
    /// is needed: the next append simply tries again.
    pub fn append(&self, records: &[u8]) -> Result<AppendInfo, LogError> {
        self.append_from(records, Origin::Client)
    }

    /// Appends batches the broker itself writes for a producer (the group coordinator's
    /// transactional offset commits in `__consumer_offsets`): no sequence check, but an
    /// epoch older than the producer's is INVALID_PRODUCER_EPOCH, and a transactional
    /// batch opens the producer's transaction here as a client's does.
    pub fn append_for_producer(&self, records: &[u8]) -> Result<AppendInfo, LogError> {
        self.append_from(records, Origin::Coordinator)
    }

    /// Appends the COMMIT or ABORT marker that ends `producer_id`'s transaction here
    /// (`control_batch.rs`), as the transaction coordinator asks: no sequence check,
    /// but a marker from an epoch older than the producer's is INVALID_PRODUCER_EPOCH.
    /// The producer's transaction closes, the last stable offset moves on, and an
    /// ABORT goes into the aborted-transaction index (`txn_index.rs`).
    pub fn append_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        marker: Marker,
    ) -> Result<AppendInfo, LogError> {
        let batch = control_batch::marker_batch(producer_id, epoch, marker, now_ms())?;
        self.append_from(&batch, Origin::Marker(marker))
    }

    /// [`append`](Self::append), [`append_for_producer`](Self::append_for_producer) or
    /// [`append_marker`](Self::append_marker), with the disk-full report.
    fn append_from(&self, records: &[u8], origin: Origin) -> Result<AppendInfo, LogError> {
        let result = self.append_batches(records, origin);
        match &result {
            Err(e) if e.is_no_space() && !self.disk_full.swap(true, Ordering::Relaxed) => {
                tracing::error!(
                    "{}: the disk is full ({e}): appends to this partition fail with \
                     KAFKA_STORAGE_ERROR until space is freed; what it holds is intact and \
                     still served",
                    self.dir.display()
                );
            }
            // One load on the hot path; the swap only after a full disk.
            Ok(_)
                if self.disk_full.load(Ordering::Relaxed)
                    && self.disk_full.swap(false, Ordering::Relaxed) =>
            {
                tracing::info!(
                    "{}: appends succeed again: the disk has space",
                    self.dir.display()
                );
            }
            _ => {}
        }
        result
    }

    /// Records that an fsync failed (see the `sync_failed` field for why), with
    /// one log line, and hands the error back.
    pub(super) fn sync_failed(&self, e: LogError) -> LogError {
        if !self.sync_failed.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "{}: fsync failed ({e}): what was written may not be on disk, so this \
                 partition refuses appends (KAFKA_STORAGE_ERROR) until the broker restarts \
                 and recovery checks its files; reads go on",
                self.dir.display()
            );
        }
        e
    }

    /// [`append_from`](Self::append_from) without the disk-full report.
    fn append_batches(&self, records: &[u8], origin: Origin) -> Result<AppendInfo, LogError> {
        if self.sync_failed.load(Ordering::Relaxed) {
            return Err(LogError::io(
                &self.dir,
                std::io::Error::other(
                    "an earlier fsync of this partition failed; appends are refused until \
                     the broker restarts",
                ),
            ));
        }
        // One look at the settings per append (AlterConfigs may swap them meanwhile).
        let config = self.config();
        let max = config.max_message_bytes as usize;
        let batches = record_batch::split_exact(records)?
            .into_iter()
            .map(|range| {
                let batch = &records[range.clone()];
                Ok((
                    record_batch::validate_for(batch, max, config.compact)?,
                    range,
                ))
            })
            .collect::<Result<Vec<_>, BatchError>>()?;
        let (info, seq) = {
            let mut inner = self.lock();
            let verdicts = match origin {
                Origin::Client => check_producers(&inner, &batches)?,
                Origin::Coordinator | Origin::Marker(_) => check_epochs(&inner, &batches)?,
            };
            self.open_for_changes(&mut inner)?;
            let mut info: Option<AppendInfo> = None;
            for ((mut h, range), verdict) in batches.into_iter().zip(verdicts) {
                if let Verdict::Duplicate(original) = verdict {
                    // A retry of a batch already written: answer where it went.
                    let dup = AppendInfo {
                        base_offset: original.first_offset,
                        last_offset: original.last_offset,
                        record_count: h.record_count,
                        batch_count: 1,
                        segment_base: -1,
                        position: 0,
                        log_start_offset: inner.log_start_offset,
                        log_append_time: original.timestamp,
                        duplicate: true,
                    };
                    info = Some(info.map_or(dup, |first| AppendInfo {
                        record_count: first.record_count + h.record_count,
                        batch_count: first.batch_count + 1,
                        ..first
                    }));
                    continue;
                }
                let batch = &records[range];
                self.maybe_roll(&mut inner, &h, batch.len())?;
                let base = inner.log_end_offset();
                // What the broker writes into a batch (base offset, leader epoch, and
                // with LogAppendTime the timestamp and CRC) is all in its 61-byte
                // header: the header is patched in a copy, and the records after it go
                // to the file as they came, without being copied.
                let (head, body) = batch.split_at(HEADER_LEN);
                let mut head: [u8; HEADER_LEN] = head.try_into().map_err(|_| {
                    BatchError::InvalidRecords("a batch shorter than its header".into())
                })?;
                set_base_offset(&mut head, base);
                h.base_offset = base;
                stamp_leader_epoch(&mut head);
                h.partition_leader_epoch = LEADER_EPOCH;
                let log_append_time = if config.log_append_time {
                    // The new maxTimestamp is under the CRC, which covers the records.
                    let now = now_ms();
                    let mut whole = [&head[..], body].concat();
                    record_batch::set_log_append_time(&mut whole, now);
                    head.copy_from_slice(&whole[..HEADER_LEN]);
                    h = BatchHeader::parse(&whole)?;
                    now
                } else {
                    // A batch whose stated maxTimestamp is not its records' largest
                    // timestamp (`validate_for` computed that one into `h`) is stored
                    // with the right one and a new CRC, as Kafka's LogValidator does.
                    let stated = i64::from_be_bytes(
                        head[record_batch::MAX_TIMESTAMP]
                            .try_into()
                            .map_err(|_| BatchError::InvalidRecords("short header".into()))?,
                    );
                    if stated != h.max_timestamp {
                        let mut whole = [&head[..], body].concat();
                        record_batch::set_max_timestamp(&mut whole, h.max_timestamp);
                        head.copy_from_slice(&whole[..HEADER_LEN]);
                        h = BatchHeader::parse(&whole)?;
                    }
                    -1
                };
                let active = inner.active_mut();
                let entries_before = active.index().len();
                let position = active.append(&head, body, &h)?;
                let segment_base = active.base_offset();
                if config.explain {
                    self.explain_append(active, &h, position, entries_before);
                }
                match origin {
                    Origin::Client | Origin::Coordinator => inner.producers.apply_data(&h),
                    Origin::Marker(m) => self.record_marker(&mut inner, &h, m)?,
                }
                inner.written += batch.len() as u64;
                let log_start_offset = inner.log_start_offset;
                info = Some(match info {
                    None => AppendInfo {
                        base_offset: base,
                        last_offset: h.last_offset(),
                        record_count: h.record_count,
                        batch_count: 1,
                        segment_base,
                        position,
                        log_start_offset,
                        log_append_time,
                        duplicate: false,
                    },
                    Some(first) => AppendInfo {
                        last_offset: h.last_offset(),
                        record_count: first.record_count + h.record_count,
                        batch_count: first.batch_count + 1,
                        ..first
                    },
                });
            }
            (info, inner.written)
        };
        if config.fsync == FsyncPolicy::Always {
            self.commit.wait_synced(seq, || {
                let (file, covered, path) = {
                    let inner = self.lock();
                    let a = inner.active();
                    (a.file().clone(), inner.written, a.path().to_path_buf())
                };
                storage::sync_data(&file, &path)
                    .map_err(|e| self.sync_failed(LogError::io(&path, e)))?;
                if config.explain {
                    self.explain_fsync("PartitionLog::append", &path, covered);
                }
                Ok(covered)
            })?;
        }
        info.ok_or_else(|| BatchError::InvalidRecords("no record batch given".into()).into())
    }

    /// Whether an append of `len` bytes may wait on the disk: it syncs before returning
    /// (`fsync=always`), or it may roll the active segment (a roll syncs the old one).
    /// Any other append is a write into the page cache, which takes microseconds: the
    /// protocol layer runs those on its own thread instead of handing them to the
    /// blocking pool, whose two thread switches would cost more than the write.
    pub fn append_may_block(&self, len: usize) -> bool {
        let config = self.config();
        if config.fsync == FsyncPolicy::Always {
            return true;
        }
        let inner = self.lock();
        if inner.closed {
            return true;
        }
        let active = inner.active();
        let old = config.segment_ms.is_some_and(|ms| {
            SystemTime::now()
                .duration_since(active.created)
                .map_or(true, |age| age + Duration::from_secs(1) >= ms)
        });
        active.size() + len as u64 > config.segment_bytes
            || active.index().is_full()
            || active.time_index().is_full()
            || old
    }

    /// The explain line of one appended batch (explain mode only).
    fn explain_append(&self, seg: &Segment, h: &BatchHeader, position: u64, entries_before: usize) {
        let index = match seg.index().last() {
            Some(e) if seg.index().len() > entries_before => format!(
                "index entry (rel {} → {}) added",
                e.relative_offset, e.position
            ),
            _ => format!(
                "no index entry (one every index.interval.bytes = {})",
                self.config().index_interval_bytes
            ),
        };
        crate::explain::line(
            "log/partition_log/append.rs PartitionLog::append",
            format_args!(
                "{} batch of {} at {} → segment {} position {position}, {} bytes; {index}",
                crate::explain::partition_name(&self.dir),
                crate::explain::count(h.record_count, "record"),
                crate::explain::offsets(h.base_offset, h.last_offset()),
                file_name_of(seg.path()),
                h.total_len(),
            ),
        );
    }

    /// The explain line of one fsync (explain mode only).
    pub(super) fn explain_fsync(&self, function: &str, path: &Path, covered: u64) {
        crate::explain::line(
            &format!("log/partition_log/append.rs {function}"),
            format_args!(
                "{} fsync (sync_data) of {}: the first {covered} bytes appended since open are on disk",
                crate::explain::partition_name(&self.dir),
                file_name_of(path),
            ),
        );
    }

    /// Rolls to a new active segment when this batch would overflow `segment.bytes`,
    /// the index is full, the segment is older than `segment.ms`, or offsets/positions
    /// would not fit the index's u32 fields. The old segment is trimmed and synced,
    /// and the recovery point moves to the new segment.
    fn maybe_roll(&self, inner: &mut Inner, h: &BatchHeader, len: usize) -> Result<(), LogError> {
        let config = self.config();
        let next = inner.log_end_offset();
        let active = inner.active();
        if active.size() == 0 {
            return Ok(());
        }
        let mut as_stored = *h;
        as_stored.base_offset = next;
        let too_old = config.segment_ms.is_some_and(|ms| {
            SystemTime::now()
                .duration_since(active.created)
                .is_ok_and(|age| age >= ms)
        });
        let why = if active.size() + len as u64 > config.segment_bytes {
            "segment.bytes reached"
        } else if active.index().is_full() || active.time_index().is_full() {
            "an index is full"
        } else if too_old {
            "older than segment.ms"
        } else if active.cannot_hold(&as_stored, len) {
            "offsets or positions would overflow the index"
        } else {
            return Ok(());
        };
        let old = inner.active_mut();
        old.seal()?;
        old.sync().map_err(|e| self.sync_failed(e))?;
        // A file left under the new name (say, by a failed delete) holds nothing valid.
        for ext in ["log", "index", "timeindex"] {
            let stale = self.dir.join(crate::log::segment::file_name(next, ext));
            match std::fs::remove_file(&stale) {
                Ok(()) => tracing::warn!("removed stale {} before rolling", stale.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(stale, e)),
            }
        }
        let seg = match Segment::open(
            &self.dir,
            next,
            config.index_interval_bytes,
            Some(config.max_index_bytes),
        ) {
            Ok(seg) => seg,
            Err(e) => {
                // A full disk cannot hold the new segment's preallocated indexes: the
                // old segment stays active (sealed: its index is full, so the next
                // append tries the roll again) and nothing of the new one is left.
                for ext in ["log", "index", "timeindex"] {
                    let path = self.dir.join(crate::log::segment::file_name(next, ext));
                    storage::forget(&path);
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        };
        let old = inner.active();
        let text = format!(
            "{}: rolled segment {} ({}, {} bytes; {}; its index trimmed, both fsynced) → new active segment {}",
            crate::explain::partition_name(&self.dir),
            file_name_of(old.path()),
            crate::explain::offsets(old.base_offset(), next - 1),
            old.size(),
            why,
            file_name_of(seg.path()),
        );
        crate::explain::always(
            config.explain,
            "log/partition_log/append.rs PartitionLog::maybe_roll",
            format_args!("{text}"),
        );
        self.events.record(EventKind::SegmentRolled, text);
        let old = std::mem::replace(&mut inner.active, seg);
        inner.sealed.push(LazySegment::open(old));
        // The producer state as of the new segment's base (Kafka snapshots at a roll).
        self.snapshot_producers(inner);
        recovery::write_recovery_point(&self.dir, next)?;
        self.commit.mark_synced(inner.written);
        Ok(())
    }
}

/// The producer checks of one append (`producer_state.rs`), in order, before anything
/// is written: each batch as if it got the next offsets, the earlier ones of the same
/// request included. One refusal refuses them all.
fn check_producers(
    inner: &Inner,
    batches: &[(BatchHeader, std::ops::Range<usize>)],
) -> Result<Vec<Verdict>, LogError> {
    let mut scratch = std::collections::HashMap::new();
    let mut next = inner.log_end_offset();
    let mut out = Vec::with_capacity(batches.len());
    for (h, _) in batches {
        let mut at = *h;
        at.base_offset = next;
        let verdict = inner.producers.check(&mut scratch, &at)?;
        if !matches!(verdict, Verdict::Duplicate(_)) {
            next = at.last_offset() + 1;
        }
        out.push(verdict);
    }
    Ok(out)
}

/// Who wrote the batches of an append, which decides what is checked.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// A Produce request: the producer-state checks of `producer_state.rs`.
    Client,
    /// The broker, for a producer (transactional offset commits): the epoch only.
    Coordinator,
    /// The transaction coordinator's COMMIT or ABORT marker: the epoch only.
    Marker(Marker),
}

/// The check of what a coordinator writes: its epoch may not be older than the
/// producer's (a zombie's, or a fenced transaction's).
fn check_epochs(
    inner: &Inner,
    batches: &[(BatchHeader, std::ops::Range<usize>)],
) -> Result<Vec<Verdict>, LogError> {
    for (h, _) in batches {
        if let Some(e) = inner.producers.get(h.producer_id) {
            if h.producer_epoch < e.epoch {
                return Err(ProducerError::InvalidEpoch {
                    producer_id: h.producer_id,
                    epoch: h.producer_epoch,
                    current: e.epoch,
                }
                .into());
            }
        }
    }
    Ok(vec![Verdict::Append; batches.len()])
}
