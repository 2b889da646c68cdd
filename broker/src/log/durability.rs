//! The durability policy: when appended bytes are forced to disk (`fsync`).
//!
//! TODO(log helper): `FsyncPolicy` parsing from `never|always|<ms>` and the group commit.

use std::time::Duration;

/// When the partition log calls `sync_data` (Kafka: `flush.messages` / `flush.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Leave it to the OS page cache (Kafka's default).
    #[default]
    Never,
    /// Sync at most this often, from a background flusher.
    Interval(Duration),
    /// Sync before `append` returns; concurrent appends share one sync.
    Always,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "always" => Ok(FsyncPolicy::Always),
            ms => ms
                .parse::<u64>()
                .map(|ms| FsyncPolicy::Interval(Duration::from_millis(ms)))
                .map_err(|_| {
                    format!("expected never, always or a number of milliseconds, got {s:?}")
                }),
        }
    }
}
