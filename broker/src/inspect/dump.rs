//! `inspect dump <file.log|file.index|file.timeindex|file.txnindex|file.snapshot>`:
//! every batch and record of a segment, exactly as stored; the other files go to their
//! own dumps (an offset index: `offset_index.rs`; a time index: `time_index.rs`; an
//! aborted-transaction index: `txn_index.rs`; a producer snapshot:
//! `producer_snapshot.rs`). With `--hex`, each batch header
//! as a byte table ([`super::hex`]), and a marker's record too; a control batch is named
//! as the COMMIT or ABORT marker it is ([`super::transactions`]); in a
//! `__consumer_offsets-*` directory, each record decoded as the offset commit (or
//! tombstone) it is, and in `__transaction_state-*`, as the transactional id's state.
//!
//! Flow: reads what the segment (`log/segment.rs`) and index (`log/index.rs`) wrote;
//! uses `record_batch` to check CRCs and decode records (decompressing when needed),
//! and `group/offset_store.rs`'s `decode_key` / `decode_value` for commit records.
//! A batch with a bad CRC is shown and marked `CRC bad`; bytes that cannot be a batch
//! end the dump with a line saying where and why.
//!
//! What must stay true:
//! - Read-only, and framed by `BatchReader`, which follows the framing rule recovery's
//!   scan follows (`record_batch::frame_len`): a torn tail shown here is a place
//!   recovery would cut (it also cuts at a bad CRC).
//! - A bad CRC or unreadable records is reported and the dump goes on; only bytes that
//!   cannot be framed as a batch end it.
//! - The text and the `--json` output are two renderings of one [`DumpReport`].

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::format::{self, Shown};
use super::hex::{self, HexField};
use super::offset_index::{dump_index, IndexDump};
use super::transactions::{self, MarkerDump, TxnStateDump};
use super::InspectError;
use crate::group::offset_record::{decode_key, decode_value};
use crate::group::offset_store::OFFSETS_TOPIC;
use crate::log::record::{self, Record};
use crate::log::record_batch::{self, BatchHeader};
use crate::log::segment::{parse_file_name, BatchReader, ReadStep};
use crate::txn::state_log::TXN_TOPIC;

/// What `inspect dump` found in one file.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DumpReport {
    Log(LogDump),
    Index(IndexDump),
    TimeIndex(super::time_index::TimeIndexDump),
    TxnIndex(super::txn_index::TxnIndexDump),
    ProducerSnapshot(super::producer_snapshot::ProducerSnapshotDump),
}

#[derive(Debug, Serialize)]
pub struct LogDump {
    pub file: String,
    /// Set when a broker holds the lock of the data dir the file is in.
    pub broker_running: Option<super::RunningBroker>,
    pub base_offset: Option<i64>,
    pub bytes: u64,
    pub batches: Vec<BatchDump>,
    /// Where framing stopped before the end of the file, and why.
    pub torn_tail: Option<TornTail>,
}

#[derive(Debug, Serialize)]
pub struct TornTail {
    pub position: u64,
    pub reason: String,
    pub bytes_left: u64,
}

#[derive(Debug, Serialize)]
pub struct BatchDump {
    pub position: u64,
    pub size: usize,
    /// `None` when the bytes are too short for a header (`error` says why).
    pub base_offset: Option<i64>,
    pub last_offset: Option<i64>,
    pub magic: Option<i8>,
    pub crc: Option<u32>,
    pub crc_ok: bool,
    pub crc_computed: u32,
    pub compression: Option<&'static str>,
    pub transactional: bool,
    pub control: bool,
    pub log_append_time: bool,
    /// Set by the log cleaner on a batch that keeps tombstones (attribute bit 6): the
    /// time after which they may be removed. It is the baseTimestamp then.
    pub delete_horizon: Option<i64>,
    pub base_timestamp: Option<i64>,
    pub max_timestamp: Option<i64>,
    pub producer_id: Option<i64>,
    pub producer_epoch: Option<i16>,
    pub base_sequence: Option<i32>,
    pub partition_leader_epoch: Option<i32>,
    pub record_count: Option<i32>,
    pub error: Option<String>,
    /// With `--hex`: the header bytes, field by field.
    pub header_bytes: Option<Vec<HexField>>,
    /// A control batch's COMMIT or ABORT marker.
    pub marker: Option<MarkerDump>,
    /// With `--hex`, for a marker: its record's bytes, field by field.
    pub marker_bytes: Option<Vec<HexField>>,
    pub records: Vec<RecordDump>,
}

#[derive(Debug, Serialize)]
pub struct RecordDump {
    pub offset: i64,
    pub timestamp: i64,
    /// `None` for null.
    pub key: Option<Shown>,
    pub value: Option<Shown>,
    pub headers: Vec<HeaderDump>,
    /// In `__consumer_offsets`: the commit this record is.
    pub commit: Option<CommitDump>,
    /// In `__transaction_state`: the transactional id's state this record is.
    pub txn_state: Option<TxnStateDump>,
}

/// How the records of a `.log` are decoded, by the topic its directory is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Plain,
    /// `__consumer_offsets`.
    Commits,
    /// `__transaction_state`.
    TxnStates,
}

#[derive(Debug, Serialize)]
pub struct HeaderDump {
    pub key: String,
    pub value: Option<Shown>,
}

/// One record of `__consumer_offsets`, decoded by the offset store's codec.
#[derive(Debug, Serialize)]
pub struct CommitDump {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// `true` for a null value: the committed offset is deleted.
    pub tombstone: bool,
    pub offset: Option<i64>,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
    pub commit_timestamp: Option<i64>,
    /// Why the key or value could not be decoded.
    pub error: Option<String>,
}

/// `inspect dump <file.log|file.index|file.timeindex|file.txnindex|file.snapshot>`; `hex`
/// adds the byte tables.
pub fn dump(path: &Path, hex: bool) -> Result<DumpReport, InspectError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| InspectError::new(path, "not a file name"))?;
    let meta = std::fs::metadata(path).map_err(|e| InspectError::new(path, e))?;
    if !meta.is_file() {
        return Err(InspectError::new(path, "not a regular file"));
    }
    // `<data>/<topic>-<partition>/<file>`: is a broker writing it right now?
    let running = match path.parent().and_then(Path::parent) {
        Some(data_dir) if data_dir.join(crate::topics::lock::LOCK_FILE).is_file() => {
            super::running_broker(data_dir)?
        }
        _ => None,
    };
    if name.ends_with(".log") {
        let dir = path
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|d| d.to_str())
            .unwrap_or_default();
        let decode = if dir.starts_with(&format!("{OFFSETS_TOPIC}-")) {
            Decode::Commits
        } else if dir.starts_with(&format!("{TXN_TOPIC}-")) {
            Decode::TxnStates
        } else {
            Decode::Plain
        };
        dump_log(path, name, hex, decode)
            .map(|l| {
                DumpReport::Log(LogDump {
                    broker_running: running,
                    ..l
                })
            })
            .map_err(|e| InspectError::new(path, e))
    } else if name.ends_with(".index") {
        dump_index(path, name).map(|i| {
            DumpReport::Index(IndexDump {
                broker_running: running,
                ..i
            })
        })
    } else if name.ends_with(".timeindex") {
        super::time_index::dump_time_index(path, name, running).map(DumpReport::TimeIndex)
    } else if name.ends_with(".txnindex") {
        super::txn_index::dump_txn_index(path, name, hex, running).map(DumpReport::TxnIndex)
    } else if name.ends_with(".snapshot") {
        super::producer_snapshot::dump_producer_snapshot(path, name, running)
            .map(DumpReport::ProducerSnapshot)
    } else {
        Err(InspectError::new(
            path,
            "not a segment file: expected <base offset>.log, .index, .timeindex, .txnindex or .snapshot",
        ))
    }
}

fn dump_log(path: &Path, name: &str, hex: bool, decode: Decode) -> std::io::Result<LogDump> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut report = LogDump {
        broker_running: None,
        file: name.to_string(),
        base_offset: parse_file_name(name, "log"),
        bytes: size,
        batches: Vec::new(),
        torn_tail: None,
    };
    let mut reader = BatchReader::new(&file, 0, size);
    while let Some(step) = reader.next_step()? {
        match step {
            ReadStep::Batch { position, bytes } => {
                report.batches.push(batch(position, &bytes, hex, decode));
            }
            ReadStep::Torn { position, reason } => {
                report.torn_tail = Some(TornTail {
                    position,
                    reason,
                    bytes_left: size - position,
                });
                break;
            }
        }
    }
    Ok(report)
}

fn batch(position: u64, bytes: &[u8], hex: bool, decode: Decode) -> BatchDump {
    let h = BatchHeader::parse(bytes);
    let computed = record_batch::compute_crc(bytes);
    let hh = h.as_ref().ok();
    let mut dump = BatchDump {
        position,
        size: bytes.len(),
        base_offset: hh.map(|h| h.base_offset),
        last_offset: hh.map(BatchHeader::last_offset),
        magic: hh.map(|h| h.magic),
        crc: hh.map(|h| h.crc),
        crc_ok: hh.is_some_and(|h| h.crc == computed),
        crc_computed: computed,
        compression: hh.map(BatchHeader::compression_name),
        transactional: hh.is_some_and(BatchHeader::is_transactional),
        control: hh.is_some_and(BatchHeader::is_control),
        log_append_time: hh.is_some_and(BatchHeader::is_log_append_time),
        delete_horizon: hh.and_then(BatchHeader::delete_horizon),
        base_timestamp: hh.map(|h| h.base_timestamp),
        max_timestamp: hh.map(|h| h.max_timestamp),
        producer_id: hh.map(|h| h.producer_id),
        producer_epoch: hh.map(|h| h.producer_epoch),
        base_sequence: hh.map(|h| h.base_sequence),
        partition_leader_epoch: hh.map(|h| h.partition_leader_epoch),
        record_count: hh.map(|h| h.record_count),
        error: h.as_ref().err().map(ToString::to_string),
        header_bytes: hex.then(|| hex::annotate_header(bytes)),
        marker: None,
        marker_bytes: None,
        records: Vec::new(),
    };
    if dump.error.is_some() {
        return dump;
    }
    if dump.control {
        dump.marker = transactions::marker(bytes);
        dump.marker_bytes =
            (hex && dump.marker.is_some()).then(|| hex::annotate_control_record(bytes));
    }
    // A marker is not a commit nor a state, even in those topics.
    let decode = if dump.control { Decode::Plain } else { decode };
    match record::records(bytes) {
        Ok(recs) => {
            dump.records = recs
                .into_iter()
                .map(|r| record_dump(r, decode, dump.control))
                .collect();
        }
        Err(e) => dump.error = Some(format!("records unreadable: {e}")),
    }
    dump
}

/// One record; a control record's key and value (numbers: version, type, coordinator
/// epoch) are shown as hex, never as the text their bytes may happen to spell.
fn record_dump(r: Record, decode: Decode, control: bool) -> RecordDump {
    let show = |b: Option<&[u8]>| {
        if control {
            b.map(Shown::hex)
        } else {
            Shown::new(b)
        }
    };
    RecordDump {
        offset: r.offset,
        timestamp: r.timestamp,
        key: show(r.key.as_deref()),
        value: show(r.value.as_deref()),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| HeaderDump {
                key: k.clone(),
                value: Shown::new(v.as_deref()),
            })
            .collect(),
        commit: (decode == Decode::Commits).then(|| commit(&r)),
        txn_state: (decode == Decode::TxnStates).then(|| transactions::txn_state(&r)),
    }
}

/// Decodes a `__consumer_offsets` record with the offset store's own codec.
pub(super) fn commit(r: &Record) -> CommitDump {
    let mut c = CommitDump {
        group: String::new(),
        topic: String::new(),
        partition: -1,
        tombstone: r.value.is_none(),
        offset: None,
        leader_epoch: None,
        metadata: None,
        commit_timestamp: None,
        error: None,
    };
    match r.key.clone().map(decode_key) {
        Some(Ok(k)) => (c.group, c.topic, c.partition) = (k.group, k.topic, k.partition),
        Some(Err(e)) => c.error = Some(format!("key: {e}")),
        None => c.error = Some("null key: not an offset commit".into()),
    }
    if let Some(v) = r.value.clone() {
        match decode_value(v) {
            Ok(v) => {
                c.offset = Some(v.offset);
                c.leader_epoch = Some(v.leader_epoch);
                c.metadata = Some(v.metadata);
                c.commit_timestamp = Some(v.commit_timestamp);
            }
            Err(e) => c.error = Some(format!("value: {e}")),
        }
    }
    c
}

impl DumpReport {
    /// The text rendering.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            DumpReport::Log(l) => l.write_text(out),
            DumpReport::Index(i) => i.write_text(out),
            DumpReport::TimeIndex(t) => t.write_text(out),
            DumpReport::TxnIndex(t) => t.write_text(out),
            DumpReport::ProducerSnapshot(s) => s.write_text(out),
        }
    }
}

impl LogDump {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "segment {}: base offset {}, {} bytes",
            self.file,
            self.base_offset
                .map_or("unknown (name is not <20 digits>.log)".into(), |b| b
                    .to_string()),
            self.bytes
        )?;
        if let Some(running) = &self.broker_running {
            writeln!(out, "{running}")?;
        }
        let (mut records, mut bad_crc) = (0, 0);
        for b in &self.batches {
            b.write_text(out)?;
            records += b.records.len();
            bad_crc += usize::from(!b.crc_ok);
        }
        if let Some(t) = &self.torn_tail {
            writeln!(
                out,
                "torn tail at position {}: {} ({} bytes not shown; recovery would cut here)",
                t.position, t.reason, t.bytes_left
            )?;
        }
        writeln!(
            out,
            "total: {}, {}, {bad_crc} with a bad CRC",
            crate::explain::count(self.batches.len(), "batch"),
            crate::explain::count(records, "record")
        )
    }
}

impl BatchDump {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let (Some(base), Some(crc)) = (self.base_offset, self.crc) else {
            let error = self.error.as_deref().unwrap_or_default();
            return writeln!(out, "batch at position {}: {error}", self.position);
        };
        let crc = if self.crc_ok {
            format!("CRC ok ({crc:#010x})")
        } else {
            format!(
                "CRC bad (stored {crc:#010x}, computed {:#010x})",
                self.crc_computed
            )
        };
        let mut flags = String::new();
        for (set, name) in [
            (self.transactional, ", transactional"),
            (self.control, ", control"),
            (self.log_append_time, ", LogAppendTime"),
        ] {
            if set {
                flags.push_str(name);
            }
        }
        if let Some(horizon) = self.delete_horizon {
            flags.push_str(&format!(
                ", delete horizon {} (tombstones kept until then)",
                super::format::timestamp(horizon)
            ));
        }
        if let (Some(last), Some(count)) = (self.last_offset, self.record_count) {
            let gaps = last - base + 1 - i64::from(count);
            if gaps > 0 {
                flags.push_str(&format!(", compacted: {} of its offsets removed", gaps));
            }
        }
        let opt = |v: Option<i64>| v.unwrap_or_default();
        writeln!(
            out,
            "batch {} position {} size {} magic {} {crc} compression {} records {}{flags}",
            crate::explain::offsets(base, opt(self.last_offset)),
            self.position,
            self.size,
            self.magic.unwrap_or_default(),
            self.compression.unwrap_or("unknown"),
            self.record_count.unwrap_or_default()
        )?;
        writeln!(
            out,
            "  base timestamp {} max timestamp {} producer id {} epoch {} base sequence {} leader epoch {}",
            format::timestamp(opt(self.base_timestamp)),
            format::timestamp(opt(self.max_timestamp)),
            opt(self.producer_id),
            self.producer_epoch.unwrap_or_default(),
            self.base_sequence.unwrap_or_default(),
            self.partition_leader_epoch.unwrap_or_default()
        )?;
        if let Some(fields) = &self.header_bytes {
            hex::write_table(fields, self.size, out)?;
        }
        if let Some(m) = &self.marker {
            m.write_text(
                opt(self.producer_id),
                self.producer_epoch.unwrap_or_default(),
                out,
            )?;
        }
        if let Some(fields) = self.marker_bytes.as_deref().filter(|f| !f.is_empty()) {
            writeln!(out, "  the marker's record, byte by byte:")?;
            hex::write_fields(fields, out)?;
        }
        if let Some(e) = &self.error {
            writeln!(out, "  {e}")?;
        }
        for r in &self.records {
            r.write_text(out)?;
        }
        Ok(())
    }
}

impl RecordDump {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write!(
            out,
            "  offset {} timestamp {} ",
            self.offset,
            format::timestamp(self.timestamp)
        )?;
        match (&self.commit, &self.txn_state) {
            (Some(c), _) => c.write_text(out)?,
            (None, Some(t)) => t.write_text(out)?,
            (None, None) => write!(
                out,
                "key {} value {}",
                format::shown(self.key.as_ref()),
                format::shown(self.value.as_ref())
            )?,
        }
        if !self.headers.is_empty() {
            let hs: Vec<String> = self
                .headers
                .iter()
                .map(|h| format!("{:?}={}", h.key, format::shown(h.value.as_ref())))
                .collect();
            write!(out, " headers {}", hs.join(" "))?;
        }
        writeln!(out)
    }
}

impl CommitDump {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(e) = &self.error {
            return write!(out, "not an offset commit ({e})");
        }
        let at = format!(
            "group {:?} topic {:?} partition {}",
            self.group, self.topic, self.partition
        );
        if self.tombstone {
            return write!(out, "tombstone {at} (the committed offset is deleted)");
        }
        write!(
            out,
            "commit {at} offset {} leader epoch {} metadata {:?} commit timestamp {}",
            self.offset.unwrap_or_default(),
            self.leader_epoch.unwrap_or_default(),
            self.metadata.as_deref().unwrap_or_default(),
            format::timestamp(self.commit_timestamp.unwrap_or_default())
        )
    }
}
