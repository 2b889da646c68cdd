//! The log cleaner: compaction of a `cleanup.policy=compact` log, as Kafka's
//! `LogCleaner` does it. It keeps the latest record of each key and drops the older
//! ones, so a compacted topic holds (at least) the last value of every key forever.
//!
//! Flow: the server's cleaner timer (`server.rs: maintenance`, every
//! `--log-cleaner-backoff-ms`) → `Topics::clean` → `PartitionLog::clean`
//! (`partition_log/clean.rs`) → here: [`plan`] what to clean, build the [`offset_map`]
//! of the dirty part, rewrite the segments group by group ([`groups`],
//! [`clean_group`]), and swap the new files in ([`swap`]).
//!
//! # The words
//!
//! ```text
//!  log start                  cleaner checkpoint          first uncleanable   active
//!  |  clean (cleaned before)  |  dirty (not cleaned yet)  |  too young        |  being written
//!  [seg 0][seg 120]           [seg 300][seg 470]          [seg 600]          [seg 750 ...
//!  <--------------- cleanable: rewritten in this pass ---->
//! ```
//!
//! - The **active segment** is never cleaned, and neither is a segment whose newest
//!   record is younger than `min.compaction.lag.ms`: the first such segment is the
//!   **first uncleanable offset**.
//! - The **checkpoint** (file `cleaner-checkpoint` in the partition directory) is
//!   where the last pass stopped: what lies before it has been cleaned.
//! - A log is cleaned when its **dirty ratio** (dirty bytes / cleanable bytes) reaches
//!   `min.cleanable.dirty.ratio`, or when a tombstone's delete horizon has passed.
//!
//! # What must stay true
//!
//! - Offsets never change. A kept record keeps its offset; a batch keeps its
//!   baseOffset and lastOffsetDelta (`record.rs: rebuild`). Compacted segments have
//!   gaps; fetch, the indexes and recovery take offsets as increasing, not dense.
//! - A record is kept when no later record in the dirty part has its key
//!   ([`retains`]). A record without a key is dropped (Kafka drops it too: it cannot
//!   be produced to a compacted topic, but may remain from before a policy change).
//! - Tombstones (a key with a null value) stay at least `delete.retention.ms` after the
//!   cleaner first kept them: it writes the **delete horizon** (now +
//!   `delete.retention.ms`) into their batch (KIP-534: attribute bit 6, in the
//!   baseTimestamp), and a later pass after the horizon drops them.
//! - Control batches (transaction markers) are kept as they are.
//! - A crash leaves the old segments or the new one, never a mix ([`swap`]).

pub mod swap;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::record::{self, Record};
use super::record_batch::{check_frame, BatchHeader};
use super::segment::{BatchReader, ReadStep};
use super::LogError;
use crate::config::LogConfig;

/// The partition directory's file holding where the last cleaning pass stopped.
pub const CHECKPOINT_FILE: &str = "cleaner-checkpoint";

/// A sealed (not active) segment as the cleaner reads it: taken under the partition
/// lock, read without it (a sealed segment's file never changes until it is deleted,
/// and a deleted file stays readable through its open handle).
#[derive(Debug, Clone)]
pub struct SealedSegment {
    pub base: i64,
    pub next: i64,
    pub size: u64,
    /// Its largest record timestamp (−1: none).
    pub max_timestamp: i64,
    pub file: Arc<File>,
    pub path: PathBuf,
}

/// What one pass cleans: the cleanable segments, from the first one of the log up to
/// the first uncleanable offset.
#[derive(Debug, Clone)]
pub struct Plan {
    pub segments: Vec<SealedSegment>,
    /// The checkpoint: segments from here on are dirty.
    pub first_dirty: i64,
    /// Where the pass stops: the base of the first segment it may not clean.
    pub first_uncleanable: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// Why it runs: the dirty ratio reached `min.cleanable.dirty.ratio`, or a delete
    /// horizon has passed.
    pub why: String,
}

impl Plan {
    /// The dirty segments: the ones the offset map is built from.
    pub fn dirty(&self) -> &[SealedSegment] {
        let first = self.segments.partition_point(|s| s.base < self.first_dirty);
        &self.segments[first..]
    }
}

/// Decides whether to clean and what. `sealed` are the log's segments but the active
/// one, oldest first; `active_base` the active segment's base; `checkpoint` where the
/// last pass stopped (0 when none); `horizon_due`: a tombstone kept by an earlier pass
/// may now be removed. `None`: nothing to do.
pub fn plan(
    sealed: &[SealedSegment],
    active_base: i64,
    checkpoint: i64,
    horizon_due: bool,
    config: &LogConfig,
    now_ms: i64,
) -> Option<Plan> {
    let lag = config.min_compaction_lag.as_millis() as i64;
    // The first segment with a record younger than min.compaction.lag.ms, else the
    // active one.
    let young = |s: &SealedSegment| lag > 0 && s.max_timestamp > now_ms.saturating_sub(lag);
    let stop = sealed.iter().position(young).unwrap_or(sealed.len());
    let first_uncleanable = sealed.get(stop).map_or(active_base, |s| s.base);
    let segments = sealed[..stop].to_vec();
    let first = segments.first()?;
    // A checkpoint outside the cleanable part (retention or a truncation moved the
    // log under it) starts over from the beginning.
    let first_dirty = if checkpoint < first.base || checkpoint > first_uncleanable {
        first.base
    } else {
        checkpoint
    };
    let (clean, dirty): (Vec<_>, Vec<_>) = segments.iter().partition(|s| s.base < first_dirty);
    let clean_bytes = clean.iter().map(|s| s.size).sum::<u64>();
    let dirty_bytes = dirty.iter().map(|s| s.size).sum::<u64>();
    let total = clean_bytes + dirty_bytes;
    let ratio = if total == 0 {
        0.0
    } else {
        dirty_bytes as f64 / total as f64
    };
    let why = if dirty_bytes > 0 && ratio >= config.min_cleanable_dirty_ratio {
        format!(
            "dirty ratio {ratio:.2} ≥ min.cleanable.dirty.ratio {}",
            config.min_cleanable_dirty_ratio
        )
    } else if horizon_due {
        "a tombstone's delete horizon has passed".to_string()
    } else {
        return None;
    };
    Some(Plan {
        segments,
        first_dirty,
        first_uncleanable,
        clean_bytes,
        dirty_bytes,
        why,
    })
}

/// Every whole, CRC-valid batch of a sealed segment, with its header, in order.
fn batches(
    seg: &SealedSegment,
) -> impl Iterator<Item = Result<(BatchHeader, Vec<u8>), LogError>> + '_ {
    let mut reader = BatchReader::new(&seg.file, 0, seg.size);
    std::iter::from_fn(move || {
        let step = match reader.next_step() {
            Ok(step) => step?,
            Err(e) => return Some(Err(LogError::io(&seg.path, e))),
        };
        Some(match step {
            ReadStep::Batch { position, bytes } => match check_frame(&bytes) {
                Ok(h) => Ok((h, bytes)),
                Err(e) => Err(LogError::Corrupt {
                    path: seg.path.clone(),
                    reason: format!("at position {position}: {e}"),
                }),
            },
            ReadStep::Torn { position, reason } => Err(LogError::Corrupt {
                path: seg.path.clone(),
                reason: format!("at position {position}: {reason}"),
            }),
        })
    })
}

/// Key → the offset of its latest record in the dirty segments (Kafka's `OffsetMap`,
/// which holds a hash of each key; this one holds the keys).
pub fn offset_map(dirty: &[SealedSegment]) -> Result<HashMap<Bytes, i64>, LogError> {
    let mut map = HashMap::new();
    for seg in dirty {
        for batch in batches(seg) {
            let (h, bytes) = batch?;
            if h.is_control() {
                continue;
            }
            for r in record::records(&bytes)? {
                if let Some(key) = r.key {
                    map.insert(key, r.offset);
                }
            }
        }
    }
    Ok(map)
}

/// Kafka's `shouldRetainRecord`: a record with a key that no later record of the dirty
/// part replaces; a tombstone only while its delete horizon has not passed.
pub fn retains(r: &Record, map: &HashMap<Bytes, i64>, tombstones_expired: bool) -> bool {
    let Some(key) = &r.key else {
        return false;
    };
    let latest = map.get(key).is_none_or(|&latest| r.offset >= latest);
    latest && (r.value.is_some() || !tombstones_expired)
}

/// Consecutive segments rewritten into one new segment: as many as fit together in
/// `segment.bytes` (their sizes before cleaning, an upper bound) and whose offsets fit
/// the index's 32-bit relative offsets. Indexes into `segments`.
pub fn groups(segments: &[SealedSegment], segment_bytes: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start + 1;
        let mut size = segments[start].size;
        while let Some(next) = segments.get(end) {
            let fits = size + next.size <= segment_bytes
                && next.next - segments[start].base <= i64::from(u32::MAX);
            if !fits {
                break;
            }
            size += next.size;
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// What one pass did, for the explain line, the event and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_before: u64,
    pub records_after: u64,
    /// Tombstones dropped because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// Batches that lost every record.
    pub batches_dropped: u64,
    /// The earliest delete horizon of the tombstones it kept: the time a later pass can
    /// remove them.
    pub next_horizon: Option<i64>,
}

/// A cleaned group, written and synced as `<base>.log.cleaned`, not yet swapped in.
#[derive(Debug)]
pub struct Cleaned {
    pub base: i64,
    pub path: PathBuf,
    pub size: u64,
}

/// Rewrites the batches of `group` into `<base>.log.cleaned` (`base`: the group's first
/// segment's base), keeping what [`retains`] says, and syncs it. `None` when nothing
/// would change: then no file is left behind.
pub fn clean_group(
    dir: &Path,
    group: &[SealedSegment],
    map: &HashMap<Bytes, i64>,
    config: &LogConfig,
    now_ms: i64,
    stats: &mut CleanStats,
) -> Result<Option<Cleaned>, LogError> {
    let base = group[0].base;
    let path = swap::cleaned_path(dir, base);
    let file = File::create(&path).map_err(|e| LogError::io(&path, e))?;
    let mut out = BufWriter::new(file);
    let mut size = 0u64;
    let mut changed = false;
    let horizon = now_ms.saturating_add(config.delete_retention.as_millis() as i64);
    let mut group_stats = CleanStats::default();
    for seg in group {
        group_stats.bytes_before += seg.size;
        for batch in batches(seg) {
            let (h, bytes) = batch?;
            let kept = filter_batch(&h, &bytes, map, now_ms, horizon, &mut group_stats)?;
            let written = match &kept {
                Kept::Unchanged => &bytes[..],
                Kept::Rebuilt(b) => &b[..],
                Kept::Dropped => &[][..],
            };
            changed |= !matches!(kept, Kept::Unchanged);
            out.write_all(written).map_err(|e| LogError::io(&path, e))?;
            size += written.len() as u64;
        }
    }
    group_stats.bytes_after = size;
    stats.segments_before += group.len();
    stats.segments_after += 1;
    stats.bytes_before += group_stats.bytes_before;
    stats.bytes_after += group_stats.bytes_after;
    stats.records_before += group_stats.records_before;
    stats.records_after += group_stats.records_after;
    stats.tombstones_removed += group_stats.tombstones_removed;
    stats.batches_dropped += group_stats.batches_dropped;
    stats.next_horizon = match (stats.next_horizon, group_stats.next_horizon) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let file = out
        .into_inner()
        .map_err(|e| LogError::io(&path, e.into_error()))?;
    if !changed && group.len() == 1 {
        drop(file);
        std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        return Ok(None);
    }
    file.sync_all().map_err(|e| LogError::io(&path, e))?;
    Ok(Some(Cleaned { base, path, size }))
}

/// What becomes of one batch.
enum Kept {
    Unchanged,
    Rebuilt(Vec<u8>),
    Dropped,
}

/// Kafka's `MemoryRecords.filterTo` for one batch. `horizon`: the delete horizon a
/// batch gets when it keeps a tombstone and has none yet.
fn filter_batch(
    h: &BatchHeader,
    bytes: &[u8],
    map: &HashMap<Bytes, i64>,
    now_ms: i64,
    horizon: i64,
    stats: &mut CleanStats,
) -> Result<Kept, LogError> {
    if h.is_control() {
        return Ok(Kept::Unchanged);
    }
    let records = record::records(bytes)?;
    let expired = h.delete_horizon().is_some_and(|t| now_ms >= t);
    stats.records_before += records.len() as u64;
    let total = records.len();
    let kept: Vec<Record> = records
        .into_iter()
        .filter(|r| {
            let keep = retains(r, map, expired);
            if !keep && r.value.is_none() && expired {
                let superseded = r
                    .key
                    .as_ref()
                    .and_then(|k| map.get(k))
                    .is_some_and(|&latest| r.offset < latest);
                if !superseded {
                    stats.tombstones_removed += 1;
                }
            }
            keep
        })
        .collect();
    stats.records_after += kept.len() as u64;
    let keeps_tombstone = kept.iter().any(|r| r.value.is_none());
    let set_horizon = keeps_tombstone && h.delete_horizon().is_none();
    if let Some(t) = h.delete_horizon().filter(|_| keeps_tombstone) {
        stats.next_horizon = Some(stats.next_horizon.map_or(t, |n| n.min(t)));
    }
    if set_horizon {
        stats.next_horizon = Some(stats.next_horizon.map_or(horizon, |n| n.min(horizon)));
    }
    Ok(if kept.is_empty() {
        stats.batches_dropped += 1;
        Kept::Dropped
    } else if kept.len() == total && !set_horizon {
        Kept::Unchanged
    } else {
        let delete_horizon = if set_horizon {
            Some(horizon)
        } else {
            h.delete_horizon()
        };
        Kept::Rebuilt(record::rebuild(h, &kept, delete_horizon))
    })
}

#[cfg(test)]
mod tests;
