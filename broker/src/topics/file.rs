//! `topics.json`: the list of topics, their partition counts and configs, on disk.
//!
//! Flow: `Topics::open` reads it once at start ([`TopicsFile::load`]); every create,
//! delete, config change (AlterConfigs) and partition increase (CreatePartitions) replaces
//! it whole ([`TopicsFile::save`]); `inspect topics` reads it
//! ([`TopicsFile::parse`]) without opening the registry.
//!
//! # Format
//!
//! ```json
//! { "version": 1,
//!   "topics": { "orders": { "partitions": 3, "config": { "retention.ms": "60000" } } } }
//! ```
//!
//! What must stay true: the file is replaced whole (write `topics.json.tmp`, fsync,
//! rename, fsync the directory), so a crash leaves the old or the new file, never a
//! mix. A file that does not parse is an error naming it, and is left untouched.

use std::collections::BTreeMap;
use std::path::Path;

use super::TopicError;
use crate::log::LogError;

/// Name of the metadata file in the data directory.
pub const TOPICS_FILE: &str = "topics.json";

/// The whole `topics.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopicsFile {
    /// Format version, 1.
    pub version: u32,
    pub topics: BTreeMap<String, TopicEntry>,
}

/// One topic in `topics.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopicEntry {
    /// Partition count (≥ 1).
    pub partitions: i32,
    /// Topic-level overrides with Kafka's names (see `topics::config`).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl TopicsFile {
    /// A file with no topics.
    pub fn empty() -> TopicsFile {
        TopicsFile {
            version: 1,
            topics: BTreeMap::new(),
        }
    }

    /// Parses the bytes of a `topics.json`.
    pub fn parse(bytes: &[u8]) -> Result<TopicsFile, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Reads `<data_dir>/topics.json`; a missing file means no topics.
    pub fn load(data_dir: &Path) -> Result<TopicsFile, TopicError> {
        let path = data_dir.join(TOPICS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => TopicsFile::parse(&bytes).map_err(|e| TopicError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TopicsFile::empty()),
            Err(e) => Err(LogError::io(&path, e).into()),
        }
    }

    /// Replaces `<data_dir>/topics.json` atomically (temp file, fsync, rename, fsync
    /// the directory).
    pub fn save(&self, data_dir: &Path) -> Result<(), TopicError> {
        let tmp = data_dir.join(format!("{TOPICS_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, data_dir.join(TOPICS_FILE))?;
            crate::log::recovery::sync_dir(data_dir)
        };
        write().map_err(|e| LogError::io(&tmp, e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_gives_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(TopicsFile::load(dir.path()).unwrap(), TopicsFile::empty());
        let mut file = TopicsFile::empty();
        file.topics.insert(
            "orders".into(),
            TopicEntry {
                partitions: 3,
                config: BTreeMap::from([("retention.ms".into(), "60000".into())]),
            },
        );
        file.save(dir.path()).unwrap();
        assert_eq!(TopicsFile::load(dir.path()).unwrap(), file);
        assert!(!dir.path().join("topics.json.tmp").exists());
    }
}
