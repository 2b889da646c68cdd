//! The topic registry and the data directory.
//!
//! Flow: producer → wire → server → **topics** (find the partition, `Partition::append`)
//! → partition log → segment; fetch comes the same way and waits on `Partition::appended`.
//!
//! CONTRACT (the protocol and group layers code against these signatures; keep them).
//! Layout: `<data>/<topic>-<partition>/` per partition, plus `<data>/topics.json`
//! (partition counts and configs), written atomically (temp file, fsync, rename).
//!
//! # `topics.json`
//!
//! ```json
//! { "version": 1,
//!   "topics": { "orders": { "partitions": 3, "config": { "retention.ms": "60000" } } } }
//! ```
//!
//! What must stay true: `topics.json` lists exactly the topics in memory; it is
//! replaced whole (write `topics.json.tmp`, fsync, rename, fsync the directory), so a
//! crash leaves the old or the new file, never a mix. A partition directory that
//! `topics.json` does not list is left alone (with a warning) on open, and replaced
//! when a topic of that name is created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::log::{AppendInfo, FsyncPolicy, LogConfig, LogError, PartitionLog};

/// Name of the metadata file in the data directory.
pub const TOPICS_FILE: &str = "topics.json";

/// Errors of the registry, each naming the topic or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("topic {0:?} already exists")]
    AlreadyExists(String),
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("invalid partition count {0}: must be at least 1")]
    InvalidPartitions(i32),
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("corrupt data directory file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// One partition: its log plus a way to wake long-polling fetches.
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub log: Arc<PartitionLog>,
    /// Sends the new log end offset after each append; Fetch waits on it.
    pub appended: tokio::sync::watch::Sender<i64>,
}

impl Partition {
    /// Appends a batch and wakes fetches waiting on [`Partition::appended`].
    /// Producers (and the group coordinator) call this, not `log.append`, so
    /// long-polling fetches see the new data. Blocking: call from `spawn_blocking`.
    pub fn append(&self, batch: &mut [u8]) -> Result<AppendInfo, LogError> {
        self.append_batches(batch)
    }

    /// Appends every whole batch in `records` (a Produce request's records field may
    /// hold several; see `PartitionLog::append_batches`) and wakes waiting fetches.
    pub fn append_batches(&self, records: &mut [u8]) -> Result<AppendInfo, LogError> {
        let info = self.log.append_batches(records)?;
        let end = info.last_offset + 1;
        self.appended.send_if_modified(|v| {
            let newer = end > *v;
            if newer {
                *v = end;
            }
            newer
        });
        Ok(info)
    }

    /// Truncates the log (see `PartitionLog::truncate_to`) and publishes the new end.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.log.truncate_to(offset)?;
        self.appended.send_replace(self.log.log_end_offset());
        Ok(())
    }

    /// `<topic>-<partition>`, the directory name and Kafka's TopicPartition string.
    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.index)
    }
}

/// A topic: its partitions, in order.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<Arc<Partition>>,
    /// Topic-level config overrides, with Kafka's names (`retention.ms`, ...).
    pub config: BTreeMap<String, String>,
    pub internal: bool,
}

/// The registry. Internally synchronised; shared as `Arc<Topics>`.
#[derive(Debug)]
pub struct Topics {
    data_dir: PathBuf,
    defaults: LogConfig,
    /// Read on every request; written only by create/delete.
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises create/delete so `topics.json` and the map change together.
    meta: Mutex<()>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TopicsFile {
    version: u32,
    topics: BTreeMap<String, TopicEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TopicEntry {
    partitions: i32,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

/// Topics Kafka itself treats as internal.
fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

/// Checks a topic name as Kafka does: `[a-zA-Z0-9._-]`, 1..=249 chars, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let fail = |reason: &str| {
        Err(TopicError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return fail("the name is empty");
    }
    if name == "." || name == ".." {
        return fail("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return fail("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return fail("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Topic configs that are accepted and stored but not acted on by minikafka.
const STORED_ONLY: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "max.compaction.lag.ms",
    "message.downconversion.enable",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
];

/// The log settings of a topic: `defaults` with the topic's overrides applied.
pub fn log_config(
    defaults: &LogConfig,
    config: &BTreeMap<String, String>,
) -> Result<LogConfig, TopicError> {
    let mut c = defaults.clone();
    for (key, value) in config {
        let bad = |reason: &str| TopicError::InvalidConfig {
            key: key.clone(),
            value: value.clone(),
            reason: reason.to_string(),
        };
        let int = || {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| bad("not an integer"))
        };
        let at_least = |min: i64| {
            let v = int()?;
            if v < min {
                return Err(bad(&format!("must be at least {min}")));
            }
            Ok(v)
        };
        let u32_at_least =
            |min: i64| u32::try_from(at_least(min)?).map_err(|_| bad("larger than 2^32-1"));
        match key.as_str() {
            "retention.ms" => {
                let v = at_least(-1)?;
                c.retention_ms = (v >= 0).then(|| Duration::from_millis(v as u64));
            }
            "retention.bytes" => {
                let v = at_least(-1)?;
                c.retention_bytes = (v >= 0).then_some(v as u64);
            }
            "segment.bytes" => c.segment_bytes = at_least(14)? as u64,
            "segment.ms" => c.segment_ms = Some(Duration::from_millis(at_least(1)? as u64)),
            "index.interval.bytes" => c.index_interval_bytes = u32_at_least(0)?,
            "segment.index.bytes" => c.max_index_bytes = u32_at_least(8)?,
            "max.message.bytes" => c.max_message_bytes = u32_at_least(0)?,
            k if STORED_ONLY.contains(&k) => {
                if k == "flush.messages" && int()? == 1 {
                    c.fsync = FsyncPolicy::Always;
                }
            }
            _ => return Err(bad("unknown topic config")),
        }
    }
    Ok(c)
}

fn open_partition(
    data_dir: &Path,
    topic: &str,
    index: i32,
    config: LogConfig,
) -> Result<Arc<Partition>, LogError> {
    let log = PartitionLog::open(&data_dir.join(format!("{topic}-{index}")), config)?;
    let (appended, _) = tokio::sync::watch::channel(log.log_end_offset());
    Ok(Arc::new(Partition {
        topic: topic.to_string(),
        index,
        log: Arc::new(log),
        appended,
    }))
}

impl Topics {
    /// Opens the data dir, restoring every topic. A corrupt file gives an error naming it.
    pub fn open(data_dir: &Path, defaults: LogConfig) -> Result<Topics, TopicError> {
        std::fs::create_dir_all(data_dir).map_err(|e| LogError::io(data_dir, e))?;
        let path = data_dir.join(TOPICS_FILE);
        let file: TopicsFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TopicError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TopicsFile {
                version: 1,
                topics: BTreeMap::new(),
            },
            Err(e) => return Err(LogError::io(&path, e).into()),
        };
        let corrupt = |reason: String| TopicError::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut topics = BTreeMap::new();
        for (name, entry) in file.topics {
            validate_topic_name(&name).map_err(|e| corrupt(e.to_string()))?;
            if entry.partitions < 1 {
                return Err(corrupt(format!(
                    "topic {name:?} has {} partitions",
                    entry.partitions
                )));
            }
            let cfg = log_config(&defaults, &entry.config)
                .map_err(|e| corrupt(format!("topic {name:?}: {e}")))?;
            let partitions = (0..entry.partitions)
                .map(|i| open_partition(data_dir, &name, i, cfg.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let topic = Topic {
                internal: is_internal(&name),
                name: name.clone(),
                partitions,
                config: entry.config,
            };
            topics.insert(name, Arc::new(topic));
        }
        warn_about_strays(data_dir, &topics);
        Ok(Topics {
            data_dir: data_dir.to_path_buf(),
            defaults,
            topics: RwLock::new(topics),
            meta: Mutex::new(()),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The broker-wide log defaults a topic's overrides apply to.
    pub fn defaults(&self) -> &LogConfig {
        &self.defaults
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_file(&self, topics: &BTreeMap<String, Arc<Topic>>) -> Result<(), TopicError> {
        let file = TopicsFile {
            version: 1,
            topics: topics
                .iter()
                .map(|(n, t)| {
                    let entry = TopicEntry {
                        partitions: t.partitions.len() as i32,
                        config: t.config.clone(),
                    };
                    (n.clone(), entry)
                })
                .collect(),
        };
        let tmp = self.data_dir.join(format!("{TOPICS_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.data_dir.join(TOPICS_FILE))?;
            crate::log::recovery::sync_dir(&self.data_dir)
        };
        write().map_err(|e| LogError::io(&tmp, e).into())
    }

    /// Creates a topic (blocking disk work: call from `spawn_blocking`).
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        config: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(partitions));
        }
        let cfg = log_config(&self.defaults, &config)?;
        let _meta = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        if self.read().contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        let mut parts = Vec::new();
        for i in 0..partitions {
            // A directory left by a crash between mkdir and topics.json is stale.
            let dir = self.data_dir.join(format!("{name}-{i}"));
            if dir.exists() {
                tracing::warn!("replacing stale partition directory {}", dir.display());
                std::fs::remove_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
            }
            parts.push(open_partition(&self.data_dir, name, i, cfg.clone())?);
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            partitions: parts,
            config,
            internal: is_internal(name),
        });
        let mut next = self.read().clone();
        next.insert(name.to_string(), topic.clone());
        self.write_file(&next)?;
        *self.topics.write().unwrap_or_else(|p| p.into_inner()) = next;
        tracing::info!("created topic {name:?} with {partitions} partitions");
        Ok(topic)
    }

    /// Deletes a topic and its directories.
    pub fn delete(&self, name: &str) -> Result<(), TopicError> {
        let _meta = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        let topic = next
            .remove(name)
            .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
        self.write_file(&next)?;
        *self.topics.write().unwrap_or_else(|p| p.into_inner()) = next;
        for p in &topic.partitions {
            let dir = p.log.dir();
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(dir, e).into()),
            }
        }
        tracing::info!("deleted topic {name:?}");
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    pub fn partition(&self, name: &str, partition: i32) -> Option<Arc<Partition>> {
        let topic = self.get(name)?;
        let i = usize::try_from(partition).ok()?;
        topic.partitions.get(i).cloned()
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        self.read().values().cloned().collect()
    }

    fn for_each_partition(
        &self,
        mut f: impl FnMut(&Partition) -> Result<(), LogError>,
    ) -> Result<(), TopicError> {
        let mut first_err = None;
        for topic in self.list() {
            for p in &topic.partitions {
                if let Err(e) = f(p) {
                    tracing::error!("{}: {e}", p.name());
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), |e| Err(e.into()))
    }

    /// Applies retention to every partition (called periodically by the server).
    /// Every partition is tried; the first error is returned.
    pub fn apply_retention(&self) -> Result<(), TopicError> {
        self.for_each_partition(|p| p.log.apply_retention().map(|_| ()))
    }

    /// Syncs every partition (for `--fsync <ms>`: the server calls this on a timer
    /// every interval, from `spawn_blocking`).
    pub fn sync_all(&self) -> Result<(), TopicError> {
        self.for_each_partition(|p| p.log.sync())
    }

    /// Clean shutdown: sync, trim indexes, write each clean-shutdown marker.
    pub fn close(&self) -> Result<(), TopicError> {
        self.for_each_partition(|p| p.log.close())
    }
}

/// Warns about partition-like directories that `topics.json` does not list.
fn warn_about_strays(data_dir: &Path, topics: &BTreeMap<String, Arc<Topic>>) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let known = name.rsplit_once('-').is_some_and(|(t, p)| {
            topics
                .get(t)
                .is_some_and(|t| p.parse::<usize>().is_ok_and(|i| i < t.partitions.len()))
        });
        if !known {
            tracing::warn!(
                "{}: not a partition of any topic in {TOPICS_FILE}; leaving it alone",
                entry.path().display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_are_checked_as_kafka_does() {
        for ok in ["a", "orders.v1_x-Y", "__consumer_offsets", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "a b", "é", "a/b", &"x".repeat(250)] {
            assert!(matches!(
                validate_topic_name(bad),
                Err(TopicError::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn create_append_reopen_delete() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), LogConfig::default()).unwrap();
        let t = topics
            .create("orders", 3, cfg(&[("retention.ms", "60000")]))
            .unwrap();
        assert_eq!(t.partitions.len(), 3);
        assert!(matches!(
            topics.create("orders", 1, BTreeMap::new()),
            Err(TopicError::AlreadyExists(_))
        ));
        assert!(matches!(
            topics.create("x", 0, BTreeMap::new()),
            Err(TopicError::InvalidPartitions(0))
        ));
        assert!(matches!(
            topics.create("x", 1, cfg(&[("no.such", "1")])),
            Err(TopicError::InvalidConfig { .. })
        ));
        topics
            .create("__consumer_offsets", 1, BTreeMap::new())
            .unwrap();
        let p = topics.partition("orders", 2).unwrap();
        let rx = p.appended.subscribe();
        let mut b = crate::log::record_batch::build(
            &[crate::log::record_batch::NewRecord::default()],
            0,
            crate::log::record_batch::Compression::None,
        );
        p.append(&mut b).unwrap();
        assert_eq!(*rx.borrow(), 1);
        assert!(topics.partition("orders", 3).is_none());
        assert!(topics.partition("orders", -1).is_none());
        topics.close().unwrap();
        drop(topics);

        let topics = Topics::open(dir.path(), LogConfig::default()).unwrap();
        let names: Vec<_> = topics.list().iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["__consumer_offsets", "orders"]);
        assert!(topics.get("__consumer_offsets").unwrap().internal);
        let t = topics.get("orders").unwrap();
        assert_eq!(t.config, cfg(&[("retention.ms", "60000")]));
        assert_eq!(t.partitions[2].log.log_end_offset(), 1);
        assert_eq!(*t.partitions[2].appended.borrow(), 1);
        assert_eq!(
            t.partitions[2].log.config().retention_ms,
            Some(Duration::from_secs(60))
        );
        topics.delete("orders").unwrap();
        assert!(!dir.path().join("orders-0").exists());
        assert!(matches!(
            topics.delete("orders"),
            Err(TopicError::UnknownTopic(_))
        ));
        drop(topics);
        let topics = Topics::open(dir.path(), LogConfig::default()).unwrap();
        assert!(topics.get("orders").is_none());
        assert!(topics.get("__consumer_offsets").is_some());
    }

    #[test]
    fn corrupt_topics_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOPICS_FILE), b"{not json").unwrap();
        let err = Topics::open(dir.path(), LogConfig::default()).unwrap_err();
        assert!(matches!(&err, TopicError::Corrupt { path, .. } if path.ends_with(TOPICS_FILE)));
        assert!(err.to_string().contains("topics.json"), "{err}");
        // The file is untouched: nothing is lost.
        assert_eq!(
            std::fs::read(dir.path().join(TOPICS_FILE)).unwrap(),
            b"{not json"
        );
    }

    #[test]
    fn stale_directory_is_replaced_on_create() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("t-0")).unwrap();
        std::fs::write(
            dir.path().join("t-0").join("00000000000000000000.log"),
            [1, 2, 3],
        )
        .unwrap();
        let topics = Topics::open(dir.path(), LogConfig::default()).unwrap();
        let t = topics.create("t", 1, BTreeMap::new()).unwrap();
        assert_eq!(t.partitions[0].log.log_end_offset(), 0);
        assert_eq!(t.partitions[0].log.size(), 0);
    }
}
