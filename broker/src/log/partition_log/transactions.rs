//! Transactions in a partition log: the markers that end them, the last stable offset
//! (LSO), and what a `read_committed` read may return and must report.
//!
//! Flow: transaction coordinator → `Partition::append_marker` →
//! `PartitionLog::append_marker` → **`record_marker`** (producer state, aborted index);
//! Fetch with `isolation_level=1` → **`slice_upto`** (stop at the LSO) and
//! **`aborted_between`** (`aborted_transactions`).
//!
//! What must stay true:
//! - The LSO is the first offset of the oldest open transaction, or the log end offset
//!   when none is open (one replica: the high watermark is the log end). It never goes
//!   below the log start offset.
//! - A `read_committed` read returns whole batches below the LSO only.
//! - An ABORT marker's entry in the index carries the LSO right after it, as Kafka's:
//!   the first offset of another producer's open transaction, or the marker's offset + 1.

use super::{Inner, PartitionLog};
use crate::log::control_batch::Marker;
use std::os::unix::fs::FileExt;

use crate::log::record_batch::{BatchHeader, HEADER_LEN};
use crate::log::segment::FileSlice;
use crate::log::txn_index::AbortedTxn;
use crate::log::LogError;

impl PartitionLog {
    /// After the marker `h` (as stored, with its offset) was written: the producer's
    /// transaction is over; an ABORT is recorded in the index of the active segment.
    pub(super) fn record_marker(
        &self,
        inner: &mut Inner,
        h: &BatchHeader,
        marker: Marker,
    ) -> Result<(), LogError> {
        let closed = inner.producers.apply_marker(
            h.producer_id,
            h.producer_epoch,
            marker.coordinator_epoch,
            h.max_timestamp,
        );
        if let (false, Some(first_offset)) = (marker.commit, closed) {
            let t = AbortedTxn {
                producer_id: h.producer_id,
                first_offset,
                last_offset: h.base_offset,
                last_stable_offset: inner
                    .producers
                    .first_unstable_offset()
                    .unwrap_or(h.base_offset + 1),
            };
            let base = inner.active.base_offset();
            inner.aborted.add(&self.dir, base, t)?;
        }
        Ok(())
    }

    /// The last stable offset: where a `read_committed` consumer must stop.
    pub fn last_stable_offset(&self) -> i64 {
        let inner = self.lock();
        let end = inner.log_end_offset();
        inner
            .producers
            .first_unstable_offset()
            .map_or(end, |first| first.min(end))
            .max(inner.log_start_offset)
    }

    /// The aborted transactions overlapping `[fetch_offset, upper)`, as (producer id,
    /// first offset): Fetch's `aborted_transactions` for a `read_committed` read.
    pub fn aborted_between(&self, fetch_offset: i64, upper: i64) -> Vec<(i64, i64)> {
        self.lock().aborted.overlapping(fetch_offset, upper)
    }

    /// The newest `limit` aborted transactions still in the log, by marker offset (the
    /// dashboard, tests): copied under the lock, so the dashboard asks for a few.
    pub fn aborted_transactions(&self, limit: usize) -> Vec<AbortedTxn> {
        self.lock().aborted.newest(limit)
    }

    /// [`slice`](Self::slice), but only batches that end below `upto` (the LSO of a
    /// `read_committed` read); with the offset just past what it returns, the upper
    /// bound for [`aborted_between`](Self::aborted_between). `None`: nothing to return.
    pub fn slice_upto(
        &self,
        offset: i64,
        max_bytes: usize,
        upto: i64,
    ) -> Result<Option<(FileSlice, i64)>, LogError> {
        if offset >= upto {
            return Ok(None);
        }
        let Some(mut slice) = self.slice(offset, max_bytes)? else {
            return Ok(None);
        };
        // Walk the returned batches' headers in the slice's own file (no second lock):
        // stop before the first one reaching `upto`.
        let mut pos = slice.position;
        let end = slice.position + slice.len as u64;
        let mut next = offset;
        let mut head = [0u8; HEADER_LEN];
        while pos + HEADER_LEN as u64 <= end {
            slice
                .file
                .read_exact_at(&mut head, pos)
                .map_err(|e| LogError::io(&slice.path, e))?;
            let h = BatchHeader::parse(&head)?;
            if h.last_offset() >= upto {
                break;
            }
            next = h.last_offset() + 1;
            pos += h.total_len() as u64;
        }
        slice.len = (pos - slice.position) as usize;
        if slice.len == 0 {
            return Ok(None);
        }
        Ok(Some((slice, next)))
    }
}
