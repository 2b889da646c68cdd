//! The swap: how a cleaned segment replaces the segments it was made from, so that a
//! crash at any moment leaves either the old segments or the new one, never a mix.
//!
//! Flow: `cleaner.rs: clean_group` wrote and synced `<base>.log.cleaned` →
//! `partition_log/clean.rs` takes the partition lock → [`commit`] → [`finish`] →
//! the new segment is opened and its indexes built. On open, `recovery::load` calls
//! [`recover`] first, which completes or undoes what a crash interrupted.
//!
//! # Files, for a group of segments with base offsets in `[base, end)`
//!
//! | step | on disk | a crash here means |
//! |------|---------|--------------------|
//! | 1. write | `<base>.log.cleaned` (synced) beside the old segments | recovery deletes the `.cleaned`: the old segments stay |
//! | 2. [`commit`] | renamed to `<base>-<end>.log.swap`, directory synced | the swap is decided: recovery finishes it |
//! | 3. [`finish`] | the old `.log`, `.index`, `.timeindex` of `[base, end)` deleted | recovery deletes what is left of them, then step 4 |
//! | 4. [`finish`] | `.swap` renamed to `<base>.log`, directory synced | nothing to do; its indexes are rebuilt on open |
//!
//! The rename of step 2 is the commit point: one atomic rename of one file. Its name
//! carries `end` because a cleaned segment may end before the group did (its last
//! batches can all go), so its contents alone cannot say which segments it replaces.
//! (Kafka names it `<base>.log.swap`; minikafka adds the end.)
//!
//! Failpoints for the crash tests: with `MINIKAFKA_FAILPOINT` set to
//! `cleaner-before-commit`, `cleaner-after-commit` or `cleaner-after-delete`, the
//! process aborts at that step (`tests/compaction_crash.rs` runs the broker so).

use std::path::{Path, PathBuf};

use super::super::lazy_segment::LazySegment;
use super::super::segment::{file_name, parse_file_name, sync_dir};
use super::super::LogError;

/// `<base>.log.cleaned`: a cleaned group being written (step 1).
pub fn cleaned_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}.cleaned", file_name(base, "log")))
}

/// `<base>-<end>.log.swap`: a committed swap (step 2).
pub fn swap_path(dir: &Path, base: i64, end: i64) -> PathBuf {
    dir.join(format!("{base:020}-{end:020}.log.swap"))
}

/// `(base, end)` of a `<base>-<end>.log.swap` file name.
fn parse_swap(name: &str) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(".log.swap")?;
    let (base, end) = stem.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(base) || !digits(end) {
        return None;
    }
    Some((base.parse().ok()?, end.parse().ok()?))
}

/// A file a cleaning pass left behind (a `.cleaned` file or a committed swap): when a
/// partition directory holds one, [`recover`] has work to do.
pub fn is_leftover(name: &str) -> bool {
    name.ends_with(".log.cleaned") || parse_swap(name).is_some()
}

/// Aborts the process when `MINIKAFKA_FAILPOINT` names this step (crash tests only).
pub fn failpoint(name: &str) {
    if std::env::var_os("MINIKAFKA_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting the process");
        std::process::abort();
    }
}

/// Step 2: the `.cleaned` file of `base` becomes the swap of `[base, end)`.
pub fn commit(dir: &Path, base: i64, end: i64) -> Result<PathBuf, LogError> {
    failpoint("cleaner-before-commit");
    let from = cleaned_path(dir, base);
    let to = swap_path(dir, base, end);
    std::fs::rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
    sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    failpoint("cleaner-after-commit");
    Ok(to)
}

/// Steps 3 and 4: deletes the old segments (`old`, those of `[base, end)`), then
/// renames the swap to `<base>.log`. The new segment's indexes are left to be built.
pub fn finish(dir: &Path, base: i64, end: i64, old: Vec<LazySegment>) -> Result<(), LogError> {
    for seg in old {
        seg.delete()?;
    }
    sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    failpoint("cleaner-after-delete");
    rename_into_place(dir, base, end)
}

fn rename_into_place(dir: &Path, base: i64, end: i64) -> Result<(), LogError> {
    let from = swap_path(dir, base, end);
    let to = dir.join(file_name(base, "log"));
    std::fs::rename(&from, &to).map_err(|e| LogError::io(&from, e))?;
    sync_dir(dir).map_err(|e| LogError::io(dir, e))
}

fn remove_if_there(path: &Path) -> Result<bool, LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LogError::io(path, e)),
    }
}

/// On open, before the segments are listed: deletes every `.cleaned` file (a pass
/// that did not commit) and finishes every committed swap (the table in the module
/// docs). Returns how many swaps it finished.
pub fn recover(dir: &Path) -> Result<usize, LogError> {
    let mut swaps = Vec::new();
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".log.cleaned") {
            tracing::warn!(
                "recovery: deleting {} in {}: a cleaning pass did not finish, the old segments stay",
                name,
                dir.display()
            );
            remove_if_there(&entry.path())?;
        } else if let Some(range) = parse_swap(name) {
            swaps.push(range);
        } else if let Some(base) = parse_file_name(name, "log") {
            bases.push(base);
        }
    }
    swaps.sort_unstable();
    for &(base, end) in &swaps {
        tracing::warn!(
            "recovery: finishing the swap of cleaned segment {base} (it replaces the segments in [{base}, {end}))"
        );
        for &old in bases.iter().filter(|b| (base..end).contains(*b)) {
            for ext in ["log", "index", "timeindex"] {
                remove_if_there(&dir.join(file_name(old, ext)))?;
            }
        }
        // The index files of `base` went with the old segment: the new one's are
        // built when it is opened.
        for ext in ["index", "timeindex"] {
            remove_if_there(&dir.join(file_name(base, ext)))?;
        }
        sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        rename_into_place(dir, base, end)?;
    }
    Ok(swaps.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_names_carry_the_range() {
        let dir = Path::new("/d");
        let p = swap_path(dir, 120, 470);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "00000000000000000120-00000000000000000470.log.swap");
        assert_eq!(parse_swap(name), Some((120, 470)));
        assert_eq!(parse_swap("00000000000000000120.log.swap"), None);
        assert_eq!(
            cleaned_path(dir, 7).file_name().unwrap(),
            "00000000000000000007.log.cleaned"
        );
    }
}
