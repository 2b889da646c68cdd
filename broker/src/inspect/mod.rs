//! What `minikafka-broker inspect` prints: the learner's window onto the data dir.
//!
//! TODO(log helper).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an inspection failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// `inspect topics <data-dir>`.
#[allow(clippy::todo, unused_variables)]
pub fn topics(data_dir: &Path, out: &mut dyn Write) -> Result<(), InspectError> {
    todo!()
}

/// `inspect dump <file.log|file.index>`.
#[allow(clippy::todo, unused_variables)]
pub fn dump(path: &Path, out: &mut dyn Write) -> Result<(), InspectError> {
    todo!()
}
