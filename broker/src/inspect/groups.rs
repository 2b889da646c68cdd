//! `inspect groups <data-dir>`: the consumer groups, their committed offsets and the
//! lag, read from the files; and the report and table that `inspect groups
//! --bootstrap-server` ([`super::remote`]) fills from a running broker instead.
//!
//! Flow: `__consumer_offsets-0/` segments → `BatchReader` (the reader recovery scans
//! with) → `group/offset_store.rs: apply_batch` (the broker's own replay step) → the
//! map of committed offsets; each partition's log end offset comes from the same scan
//! as `inspect topics` (`topics.rs: partition`).
//!
//! What must stay true:
//! - Read-only, and the replay is the broker's: a commit shown here is one the broker
//!   would serve after opening this data dir. Replay stops where recovery would cut
//!   (a torn tail, or a batch that fails `check_frame`).
//! - Members live only in the broker's memory: from files, no member is shown.
//! - The text and the `--json` output are two renderings of one [`GroupsReport`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::topics::{partition, read_topics_file};
use super::{running_broker, InspectError};
use crate::group::offset_record::{CommittedOffset, OffsetKey};
use crate::group::offset_store::{apply_batch, OFFSETS_TOPIC};
use crate::log::record_batch::check_frame;
use crate::log::recovery::list_segments;
use crate::log::segment::{file_name, BatchReader, ReadStep};

/// What `inspect groups` found.
#[derive(Debug, Serialize)]
pub struct GroupsReport {
    /// `files <data dir>` or `broker <host:port>`.
    pub source: String,
    /// Set when a broker holds the data dir's lock (from files only).
    pub broker_running: Option<super::RunningBroker>,
    /// Set when the replay stopped before the end of `__consumer_offsets`.
    pub replay_stopped: Option<String>,
    pub groups: Vec<GroupReport>,
}

#[derive(Debug, Serialize)]
pub struct GroupReport {
    pub group: String,
    /// The group's state (`Stable`, `Empty`, …); `None` from files.
    pub state: Option<String>,
    pub members: Vec<MemberReport>,
    /// One row per partition that is assigned or has a committed offset.
    pub partitions: Vec<PartitionRow>,
}

#[derive(Debug, Serialize)]
pub struct MemberReport {
    pub consumer_id: String,
    pub host: String,
    pub client_id: String,
    /// The assignment, decoded from the consumer protocol's bytes.
    pub assignment: Vec<crate::group::assignment::Assigned>,
}

/// One row of the `kafka-consumer-groups --describe` table.
#[derive(Debug, Serialize)]
pub struct PartitionRow {
    pub topic: String,
    pub partition: i32,
    pub current_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
    pub metadata: Option<String>,
    pub commit_timestamp: Option<i64>,
}

impl PartitionRow {
    pub(super) fn new(topic: String, partition: i32) -> PartitionRow {
        PartitionRow {
            topic,
            partition,
            current_offset: None,
            log_end_offset: None,
            lag: None,
            consumer_id: None,
            host: None,
            client_id: None,
            metadata: None,
            commit_timestamp: None,
        }
    }

    pub(super) fn set_lag(&mut self) {
        self.lag = self
            .current_offset
            .zip(self.log_end_offset)
            .map(|(c, e)| e - c);
    }
}

/// `inspect groups <data-dir>`.
pub fn groups(data_dir: &Path) -> Result<GroupsReport, InspectError> {
    let file = read_topics_file(data_dir)?;
    let mut report = GroupsReport {
        source: format!("files {}", data_dir.display()),
        broker_running: running_broker(data_dir)?,
        replay_stopped: None,
        groups: Vec::new(),
    };
    if !file.topics.contains_key(OFFSETS_TOPIC) {
        return Ok(report);
    }
    let (offsets, stopped) = replay(&data_dir.join(format!("{OFFSETS_TOPIC}-0")))?;
    report.replay_stopped = stopped;
    let mut log_ends: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    for (key, value) in offsets {
        let OffsetKey {
            group,
            topic,
            partition: p,
        } = key;
        let log_end = match log_ends.get(&(topic.clone(), p)) {
            Some(end) => *end,
            None => {
                let known = file.topics.get(&topic).is_some_and(|t| p < t.partitions);
                let end = if known {
                    let scanned = partition(&data_dir.join(format!("{topic}-{p}")), p)?;
                    scanned.present.then_some(scanned.log_end_offset)
                } else {
                    None
                };
                log_ends.insert((topic.clone(), p), end);
                end
            }
        };
        if report.groups.last().is_none_or(|g| g.group != group) {
            report.groups.push(GroupReport {
                group,
                state: None,
                members: Vec::new(),
                partitions: Vec::new(),
            });
        }
        let mut row = PartitionRow::new(topic, p);
        row.current_offset = Some(value.offset);
        row.log_end_offset = log_end;
        row.metadata = Some(value.metadata);
        row.commit_timestamp = Some(value.commit_timestamp);
        row.set_lag();
        if let Some(g) = report.groups.last_mut() {
            g.partitions.push(row);
        }
    }
    Ok(report)
}

type Offsets = BTreeMap<OffsetKey, CommittedOffset>;

/// Replays the `__consumer_offsets-0` segments, read-only, with the broker's replay
/// step; says where it stopped early, if it did.
fn replay(dir: &Path) -> Result<(Offsets, Option<String>), InspectError> {
    let mut map = Offsets::new();
    let mut pending = crate::group::offset_store::Pending::new();
    if !dir.is_dir() {
        return Ok((map, Some(format!("{} is missing", dir.display()))));
    }
    for base in list_segments(dir).map_err(|e| InspectError::new(dir, e))? {
        let path = dir.join(file_name(base, "log"));
        let file = std::fs::File::open(&path).map_err(|e| InspectError::new(&path, e))?;
        let size = file
            .metadata()
            .map_err(|e| InspectError::new(&path, e))?
            .len();
        let mut reader = BatchReader::new(&file, 0, size);
        while let Some(step) = reader
            .next_step()
            .map_err(|e| InspectError::new(&path, e))?
        {
            let stop = match step {
                ReadStep::Batch { position, bytes } => match check_frame(&bytes) {
                    Ok(_) => {
                        apply_batch(&mut map, &mut pending, &bytes);
                        continue;
                    }
                    Err(e) => format!("{} at byte {position}: {e}", path.display()),
                },
                ReadStep::Torn { position, reason } => {
                    format!("{} at byte {position}: {reason}", path.display())
                }
            };
            // Recovery cuts here and drops the later segments: so does the replay.
            return Ok((map, Some(stop)));
        }
    }
    Ok((map, None))
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl GroupsReport {
    /// The text rendering: a `kafka-consumer-groups --describe` table per group.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "consumer groups ({})", self.source)?;
        if let Some(running) = &self.broker_running {
            writeln!(out, "{running}")?;
        }
        if let Some(stopped) = &self.replay_stopped {
            writeln!(out, "replay of {OFFSETS_TOPIC} stopped early: {stopped}")?;
        }
        if self.groups.is_empty() {
            writeln!(out, "no consumer groups")?;
        }
        for g in &self.groups {
            writeln!(out)?;
            match &g.state {
                None => writeln!(
                    out,
                    "Consumer group '{}': offsets committed in {OFFSETS_TOPIC} (members live in the broker's memory; ask it with --bootstrap-server)",
                    g.group
                )?,
                Some(state) if g.members.is_empty() => writeln!(
                    out,
                    "Consumer group '{}' has no active members (state {state}).",
                    g.group
                )?,
                Some(state) => writeln!(
                    out,
                    "Consumer group '{}': state {state}, {} members",
                    g.group,
                    g.members.len()
                )?,
            }
            g.write_table(out)?;
        }
        Ok(())
    }
}

impl GroupReport {
    fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let header = [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(ToString::to_string).collect()];
        for r in &self.partitions {
            rows.push(vec![
                self.group.clone(),
                r.topic.clone(),
                r.partition.to_string(),
                or_dash(r.current_offset),
                or_dash(r.log_end_offset),
                or_dash(r.lag),
                or_dash(r.consumer_id.as_ref()),
                or_dash(r.host.as_ref()),
                or_dash(r.client_id.as_ref()),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            writeln!(out, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}
