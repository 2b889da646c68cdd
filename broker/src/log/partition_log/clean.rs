//! `PartitionLog::clean`: one pass of the log cleaner over this partition (the rules
//! are in `log/cleaner.rs`, the crash-safe file swap in `log/cleaner/swap.rs`).
//!
//! Locking: the plan is made under the partition lock (a view of the sealed
//! segments), the reading and writing happen without it (sealed segments do not
//! change), and each group's swap takes it again, after checking that the group's
//! segments are still there as they were (retention, DeleteRecords or a truncation may
//! have run meanwhile: then that group is skipped and its `.cleaned` file deleted).
//! Appends and fetches wait only for the swaps.

use std::time::{SystemTime, UNIX_EPOCH};

use super::super::cleaner::{self, swap, CleanStats, SealedSegment};
use super::super::lazy_segment::LazySegment;
use super::super::recovery;
use super::super::segment::Segment;
use super::super::LogError;
use super::{file_name_of, PartitionLog};
use crate::events::EventKind;

/// What one cleaning pass of a partition did (kept for the snapshot and the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanReport {
    /// When it ran, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What it cleaned: offsets below this (the first uncleanable offset).
    pub cleaned_up_to: i64,
    /// The checkpoint it started from: the dirty part began here.
    pub first_dirty: i64,
    pub stats: CleanStats,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl PartitionLog {
    /// One pass of the log cleaner (`cleanup.policy=compact`; anything else does
    /// nothing). `None` when there was nothing to clean (see `cleaner::plan`).
    pub fn clean(&self) -> Result<Option<CleanReport>, LogError> {
        let config = self.config();
        if !config.compact {
            return Ok(None);
        }
        let now = now_ms();
        let plan = {
            let mut inner = self.lock();
            let active_base = inner.active().base_offset();
            let mut sealed = Vec::with_capacity(inner.sealed.len());
            for seg in inner.sealed.iter_mut() {
                // A pass reads every sealed segment: open those not opened yet.
                let seg = seg.get(config.index_interval_bytes)?;
                sealed.push(SealedSegment {
                    base: seg.base_offset(),
                    next: seg.next_offset(),
                    size: seg.size(),
                    max_timestamp: seg.max_timestamp()?,
                    file: seg.file().clone(),
                    path: seg.path().to_path_buf(),
                });
            }
            let horizon_due = inner.next_horizon.is_some_and(|t| now >= t);
            cleaner::plan(
                &sealed,
                active_base,
                inner.cleaner_checkpoint,
                horizon_due,
                &config,
                now,
            )
        };
        let Some(plan) = plan else {
            return Ok(None);
        };
        // The pass writes into the directory: the clean-shutdown marker goes first.
        self.open_for_changes(&mut self.lock())?;
        let map = cleaner::offset_map(plan.dirty())?;
        let mut stats = CleanStats::default();
        let mut swapped = Vec::new();
        for range in cleaner::groups(&plan.segments, config.segment_bytes) {
            let group = &plan.segments[range.clone()];
            let end = plan
                .segments
                .get(range.end)
                .map_or(plan.first_uncleanable, |s| s.base);
            let Some(cleaned) =
                cleaner::clean_group(&self.dir, group, &map, &config, now, &mut stats)?
            else {
                continue;
            };
            let mut inner = self.lock();
            // The group's segments, still in place and unchanged?
            let at = inner
                .sealed
                .iter()
                .position(|s| s.base_offset() == cleaned.base);
            let unchanged = at.is_some_and(|at| {
                at + group.len() <= inner.sealed.len()
                    && inner.sealed[at..at + group.len()]
                        .iter()
                        .zip(group)
                        .all(|(s, g)| {
                            s.as_open()
                                .is_some_and(|s| s.base_offset() == g.base && s.size() == g.size)
                        })
            });
            let (Some(at), true) = (at, unchanged) else {
                drop(inner);
                tracing::info!(
                    "{}: skipped swapping in cleaned segment {}: the log changed meanwhile",
                    crate::explain::partition_name(&self.dir),
                    cleaned.base
                );
                let _ = std::fs::remove_file(&cleaned.path);
                continue;
            };
            swap::commit(&self.dir, cleaned.base, end)?;
            let old: Vec<LazySegment> = inner.sealed.drain(at..at + group.len()).collect();
            swap::finish(&self.dir, cleaned.base, end, old)?;
            let mut seg =
                Segment::open(&self.dir, cleaned.base, config.index_interval_bytes, None)?;
            recovery::recover_segment(&mut seg, config.index_interval_bytes)?;
            seg.seal()?;
            swapped.push(format!(
                "{} ({} → {} bytes)",
                file_name_of(seg.path()),
                group.iter().map(|g| g.size).sum::<u64>(),
                cleaned.size
            ));
            inner.sealed.insert(at, LazySegment::open(seg));
        }
        recovery::write_offset_file(&self.dir, cleaner::CHECKPOINT_FILE, plan.first_uncleanable)?;
        let report = CleanReport {
            at_ms: now,
            cleaned_up_to: plan.first_uncleanable,
            first_dirty: plan.first_dirty,
            stats,
        };
        let mut inner = self.lock();
        inner.cleaner_checkpoint = plan.first_uncleanable;
        inner.next_horizon = report.stats.next_horizon;
        let s = &report.stats;
        let text = format!(
            "{}: log cleaner ({}): offsets below {} cleaned (dirty from {}); {} → {}, {} → {} bytes, {} → {}{}{}; checkpoint written",
            crate::explain::partition_name(&self.dir),
            plan.why,
            plan.first_uncleanable,
            plan.first_dirty,
            crate::explain::count(s.segments_before, "segment"),
            crate::explain::count(s.segments_after, "segment"),
            s.bytes_before,
            s.bytes_after,
            crate::explain::count(s.records_before, "record"),
            crate::explain::count(s.records_after, "record"),
            if s.tombstones_removed > 0 {
                format!(
                    ", {} past their delete horizon removed",
                    crate::explain::count(s.tombstones_removed, "tombstone")
                )
            } else {
                String::new()
            },
            if swapped.is_empty() {
                "; nothing to rewrite".to_string()
            } else {
                format!("; swapped in {}", swapped.join(", "))
            }
        );
        crate::explain::always(
            config.explain,
            "log/partition_log/clean.rs PartitionLog::clean",
            format_args!("{text}"),
        );
        if !swapped.is_empty() {
            self.events.record(EventKind::SegmentCleaned, text);
            inner.last_clean = Some(report.clone());
        }
        Ok(Some(report))
    }

    /// The last cleaning pass that rewrote something, if any since open.
    pub fn last_clean(&self) -> Option<CleanReport> {
        self.lock().last_clean.clone()
    }
}
