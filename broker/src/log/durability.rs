//! The durability policy: when appended bytes are forced to disk (`fsync`), and the
//! group commit that lets concurrent appends share one `sync_data`.
//!
//! Flow: partition log append → page cache → **durability** → disk.
//!
//! The policy is a setting, [`FsyncPolicy`](crate::config::FsyncPolicy) in `config.rs`
//! (`--fsync`, per topic `flush.ms`); `PartitionLog` carries it out (append, roll,
//! `sync`, `close`) and this file holds the [`GroupCommit`] it shares.
//!
//! | policy        | when `sync_data` runs                          | a crash can lose            | cost |
//! |---------------|------------------------------------------------|-----------------------------|------|
//! | `never`       | on roll (old segment) and on close             | what the OS had not written back (seconds) | none on the append path |
//! | `interval(ms)`| every `ms`, driven by the server calling `Topics::sync_all` on a timer | up to `ms` of appends | one fsync per partition per interval |
//! | `always`      | before `append` returns; concurrent appends share one sync | nothing acknowledged | one fsync (~0.1–10 ms, by disk) per group of concurrent appends |
//!
//! Group commit: each append gets a sequence number (bytes written to the partition so
//! far). An `always` append waits until the synced-up-to sequence reaches its own. If
//! no sync is running it runs one itself, covering everything written so far, so
//! appends that arrive while a sync runs are covered by the next single sync.
//!
//! What must stay true:
//! - The covered sequence is read *before* the sync: it never vouches for bytes written
//!   while it ran.
//! - At most one sync runs through `wait_synced` at a time, and the lock is not held
//!   during it. `synced` only moves forward.
//! - A failed sync errors its caller, leaves `synced` alone, and wakes the waiters to retry.

use std::sync::{Condvar, Mutex};

use super::LogError;

#[derive(Debug, Default)]
struct SyncState {
    /// Every append with a sequence ≤ this is on disk.
    synced: u64,
    /// A sync is running (another caller will cover us or we wait for it).
    syncing: bool,
}

/// Group commit: a synced-up-to sequence plus a condvar.
#[derive(Debug, Default)]
pub struct GroupCommit {
    state: Mutex<SyncState>,
    done: Condvar,
    /// How many `sync_data` calls ran (tests check that appends share them).
    syncs: std::sync::atomic::AtomicU64,
}

impl GroupCommit {
    /// Returns once everything up to `seq` is synced. `sync` performs one sync and
    /// returns the sequence it covered (captured before syncing).
    pub fn wait_synced(
        &self,
        seq: u64,
        sync: impl Fn() -> Result<u64, LogError>,
    ) -> Result<(), LogError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.synced >= seq {
                return Ok(());
            }
            if st.syncing {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            drop(st);
            let result = sync();
            self.syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.syncing = false;
            self.done.notify_all();
            let covered = result?;
            st.synced = st.synced.max(covered);
        }
    }

    /// Records that everything up to `seq` was synced by some other path (roll, close).
    pub fn mark_synced(&self, seq: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.synced = st.synced.max(seq);
        self.done.notify_all();
    }

    /// The sequence up to which every append is known to be on disk.
    pub fn synced(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).synced
    }

    /// Number of syncs run through [`wait_synced`](Self::wait_synced).
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn appends_waiting_on_a_running_sync_share_the_next_one() {
        // Three appends; the first sync cannot finish until all three are written,
        // so the second and third must be covered by one more sync at most.
        let gc = Arc::new(GroupCommit::default());
        let written = Arc::new(AtomicU64::new(0));
        let sync = {
            let written = written.clone();
            move || {
                let covered = written.load(Ordering::SeqCst);
                while written.load(Ordering::SeqCst) < 3 {
                    std::thread::yield_now();
                }
                Ok(covered)
            }
        };
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (gc, written, sync) = (gc.clone(), written.clone(), sync.clone());
                std::thread::spawn(move || {
                    let seq = written.fetch_add(1, Ordering::SeqCst) + 1;
                    gc.wait_synced(seq, sync).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            gc.sync_count() <= 2,
            "{} syncs for 3 appends",
            gc.sync_count()
        );
        assert_eq!(gc.state.lock().unwrap().synced, 3);
    }
}
