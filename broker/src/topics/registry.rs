//! The topic registry: which topics exist, their partitions, and the data directory.
//!
//! Flow: producer → wire → server → protocol → **`Topics::partition`** (find the
//! partition) → `Partition::append` / `read` → partition log → segment. CreateTopics,
//! DeleteTopics, Metadata's auto-create, AlterConfigs ([`Topics::alter_config`]) and
//! CreatePartitions ([`Topics::add_partitions`]) come here too; the server calls
//! [`Topics::apply_retention`], [`Topics::clean`], [`Topics::sync_all`] and
//! [`Topics::close`].
//!
//! What must stay true: `topics.json` (see `file.rs`) lists exactly the topics in
//! memory: create, delete, `alter_config` and `add_partitions` write it before they
//! change the map, under one mutex. A partition directory that `topics.json` does not
//! list is left alone (with a warning) on open, and replaced when a topic of that name
//! is created or grows into it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::config::log_config;
use super::file::{TopicEntry, TopicsFile, TOPICS_FILE};
use super::name::{is_internal, validate_topic_name};
use super::{Partition, TopicError};
use crate::config::LogConfig;
use crate::events::{EventKind, Events};
use crate::log::partition_log::CleanReport;
use crate::log::LogError;

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
    /// Read on every request; written only by create, delete, alter and grow.
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises create, delete, alter and grow so `topics.json` and the map change
    /// together.
    meta: Mutex<()>,
    /// Held for a whole cleaning pass ([`Topics::clean`]), so that the server's timer
    /// and `BrokerHandle::clean_now` never clean one partition at the same time (two
    /// passes would write the same `<base>.log.cleaned` file).
    cleaner: Mutex<()>,
    /// The broker's event ring (see `events.rs`): made here, the first thing a broker
    /// opens; every partition log, the group coordinator and `BrokerContext` share it.
    events: Events,
}

/// Opens (and recovers) the partitions `(topic, index, settings)` in that order, on a
/// few threads at once. After a clean shutdown an open writes nothing and opens only
/// the active segment (a dozen system calls, `recovery.rs`); after a crash it scans
/// and may cut and sync, waiting on the disk. Run side by side, those waits overlap
/// and the file system commits the syncs together.
fn open_partitions(
    data_dir: &Path,
    jobs: &[(&str, i32, &LogConfig)],
    events: &Events,
) -> Result<Vec<Arc<Partition>>, TopicError> {
    const THREADS: usize = 16;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Partition, LogError>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..THREADS.min(jobs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(name, index, cfg)) = jobs.get(i) else {
                    break;
                };
                let opened = Partition::open(data_dir, name, index, cfg.clone(), events.clone());
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(opened);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            let opened = slot.into_inner().unwrap_or_else(|p| p.into_inner());
            match opened {
                Some(result) => Ok(Arc::new(result?)),
                None => Err(TopicError::Log(LogError::Corrupt {
                    path: data_dir.to_path_buf(),
                    reason: "a partition was not opened".into(),
                })),
            }
        })
        .collect()
}

impl Topics {
    /// Opens the data dir, restoring every topic. A corrupt file gives an error naming it.
    pub fn open(data_dir: &Path, defaults: LogConfig) -> Result<Topics, TopicError> {
        std::fs::create_dir_all(data_dir).map_err(|e| LogError::io(data_dir, e))?;
        let path = data_dir.join(TOPICS_FILE);
        let file = TopicsFile::load(data_dir)?;
        let corrupt = |reason: String| TopicError::Corrupt {
            path: path.clone(),
            reason,
        };
        let events = Events::default();
        let mut opening = Vec::new();
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
            opening.push((name, entry, cfg));
        }
        let jobs: Vec<(&str, i32, &LogConfig)> = opening
            .iter()
            .flat_map(|(name, entry, cfg)| {
                (0..entry.partitions).map(move |i| (name.as_str(), i, cfg))
            })
            .collect();
        let mut opened = open_partitions(data_dir, &jobs, &events)?.into_iter();
        let mut topics = BTreeMap::new();
        for (name, entry, _) in opening {
            let partitions: Vec<Arc<Partition>> =
                opened.by_ref().take(entry.partitions as usize).collect();
            let ends: Vec<String> = partitions
                .iter()
                .map(|p| format!("{name}[{}]={}", p.index, p.log_end_offset()))
                .collect();
            tracing::info!(
                "opened topic {name:?}: {}, log end offsets {}",
                crate::explain::count(partitions.len(), "partition"),
                ends.join(", ")
            );
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
            cleaner: Mutex::new(()),
            events,
        })
    }

    /// The broker's event ring, for the dashboard's timeline (see `events.rs`).
    pub fn events(&self) -> &Events {
        &self.events
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
        let mut file = TopicsFile::empty();
        for (name, t) in topics {
            let entry = TopicEntry {
                partitions: t.partitions.len() as i32,
                config: t.config.clone(),
            };
            file.topics.insert(name.clone(), entry);
        }
        file.save(&self.data_dir)
    }

    /// Opens partition `index` of a topic being created or grown, in a fresh directory:
    /// one left by a crash between mkdir and `topics.json` is stale and replaced.
    fn open_new_partition(
        &self,
        name: &str,
        index: i32,
        cfg: &LogConfig,
    ) -> Result<Arc<Partition>, TopicError> {
        let dir = self.data_dir.join(format!("{name}-{index}"));
        if dir.exists() {
            tracing::warn!("replacing stale partition directory {}", dir.display());
            std::fs::remove_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        }
        let partition = Partition::open(
            &self.data_dir,
            name,
            index,
            cfg.clone(),
            self.events.clone(),
        )?;
        Ok(Arc::new(partition))
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
            parts.push(self.open_new_partition(name, i, &cfg)?);
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
        let text = format!(
            "created topic {name:?} with {}",
            crate::explain::count(partitions, "partition")
        );
        tracing::info!("{text}");
        self.events.record(EventKind::TopicCreated, text);
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
            let dir = p.dir();
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(dir, e).into()),
            }
        }
        let text = format!("deleted topic {name:?}");
        tracing::info!("{text}");
        self.events.record(EventKind::TopicDeleted, text);
        Ok(())
    }

    /// Grows a live topic to `count` partitions (CreatePartitions): opens the new
    /// partitions with the topic's config, writes `topics.json`, then publishes the
    /// longer list. Clients see the new partitions at their next Metadata. Blocking.
    pub fn add_partitions(&self, name: &str, count: i32) -> Result<Arc<Topic>, TopicError> {
        let _meta = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        let old = next
            .get(name)
            .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
        let have = old.partitions.len() as i32;
        if count <= have {
            return Err(TopicError::InvalidPartitions(count));
        }
        let cfg = log_config(&self.defaults, &old.config)?;
        let mut partitions = old.partitions.clone();
        for i in have..count {
            partitions.push(self.open_new_partition(name, i, &cfg)?);
        }
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            partitions,
            config: old.config.clone(),
            internal: old.internal,
        });
        next.insert(name.to_string(), topic.clone());
        self.write_file(&next)?;
        *self.topics.write().unwrap_or_else(|p| p.into_inner()) = next;
        let text = format!("topic {name:?} grew from {have} to {count} partitions");
        crate::explain::always(
            self.defaults.explain,
            "topics/registry.rs Topics::add_partitions",
            format_args!("{text}; topics.json rewritten, clients see them at their next Metadata"),
        );
        self.events.record(EventKind::TopicCreated, text);
        Ok(topic)
    }

    /// Replaces the config overrides of a live topic (AlterConfigs and
    /// IncrementalAlterConfigs): checks them, writes `topics.json`, then hands every
    /// partition its new `LogConfig`, so the next append, roll and retention check use
    /// it. Blocking (writes the file).
    pub fn alter_config(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let cfg = log_config(&self.defaults, &config)?;
        let _meta = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        let old = next
            .get(name)
            .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            partitions: old.partitions.clone(),
            config,
            internal: old.internal,
        });
        next.insert(name.to_string(), topic.clone());
        self.write_file(&next)?;
        *self.topics.write().unwrap_or_else(|p| p.into_inner()) = next;
        crate::explain::always(
            self.defaults.explain,
            "topics/registry.rs Topics::alter_config",
            format_args!(
                "topic {name:?}: config is now {:?}; topics.json rewritten, {} handed the new LogConfig",
                topic.config,
                crate::explain::count(topic.partitions.len(), "partition")
            ),
        );
        for p in &topic.partitions {
            p.set_config(cfg.clone());
            // A shorter retention.ms or retention.bytes takes effect now, not at the
            // next periodic check.
            if let Err(e) = p.apply_retention() {
                tracing::error!("{}: retention after a config change: {e}", p.name());
            }
        }
        Ok(topic)
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

    /// Forgets, in every partition, the idempotent producers idle for `after`
    /// (`producer.id.expiration.ms`; called periodically by the server). Returns how
    /// many entries went.
    pub fn expire_producers(&self, after: std::time::Duration) -> usize {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        let mut n = 0;
        for topic in self.list() {
            for p in &topic.partitions {
                n += p.expire_producers(now, after);
            }
        }
        n
    }

    /// Applies retention to every partition (called periodically by the server).
    /// Every partition is tried; the first error is returned.
    pub fn apply_retention(&self) -> Result<(), TopicError> {
        self.for_each_partition(|p| p.apply_retention().map(|_| ()))
    }

    /// One pass of the log cleaner over every partition of a compacted topic (called
    /// every `log.cleaner.backoff.ms` by the server, and by `BrokerHandle::clean_now`).
    /// Returns what it did per partition (`<topic>-<partition>`), for the partitions it
    /// cleaned. One pass at a time; every partition is tried; the first error is
    /// returned.
    pub fn clean(&self) -> Result<BTreeMap<String, CleanReport>, TopicError> {
        let _one_pass = self.cleaner.lock().unwrap_or_else(|e| e.into_inner());
        let mut reports = BTreeMap::new();
        self.for_each_partition(|p| {
            if let Some(report) = p.clean()? {
                reports.insert(p.name(), report);
            }
            Ok(())
        })?;
        Ok(reports)
    }

    /// Syncs every partition (for `--fsync <ms>`: the server calls this on a timer
    /// every interval, from `spawn_blocking`).
    pub fn sync_all(&self) -> Result<(), TopicError> {
        self.for_each_partition(|p| p.sync())
    }

    /// Clean shutdown: sync, trim indexes, write each clean-shutdown marker. A cleaning
    /// pass in flight finishes first (it holds the cleaner lock), so no swap happens
    /// after a partition is closed.
    pub fn close(&self) -> Result<(), TopicError> {
        let _no_pass = self.cleaner.lock().unwrap_or_else(|e| e.into_inner());
        self.for_each_partition(|p| p.close())
    }
}

/// Warns about partition-like directories that `topics.json` does not list.
fn warn_about_strays(data_dir: &Path, topics: &BTreeMap<String, Arc<Topic>>) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        // The listing's file type: no `stat` per partition directory on start-up.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
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
    use std::time::Duration;

    use super::*;
    use crate::topics::config::tests::cfg;

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
        // Creations are on the broker's event ring, in the log line's words.
        let created: Vec<_> = topics.events().since(0);
        assert_eq!(created.len(), 2);
        assert_eq!(created[0].kind, EventKind::TopicCreated);
        assert_eq!(
            created[0].text,
            r#"created topic "orders" with 3 partitions"#
        );
        let p = topics.partition("orders", 2).unwrap();
        let rx = p.subscribe();
        let b = crate::log::record::build(
            &[crate::log::record::NewRecord::default()],
            0,
            crate::log::record_batch::Compression::None,
        );
        p.append(&b).unwrap();
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
        assert_eq!(t.partitions[2].log_end_offset(), 1);
        assert_eq!(*t.partitions[2].subscribe().borrow(), 1);
        assert_eq!(
            t.partitions[2].config().retention_ms,
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
        assert_eq!(t.partitions[0].log_end_offset(), 0);
        assert_eq!(t.partitions[0].size(), 0);
    }
}
