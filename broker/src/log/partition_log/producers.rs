//! The producer state of a partition log: loaded on open from the newest snapshot and
//! the batches after it, snapshotted at each roll and at a clean close, trimmed by
//! retention, truncation and `producer.id.expiration.ms`.
//!
//! Flow: `PartitionLog::open` → **`load_producers`** (snapshot + replay) →
//! `append` checks every batch against it (`producer_state.rs`) → `maybe_roll` and
//! `close` → **`snapshot_producers`** (`producer_snapshot.rs`).
//!
//! What must stay true:
//! - The table equals what replaying the log from its start would give (apart from
//!   what a snapshot does not keep, see `producer_snapshot.rs`): a snapshot is only
//!   trusted at or below the log end offset, and the batches from it to the end are
//!   replayed in offset order, markers included.
//! - Snapshots are kept from the first segment's base offset on (retention deletes
//!   the older ones with their segments), and none lies past the log end offset.

use super::{Inner, PartitionLog};
use crate::log::control_batch::marker_of;
use crate::log::producer_snapshot;
use crate::log::producer_state::ProducerStateTable;
use crate::log::record_batch::BatchHeader;
use crate::log::txn_index::{self, AbortedTxn};
use crate::log::LogError;
use std::path::Path;

impl PartitionLog {
    /// Loads the producer state into `inner` on open: the newest readable snapshot at
    /// or below the log end offset, then every batch after it. `clean`: the
    /// clean-shutdown marker is in place, so nothing may change in the directory
    /// (stale snapshots are only deleted on an unclean open).
    pub(super) fn load_producers(
        dir: &Path,
        inner: &mut Inner,
        index_interval: u32,
        clean: bool,
    ) -> Result<(), LogError> {
        let end = inner.log_end_offset();
        let snapshots = producer_snapshot::list(dir);
        if !clean {
            producer_snapshot::delete_where(dir, |o| o > end);
        }
        let mut table = ProducerStateTable::new();
        let mut from = inner.first_base();
        for &offset in snapshots.iter().rev().filter(|&&o| o <= end) {
            if let Some(t) = producer_snapshot::read(dir, offset) {
                table = t;
                from = from.max(offset);
                break;
            }
        }
        let aborted = replay(inner, &mut table, from, index_interval)?;
        inner.producers = table;
        // ABORT markers found again (a crash may have come between a marker and its
        // index entry): known ones change nothing.
        for (base, t) in aborted {
            inner.aborted.add(dir, base, t)?;
        }
        Ok(())
    }

    /// Writes the snapshot of the producer state at the log end offset (a roll, or a
    /// clean close). A failure is logged, not returned: a snapshot only saves a
    /// start-up some replaying.
    pub(super) fn snapshot_producers(&self, inner: &Inner) {
        let end = inner.log_end_offset();
        if let Err(e) = producer_snapshot::write(&self.dir, end, &inner.producers) {
            tracing::warn!(
                "{}: producer snapshot not written ({e}); the next start replays more of the log",
                self.dir.display()
            );
        }
    }

    /// After retention or DeleteRecords: forgets producers whose batches are all gone,
    /// and deletes the snapshots and aborted-transaction indexes below the first segment.
    pub(super) fn trim_producers(&self, inner: &mut Inner) {
        let log_start = inner.log_start_offset;
        inner.producers.evict_below(log_start);
        let first = inner.first_base();
        producer_snapshot::delete_where(&self.dir, |o| o < first);
        inner.aborted.forget_below(first);
        txn_index::delete_files_below(&self.dir, first);
    }

    /// After a truncation: the snapshots and aborted transactions past the new end go,
    /// and the state is rebuilt.
    pub(super) fn reload_producers(&self, inner: &mut Inner) -> Result<(), LogError> {
        let interval = self.config().index_interval_bytes;
        let end = inner.log_end_offset();
        inner.aborted.truncate(&self.dir, end)?;
        PartitionLog::load_producers(&self.dir, inner, interval, false)
    }

    /// Forgets the producers idle for `expiration_ms` (`producer.id.expiration.ms`)
    /// with no open transaction; returns how many.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.lock().producers.expire(now_ms, expiration_ms)
    }

    /// A copy of the producer state (DescribeProducers, `inspect`, tests).
    pub fn producers(&self) -> ProducerStateTable {
        self.lock().producers.clone()
    }
}

/// Applies every batch at or after `from` to `table`, in offset order; returns the
/// aborted transactions whose ABORT markers it met, with their segments' base offsets.
fn replay(
    inner: &mut Inner,
    table: &mut ProducerStateTable,
    from: i64,
    index_interval: u32,
) -> Result<Vec<(i64, AbortedTxn)>, LogError> {
    let mut aborted = Vec::new();
    let end = inner.log_end_offset();
    if from >= end {
        return Ok(aborted);
    }
    let first = inner.segment_for(from);
    for i in first..=inner.sealed.len() {
        let seg = inner.segment(i, index_interval)?;
        let Some((mut pos, _)) = seg.find(from)? else {
            continue; // nothing at or after `from` here
        };
        while let Some(h) = seg.header_at(pos)? {
            if h.last_offset() >= from {
                if let Some(t) = replay_one(seg, pos, &h, table)? {
                    aborted.push((seg.base_offset(), t));
                }
            }
            pos += h.total_len() as u64;
        }
    }
    Ok(aborted)
}

fn replay_one(
    seg: &crate::log::segment::Segment,
    pos: u64,
    h: &BatchHeader,
    table: &mut ProducerStateTable,
) -> Result<Option<AbortedTxn>, LogError> {
    if h.producer_id < 0 {
        return Ok(None);
    }
    if !h.is_control() {
        table.apply_data(h);
        return Ok(None);
    }
    let bytes = seg.read(pos, h.total_len())?;
    let Some(m) = marker_of(&bytes) else {
        return Ok(None);
    };
    let closed = table.apply_marker(
        h.producer_id,
        h.producer_epoch,
        m.coordinator_epoch,
        h.max_timestamp,
    );
    Ok(match (m.commit, closed) {
        (false, Some(first_offset)) => Some(AbortedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: h.base_offset,
            last_stable_offset: table.first_unstable_offset().unwrap_or(h.base_offset + 1),
        }),
        _ => None,
    })
}
