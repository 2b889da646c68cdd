//! What `minikafka-broker inspect` prints: the learner's window onto the data dir.
//!
//! Flow: this sits beside the message path, reading what the partition log left on
//! disk (topics.json → `<topic>-<partition>/` → segments → batches → records), without
//! changing a byte: it never opens a `PartitionLog` (which would recover, consume the
//! clean-shutdown marker or preallocate indexes). Damage is reported, not repaired.
//!
//! - [`topics`] (`inspect topics <data-dir>`): topics, partitions, offsets, segments.
//! - [`dump`] (`inspect dump <file.log|.index|.timeindex|.txnindex|.snapshot>`): every
//!   batch and record of a `.log` (with `--hex`, the header bytes labelled; control
//!   batches named as COMMIT or ABORT markers, [`transactions`]; in
//!   `__consumer_offsets`, each commit decoded, in `__transaction_state` each state), or
//!   every entry of an `.index`, a `.timeindex` ([`time_index`]), a `.txnindex`
//!   ([`txn_index`]) or a producer `.snapshot` ([`producer_snapshot`]).
//! - [`groups`] (`inspect groups <data-dir>`): committed offsets replayed from
//!   `__consumer_offsets`, and the lag; [`remote::groups`] asks a running broker instead.
//!
//! What must stay true:
//! - Nothing here writes to the data directory: files are only opened for reading.
//! - Bytes are framed and parsed by the broker's own code (`log/`, `topics/file.rs`,
//!   `group/offset_store.rs`, `txn/state_log.rs`), never by a second parser.
//! - Every command builds one report struct; the text and the `--json` output are two
//!   renderings of it.
//! - Every error names the file it is about ([`InspectError`]).

mod dump;
mod format;
mod groups;
pub mod hex;
mod offset_index;
mod producer_snapshot;
pub mod remote;
mod time_index;
mod topics;
mod transactions;
mod txn_index;

pub use dump::{dump, DumpReport};
/// How a dumped key or value prints (`"text"`, `0x…` or `null`), for other readers of a
/// [`DumpReport`] such as the tour.
pub use format::{shown, Shown};
pub use groups::{groups, GroupsReport};
pub use topics::{topics, TopicsReport};

use std::path::{Path, PathBuf};

use crate::topics::lock::{held_by_another, LOCK_FILE};

/// Why an inspection failed, naming the file (or the broker) it is about.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("broker {addr}: {reason}")]
    Broker { addr: String, reason: String },
}

impl InspectError {
    fn new(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        InspectError::Unreadable {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// A broker running on the data dir being read: it holds the `.lock` file (see
/// `topics/lock.rs`), so the files are being written while we read them. `--json`
/// gives the fields; the text report prints the sentence ([`std::fmt::Display`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunningBroker {
    /// The pid the broker wrote in the lock file, when it is a number.
    pub pid: Option<u32>,
    pub lock_file: String,
}

impl std::fmt::Display for RunningBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pid = self.pid.map(|p| format!(" by pid {p}")).unwrap_or_default();
        write!(
            f,
            "the broker is running on this data dir ({} is locked{pid}); what follows is a snapshot of files it may be writing (a partition keeps its clean-shutdown marker until the broker first changes it)",
            self.lock_file
        )
    }
}

/// The broker running on `data_dir`, or `None`.
fn running_broker(data_dir: &Path) -> Result<Option<RunningBroker>, InspectError> {
    let lock = data_dir.join(LOCK_FILE);
    let holder = held_by_another(data_dir).map_err(|e| InspectError::new(&lock, e))?;
    Ok(holder.map(|pid| RunningBroker {
        pid: pid.trim().parse().ok(),
        lock_file: lock.display().to_string(),
    }))
}
