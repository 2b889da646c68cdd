//! The data directory's `.lock` file: one broker per data dir, and a way for
//! `inspect` to tell that a broker is running on it.
//!
//! Where it sits: taken by `server.rs: Broker::start` before the data dir is opened,
//! released after `Topics::close` has written the clean-shutdown markers. Kafka's log
//! dirs have the same `.lock` file.
//!
//! What must stay true:
//! - The lock is an advisory OS file lock (`flock` on Unix), held for exactly as long
//!   as the broker serves: the OS drops it when the process dies, so a crashed broker
//!   never leaves a stale lock behind (the pid written inside is only informative).
//! - [`held_by_another`] only reads: it never creates the file and never keeps a lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = ".lock";
/// How long [`DataDirLock::acquire`] retries a held lock before giving up. A process
/// being forked by the one that held the lock (a test spawning a client, say) keeps a
/// copy of its descriptor for an instant, until its `exec` closes it.
const RETRY_FOR: Duration = Duration::from_secs(2);
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path} is locked by another running broker{pid}: one broker per data directory")]
    InUse { path: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Creates the data directory if needed, takes the lock and writes our pid into it.
    /// Blocking (it may wait up to [`RETRY_FOR`]): call from `spawn_blocking`.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < RETRY_FOR => {
                    std::thread::sleep(RETRY_EVERY);
                }
                Err(TryLockError::WouldBlock) => {
                    let pid = read_pid(&path).map_or(String::new(), |p| format!(" (pid {p})"));
                    return Err(LockError::InUse { path, pid });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

/// `Some(pid text)` when another process holds the data dir's lock (a broker is
/// running on it), `None` when nobody does or there is no lock file. Read-only.
pub fn held_by_another(data_dir: &Path) -> std::io::Result<Option<String>> {
    let path = data_dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        // Nobody holds it; our shared lock goes with `file` at the end of this scope.
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(read_pid(&path).unwrap_or_default())),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn read_pid(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid = text.trim();
    (!pid.is_empty()).then(|| pid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_and_inspect_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(held_by_another(dir.path()).unwrap(), None);
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        let pid = held_by_another(dir.path()).unwrap();
        assert_eq!(pid, Some(std::process::id().to_string()));
        let again = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(again
            .to_string()
            .contains("locked by another running broker"));
        drop(lock);
        assert_eq!(held_by_another(dir.path()).unwrap(), None);
        drop(DataDirLock::acquire(dir.path()).unwrap());
    }
}
