//! Removing records from a partition log: truncation, DeleteRecords and retention.
//!
//! What must stay true:
//! - Whole segments are deleted, oldest first, and never the active one (truncation
//!   instead cuts the segment holding the offset and makes it the active one).
//! - `log_start_offset` never goes back: DeleteRecords stores it (`log_start.rs`) before
//!   deleting anything, and retention moves it to the oldest segment left.
//! - Each change first removes the clean-shutdown marker (`open_for_changes`), and the
//!   producer state is trimmed (or, after a truncation, rebuilt) to match.

use std::time::UNIX_EPOCH;

use super::{file_name_of, now_ms, PartitionLog};
use crate::events::EventKind;
use crate::log::lazy_segment::LazySegment;
use crate::log::recovery;
use crate::log::LogError;

impl PartitionLog {
    /// Drops every record at `offset` and after. A batch is the unit of storage, so the
    /// whole batch holding `offset` goes: the log end offset becomes that batch's base
    /// offset. `offset >= log_end_offset` does nothing; below `log_start_offset` is an
    /// `OffsetOutOfRange` error.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let mut inner = self.lock();
        let (log_start, log_end) = (inner.log_start_offset, inner.log_end_offset());
        if offset >= log_end {
            return Ok(());
        }
        if offset < log_start {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        self.open_for_changes(&mut inner)?;
        let keep = inner.segment_for(offset);
        if keep < inner.sealed.len() {
            // The sealed segment holding `offset` becomes the active one; the segments
            // after it go, the newest first.
            let interval = self.config().index_interval_bytes;
            inner.sealed[keep].get(interval)?;
            let later: Vec<LazySegment> = inner.sealed.drain(keep + 1..).collect();
            if let Some(kept) = inner.sealed.pop() {
                let old = std::mem::replace(&mut inner.active, kept.into_open(interval)?);
                old.delete()?;
            }
            for seg in later.into_iter().rev() {
                seg.delete()?;
            }
        }
        let seg = inner.active_mut();
        if let Some((pos, h)) = seg.find(offset)? {
            seg.truncate(pos, h.base_offset)?;
        }
        seg.preallocate_indexes(self.config().max_index_bytes)?;
        seg.sync()?;
        let base = seg.base_offset();
        recovery::write_recovery_point(&self.dir, base)?;
        self.reload_producers(&mut inner)?;
        let text = format!(
            "{}: truncated to offset {} (asked for {offset})",
            self.dir.display(),
            inner.log_end_offset()
        );
        tracing::info!("{text}");
        self.events.record(EventKind::Truncated, text);
        Ok(())
    }

    /// DeleteRecords: moves the log start offset forward to `offset` (records below it
    /// are gone for consumers at once), stores it (`log_start.rs`), then deletes the
    /// segments wholly below it, never the active one. `offset` past the log end offset
    /// is `OffsetOutOfRange`; at or below the log start it changes nothing. Returns the
    /// log start offset (Kafka's "low watermark").
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let mut inner = self.lock();
        let (log_start, log_end) = (inner.log_start_offset, inner.log_end_offset());
        if offset > log_end || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        if offset <= log_start {
            return Ok(log_start);
        }
        self.open_for_changes(&mut inner)?;
        crate::log::log_start::write(&self.dir, offset)?;
        inner.log_start_offset = offset;
        let mut deleted = Vec::new();
        let interval = self.config().index_interval_bytes;
        while !inner.sealed.is_empty() {
            // Wholly below `offset` if the next segment starts at or below it (no need
            // to open it), or else if its own end is.
            let next_base = inner
                .sealed
                .get(1)
                .map_or(inner.active.base_offset(), LazySegment::base_offset);
            if next_base > offset && inner.sealed[0].get(interval)?.next_offset() > offset {
                break;
            }
            let seg = inner.sealed.remove(0);
            deleted.push(file_name_of(&seg.path()).into_owned());
            seg.delete()?;
        }
        self.trim_producers(&mut inner);
        let text = format!(
            "{}: DeleteRecords moved the log start offset from {log_start} to {offset}; {}",
            crate::explain::partition_name(&self.dir),
            if deleted.is_empty() {
                "no segment lies wholly below it".to_string()
            } else {
                format!("deleted {}", deleted.join(", "))
            }
        );
        crate::explain::always(
            self.config().explain,
            "log/partition_log/retention.rs PartitionLog::delete_records",
            format_args!("{text}"),
        );
        self.events.record(EventKind::SegmentDeleted, text);
        Ok(offset)
    }

    /// Applies `retention.bytes` / `retention.ms`; returns how many segments were deleted.
    /// Deletes whole segments from the oldest, never the active one; `retention.ms`
    /// compares against a segment's largest record timestamp (its file time when it has
    /// none), and `retention.bytes` deletes while the rest would still be at least that big.
    pub fn apply_retention(&self) -> Result<usize, LogError> {
        if !self.config().retention_deletes {
            return Ok(0); // cleanup.policy=compact: retention deletes nothing
        }
        let mut inner = self.lock();
        let now = now_ms();
        let interval = self.config().index_interval_bytes;
        let mut deleted = 0;
        // The bytes of every segment but the oldest (for `retention.bytes` only). Only
        // the oldest segment is opened: the others' sizes are one `stat` each, once.
        let mut rest = 0;
        if self.config().retention_bytes.is_some() {
            rest = inner.active.size();
            for seg in inner.sealed.iter().skip(1) {
                rest += seg.size()?;
            }
        }
        while !inner.sealed.is_empty() {
            let oldest = inner.sealed[0].get(interval)?;
            let by_bytes = self
                .config()
                .retention_bytes
                .is_some_and(|limit| rest >= limit);
            let by_time = match self.config().retention_ms {
                Some(ms) => {
                    let mut newest = oldest.max_timestamp()?;
                    if newest < 0 {
                        newest = std::fs::metadata(oldest.path())
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                            .map_or(now, |d| d.as_millis() as i64);
                    }
                    now.saturating_sub(newest) > ms.as_millis() as i64
                }
                None => false,
            };
            if !(by_bytes || by_time) {
                break;
            }
            self.open_for_changes(&mut inner)?;
            let seg = inner.sealed[0].get(interval)?;
            let (path, base, next, size) = (
                seg.path().to_path_buf(),
                seg.base_offset(),
                seg.next_offset(),
                seg.size(),
            );
            inner.sealed.remove(0).delete()?;
            deleted += 1;
            if let (Some(_), Some(next)) = (self.config().retention_bytes, inner.sealed.first()) {
                rest = rest.saturating_sub(next.size()?); // the next oldest
            }
            let first = inner.first_base();
            inner.log_start_offset = inner.log_start_offset.max(first);
            let text = format!(
                "retention: deleted {} ({}, {} bytes, by {}); log start offset is now {}",
                path.display(),
                crate::explain::offsets(base, next - 1),
                size,
                if by_bytes {
                    "retention.bytes"
                } else {
                    "retention.ms"
                },
                inner.log_start_offset,
            );
            crate::explain::always(
                self.config().explain,
                "log/partition_log/retention.rs PartitionLog::apply_retention",
                format_args!("{text}"),
            );
            self.events.record(EventKind::SegmentDeleted, text);
        }
        if deleted > 0 {
            self.trim_producers(&mut inner);
        }
        Ok(deleted)
    }
}
